"""Load and soak against a real ``shopsearch serve`` subprocess on 127.0.0.1 (used by
tests/hardening/test_soak.py for 60 s and by benchmarks/soak.py for 10 minutes).

Open-loop load: requests are scheduled at a steady rate (text searches, image searches by
upload, and key-protected updates) and sent by a small thread pool, so a slow server shows as
latency rather than as a lower rate. The server's RSS is sampled from /proc every few seconds.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.crashkit import API_KEY, start_server
from devkit.servers import free_port

TEXT_QUERIES = ["red dress", "black leather shoes for men", "男士蓝色牛仔裤", "女士手提包", "white sneakers",
                "cotton tshirt under 500", "blue denim shirt", "红色连衣裙", "running shoes", "handbag", "watch",
                "summer tshirt for women", "formal shoes", "green bag", "黑色皮鞋"]


@dataclass
class SoakConfig:
    duration_s: float = 60.0
    rate: float = 10.0  # requests per second, all kinds together
    mix: tuple[float, float, float] = (0.7, 0.15, 0.15)  # text search, image search, update
    threads: int = 6
    window_s: float = 10.0
    rss_every_s: float = 2.0
    seed: int = 0


@dataclass
class SoakResult:
    config: dict[str, Any]
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)
    windows: list[dict[str, float]] = field(default_factory=list)  # t, n, p50_ms, p99_ms per window
    rss: list[tuple[float, int]] = field(default_factory=list)  # (t seconds, bytes)
    load: list[tuple[float, float]] = field(default_factory=list)  # (t seconds, 1-min load average)
    late_starts: int = 0  # requests started > 1 s after their slot (the client could not keep up)
    updates_checked: int = 0  # products whose last acknowledged write was checked after the run
    updates_lost: list[str] = field(default_factory=list)  # ... and found missing after a reload

    def rss_growth_after(self, warmup_s: float, window_s: float = 60.0) -> tuple[int, int, int]:
        """(median RSS in the first ``window_s`` after the warm-up, median RSS in the last
        ``window_s``, their difference) in bytes. Medians, because single samples swing with
        the transient buffers of the request being served."""
        import statistics

        after = [(t, b) for t, b in self.rss if t >= warmup_s]
        if len(after) < 2:
            return 0, 0, 0
        end = after[-1][0]
        first = statistics.median(b for t, b in after if t < warmup_s + window_s)
        last = statistics.median(b for t, b in after if t > end - window_s)
        return int(first), int(last), int(last - first)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "requests": self.requests, "errors": self.errors,
                "error_samples": self.error_samples[:20], "by_kind": self.by_kind, "windows": self.windows,
                "rss": self.rss, "load": self.load, "late_starts": self.late_starts,
                "updates_checked": self.updates_checked, "updates_lost": self.updates_lost}


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for k, (name, data, ctype) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                     f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _send(method: str, url: str, body: bytes | None, ctype: str | None, key: bool = False) -> tuple[int, str]:
    headers = {"Content-Type": ctype} if ctype else {}
    if key:
        headers["X-API-Key"] = API_KEY
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")[:300]


def run_soak(index_dir: Path, images: list[Path], product_ids: list[str], cfg: SoakConfig,
             log: Path | None = None) -> SoakResult:
    """Serve ``index_dir`` and drive it for ``cfg.duration_s``. ``images``: query photos;
    ``product_ids``: existing products that updates may change (never deleted)."""
    rng = random.Random(cfg.seed)
    port = free_port()
    proc = start_server(index_dir, port, log=log)
    base = f"http://127.0.0.1:{port}"
    photos = [(p.name, p.read_bytes()) for p in images]
    result = SoakResult(config=dict(cfg.__dict__, mix=list(cfg.mix)))
    samples: list[tuple[float, float]] = []  # (start offset, latency seconds)
    lock = threading.Lock()
    stop = threading.Event()
    new_ids: list[str] = []

    # acknowledged writes: (start, end, product id, expected fields or None for deleted)
    writes: list[tuple[float, float, str, dict[str, Any] | None]] = []

    def request(kind: str, n: int) -> tuple[int, str, str | None, dict[str, Any] | None]:
        if kind == "text":
            body = json.dumps({"text": rng.choice(TEXT_QUERIES), "k": 10}).encode()
            return (*_send("POST", f"{base}/v1/search", body, "application/json"), None, None)
        if kind == "image":
            name, data = rng.choice(photos)
            body, ctype = _multipart({"k": "10"}, {"image": (name, data, "image/png")})
            return (*_send("POST", f"{base}/v1/search", body, ctype), None, None)
        r = rng.random()
        if r < 0.5:  # metadata change of an existing product
            pid = rng.choice(product_ids)
            change = {"price": round(rng.uniform(1, 900), 2), "stock": rng.randint(0, 50)}
            status, text = _send("PATCH", f"{base}/v1/products/{pid}", json.dumps(change).encode(),
                                 "application/json", key=True)
            return status, text, pid, change
        if r < 0.8 or not new_ids:  # a new product (re-embedded text), later deleted
            pid = f"soak-{n}"
            with lock:
                new_ids.append(pid)
            row = {"id": pid, "title": f"{rng.choice(TEXT_QUERIES)} soak item {n}", "price": 10.0}
            status, text = _send("POST", f"{base}/v1/products:batch", json.dumps({"upsert": [row]}).encode(),
                                 "application/json", key=True)
            return status, text, pid, {"title": row["title"], "price": 10.0}
        with lock:
            pid = new_ids.pop(0)
        return (*_send("DELETE", f"{base}/v1/products/{pid}", None, None, key=True), pid, None)

    def one(kind: str, n: int, slot: float, t0: float) -> None:
        start = time.monotonic()
        if start - slot > 1.0:
            with lock:
                result.late_starts += 1
        try:
            status, text, pid, expect = request(kind, n)
        except OSError as exc:
            status, text, pid, expect = 0, repr(exc), None, None
        latency = time.monotonic() - start
        with lock:
            if pid is not None and status == 200:
                writes.append((start, time.monotonic(), pid, expect))
            result.requests += 1
            result.by_kind[kind] = result.by_kind.get(kind, 0) + 1
            samples.append((start - t0, latency))
            if status != 200:
                result.errors += 1
                result.error_samples.append(f"{kind} -> {status}: {text}")

    def sample_rss(t0: float) -> None:
        while not stop.is_set():
            now = round(time.monotonic() - t0, 1)
            result.rss.append((now, rss_bytes(proc.pid)))
            result.load.append((now, os.getloadavg()[0]))  # other work on the machine shows here
            stop.wait(cfg.rss_every_s)

    try:
        t0 = time.monotonic()
        sampler = threading.Thread(target=sample_rss, args=(t0,), daemon=True)
        sampler.start()
        kinds = ["text", "image", "update"]
        with ThreadPoolExecutor(cfg.threads) as pool:
            n = 0
            while True:
                slot = t0 + n / cfg.rate
                if slot - t0 >= cfg.duration_s:
                    break
                delay = slot - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                kind = rng.choices(kinds, weights=cfg.mix)[0]
                pool.submit(one, kind, n, slot, t0)
                n += 1
        stop.set()
        sampler.join()
        result.rss.append((round(time.monotonic() - t0, 1), rss_bytes(proc.pid)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result.windows = windows(samples, cfg.window_s)
    result.updates_checked, result.updates_lost = check_writes(index_dir, writes)
    return result


def check_writes(index_dir: Path, writes: list[tuple[float, float, str, dict[str, Any] | None]]
                 ) -> tuple[int, list[str]]:
    """Reload the index and check, per product, its last acknowledged write (skipped when
    another acknowledged write to it overlapped in time: then their order is not known).
    Returns (products checked, product ids whose acknowledged state is missing)."""
    import shopsearch

    engine = shopsearch.load(index_dir)
    by_id: dict[str, list[tuple[float, float, dict[str, Any] | None]]] = {}
    for start, end, pid, expect in writes:
        by_id.setdefault(pid, []).append((start, end, expect))
    checked, lost = 0, []
    for pid, ws in by_id.items():
        ws.sort(key=lambda w: w[0])
        last = ws[-1]
        if any(w[1] > last[0] for w in ws[:-1]):  # overlaps the last one
            continue
        checked += 1
        product = engine.product(pid)
        if last[2] is None:
            ok = product is None
        else:
            ok = product is not None and all(getattr(product, k) == v for k, v in last[2].items())
        if not ok:
            lost.append(pid)
    return checked, lost


def windows(samples: list[tuple[float, float]], width: float) -> list[dict[str, float]]:
    import numpy as np

    out = []
    if not samples:
        return out
    end = max(t for t, _ in samples)
    w = 0.0
    while w <= end:
        lat = np.array([x for t, x in samples if w <= t < w + width]) * 1000
        if lat.size:
            out.append({"t": w, "n": int(lat.size), "p50_ms": float(np.percentile(lat, 50)),
                        "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max())})
        w += width
    return out


def plot(result: SoakResult, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    ts = [w["t"] + result.config["window_s"] / 2 for w in result.windows]
    a.plot(ts, [w["p99_ms"] for w in result.windows], "o-", label="p99")
    a.plot(ts, [w["p50_ms"] for w in result.windows], "s-", label="p50")
    a.set_ylabel("latency (ms)")
    a.legend()
    a.set_title(title)
    b.plot([t for t, _ in result.rss], [r / 2 ** 20 for _, r in result.rss])
    b.set_ylabel("server RSS (MiB)")
    b.set_xlabel("time (s)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
