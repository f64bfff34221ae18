"""HTTP latency and throughput of the service on 127.0.0.1: text, image and voice queries.

Starts ``shopsearch.service.run`` in a subprocess (1 worker, then 2), drives it with a closed
loop of N concurrent clients (asyncio + httpx, in this process) for a fixed time per cell, and
writes ``benchmarks/results/http_latency.json`` and ``.md``. The baseline in the same run is
``GET /health`` (framework + client overhead, no search).

    python benchmarks/http_latency.py --index fx-index [--duration 10] [--clients 1 4 16]

Targets (issue 5, 2-core machine): text p50 <= 30 ms and p99 <= 100 ms at 4 clients; image
p50 <= 80 ms; zero errors.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _harness import RESULTS, Run, latency_summary, stopwatch

TEXT_QUERIES = [
    "black leather shoes for men", "red summer dress", "blue denim jeans", "white sports shoes",
    "women handbag", "men casual shirt", "green tshirt", "watch for men", "pink top", "black backpack",
    "男士蓝色牛仔裤", "女士手提包", "红色连衣裙", "黑色皮鞋", "白色运动鞋", "男士手表", "蓝色衬衫", "女士凉鞋",
]
VOICE_QUERIES = [("en", "en", "black leather shoes"), ("en", "en", "red summer dress"),
                 ("cmn-latn-pinyin", "zh", "男士黑色皮鞋"), ("cmn-latn-pinyin", "zh", "白色运动鞋")]


NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(index: str, workers: int, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    code = ("import logging; logging.basicConfig(level=logging.WARNING); from shopsearch.service import run; "
            f"run({index!r}, port={port}, workers={workers}, data_dir={str(data_dir)!r}, log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start in 300 s")


def speech(voice: str, text: str) -> bytes:
    return subprocess.run(["espeak-ng", "-v", voice, "-s", "130", "--stdout", text],
                          check=True, capture_output=True).stdout


def request_factory(kind: str, images: list[bytes], voices: list[tuple[str, bytes]]):  # type: ignore[no-untyped-def]
    rng = random.Random(0)

    def make() -> dict[str, Any]:
        if kind == "health":
            return {"method": "GET", "url": "/health"}
        if kind == "text":
            return {"method": "POST", "url": "/v1/search", "json": {"text": rng.choice(TEXT_QUERIES), "k": 24}}
        if kind == "image":
            return {"method": "POST", "url": "/v1/search", "data": {"k": "24"},
                    "files": {"image": ("q.jpg", rng.choice(images), "image/jpeg")}}
        lang, audio = rng.choice(voices)
        return {"method": "POST", "url": "/v1/search", "data": {"k": "24", "language": lang},
                "files": {"audio": ("q.wav", audio, "audio/wav")}}

    return make


async def run_cell(url: str, kind: str, clients: int, duration: float, make) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    stop = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    # TCP_NODELAY: httpx writes a request's headers and body separately; with Nagle's
    # algorithm the body waits for the server's delayed ACK (~40 ms on Linux).
    transport = httpx.AsyncHTTPTransport(limits=limits, socket_options=NODELAY)
    async with httpx.AsyncClient(base_url=url, timeout=120, transport=transport) as client:
        async def loop() -> None:
            while time.perf_counter() < stop:
                req = make()
                t0 = time.perf_counter()
                try:
                    r = await client.request(**req)
                    ok = r.status_code == 200
                    key = str(r.status_code)
                except httpx.HTTPError as exc:
                    ok, key = False, type(exc).__name__
                if ok:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors[key] = errors.get(key, 0) + 1

        with stopwatch() as sw:
            await asyncio.gather(*(loop() for _ in range(clients)))
        elapsed = sw.seconds

    # nearest-rank percentiles (a measured request each), rounded to 0.1 ms
    summary = latency_summary(latencies, quantiles=(50, 95, 99), digits=1, method="rank")
    return {"kind": kind, "clients": clients, "requests": len(latencies), "errors": sum(errors.values()),
            "error_kinds": errors, "seconds": round(elapsed, 1), "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": summary["p50_ms"], "p95_ms": summary["p95_ms"], "p99_ms": summary["p99_ms"],
            "mean_ms": summary["mean_ms"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True, help="index directory of the fashion catalog")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--voice-clients", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--kinds", nargs="+", default=["health", "text", "image", "voice"])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per cell")
    ap.add_argument("--out", default=str(RESULTS / "http_latency"), help="results path without the suffix")
    args = ap.parse_args()
    run = Run("http_latency", baseline="GET /health (framework and client overhead, no search)")

    import shopsearch

    engine = shopsearch.load(args.index)
    rng = random.Random(1)
    local = [p.images[0] for p in engine.products if p.images and not p.images[0].startswith("http")]
    images = [Path(p).read_bytes() for p in rng.sample(local, min(50, len(local)))]
    n_products = len(engine.products)
    del engine
    voices: list[tuple[str, bytes]] = []
    kinds = list(args.kinds)
    if "voice" in kinds:
        if shutil.which("espeak-ng"):
            voices = [(lang, speech(v, text)) for v, lang, text in VOICE_QUERIES]
        else:
            print("espeak-ng not installed: skipping voice queries", file=sys.stderr)
            kinds.remove("voice")

    rows: list[dict[str, Any]] = []
    data_dir = Path(args.out).parent / ".bench-data"
    for workers in args.workers:
        proc, url = start_server(args.index, workers, data_dir)
        try:
            for kind in kinds:  # warm-up: load every encoder in every worker
                make = request_factory(kind, images, voices)
                asyncio.run(run_cell(url, kind, max(2, workers * 2), 3.0 if kind != "voice" else 8.0, make))
            for kind in kinds:
                for clients in (args.voice_clients if kind == "voice" else args.clients):
                    make = request_factory(kind, images, voices)
                    row = asyncio.run(run_cell(url, kind, clients, args.duration, make))
                    row["workers"] = workers
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    shutil.rmtree(data_dir, ignore_errors=True)

    def cell(kind: str, clients: int, workers: int) -> dict[str, Any] | None:
        return next((r for r in rows if (r["kind"], r["clients"], r["workers"]) == (kind, clients, workers)), None)

    targets = []
    for workers in args.workers:
        text4, image4 = cell("text", 4, workers), cell("image", 4, workers)
        if text4:
            targets.append({"workers": workers, "target": "text p50 <= 30 ms @4", "value": text4["p50_ms"],
                            "met": text4["p50_ms"] is not None and text4["p50_ms"] <= 30})
            targets.append({"workers": workers, "target": "text p99 <= 100 ms @4", "value": text4["p99_ms"],
                            "met": text4["p99_ms"] is not None and text4["p99_ms"] <= 100})
        if image4:
            targets.append({"workers": workers, "target": "image p50 <= 80 ms @4", "value": image4["p50_ms"],
                            "met": image4["p50_ms"] is not None and image4["p50_ms"] <= 80})
    targets.append({"workers": None, "target": "zero errors", "value": sum(r["errors"] for r in rows),
                    "met": all(r["errors"] == 0 for r in rows)})
    result = {
        "uvloop": importlib.util.find_spec("uvloop") is not None,
        "index": str(args.index), "products": n_products, "duration_s": args.duration,
        "client": "closed loop, asyncio + httpx in one process on the same machine",
        "rows": rows, "targets": targets,
    }
    out = Path(args.out)
    lines = [f"# HTTP latency ({n_products} products, {os.cpu_count()} CPUs, {args.duration:g} s per cell)", "",
             "| workers | query | clients | req/s | p50 ms | p95 ms | p99 ms | errors |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['workers']} | {r['kind']} | {r['clients']} | {r['rps']} | {r['p50_ms']} | "
                     f"{r['p95_ms']} | {r['p99_ms']} | {r['errors']} |")
    lines += ["", "| workers | target | value | met |", "|---:|---|---:|---|"]
    for t in targets:
        lines.append(f"| {t['workers'] or 'all'} | {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |")
    run.write(result, lines, stem=out.name, folder=out.parent)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
