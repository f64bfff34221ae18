"""Compaction races under load, as an operator runs them: ``shopsearch serve`` takes writes from
two writer clients and searches from a third while ``shopsearch compact`` runs again and again
from a shell. Every acknowledged write must be visible on the live server and after a restart.

Used by ``tests/hardening/test_compaction_load.py`` (a few rounds) and
``benchmarks/compaction_race.py`` (many)."""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.servers import free_port

KEY = "race-test-key-0123"


@dataclass
class RaceReport:
    rounds: int
    writes_sent: int = 0
    writes_acked: int = 0
    uncertain: int = 0  # writes with no answer (a timeout): excluded from the checks
    ids_checked: int = 0
    lost_live: list[str] = field(default_factory=list)
    lost_after_restart: list[str] = field(default_factory=list)
    compact_rc: list[int] = field(default_factory=list)
    compact_s: list[float] = field(default_factory=list)
    acked_during_compact: int = 0
    searches: dict[str, int] = field(default_factory=dict)
    checker_catches_a_loss: bool = False  # control: one expectation falsified is reported as lost

    @property
    def ok(self) -> bool:
        return (not self.lost_live and not self.lost_after_restart and all(rc == 0 for rc in self.compact_rc)
                and set(self.searches) <= {"200"} and self.checker_catches_a_loss)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.update(lost_live=len(self.lost_live), lost_after_restart=len(self.lost_after_restart),
                 lost_ids=sorted(set(self.lost_live) | set(self.lost_after_restart))[:20], ok=self.ok)
        return d


class _Server:
    def __init__(self, cli: list[str], index: Path, log: Path) -> None:
        self.cli, self.index, self.log = cli, index, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import httpx

        env = dict(os.environ, SHOPSEARCH_API_KEY=KEY, OMP_NUM_THREADS="1")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([*self.cli, "serve", str(self.index), "--port", str(self.port), "--no-voice"],
                                         env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not come up; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_races(cli: list[str], index: Path, rounds: int, *, seed: int = 0, images: list[str] | None = None,
              gap_s: tuple[float, float] = (0.3, 2.0), queries: list[str] | None = None) -> RaceReport:
    """``rounds`` compactions from a shell (``cli``: the command, e.g. ``["shopsearch"]``) while
    the server at ``index`` takes writes and searches. ``images``: photo paths (inside the
    catalogue's image folders) for new products, so some writes re-embed photos."""
    import httpx

    report = RaceReport(rounds)
    server = _Server(cli, index, index.parent / "race-serve.log")
    server.start()
    rnd = random.Random(seed)
    with httpx.Client(timeout=30) as c:
        existing = [h["product_id"] for h in c.post(server.url + "/v1/search",
                                                     json={"text": "shirt", "k": 40}).json()["hits"]]
    lock = threading.Lock()
    acked: list[tuple[float, str, dict[str, Any] | None]] = []  # (ack time, id, expected fields or None)
    uncertain: set[str] = set()
    compacting: list[tuple[float, float]] = []
    searches: collections.Counter[str] = collections.Counter()
    stop = threading.Event()

    def writer(w: int) -> None:
        r = random.Random(seed * 100 + w)
        mine = existing[w::2]
        created: list[str] = []
        n = 0
        with httpx.Client(timeout=60, headers={"X-API-Key": KEY}) as c:
            while not stop.is_set():
                n += 1
                tag, price, x = f"w{w}n{n}", round(r.uniform(1, 999), 2), r.random()
                body: dict[str, Any] | None
                if x < 0.35 and mine:
                    pid, method = r.choice(mine), "PUT"
                    body = {"title": f"Race {tag} cotton shirt", "price": price}
                elif x < 0.6 and (mine or created):
                    pid, method, body = r.choice(mine + created), "PATCH", {"price": price}
                elif x < 0.85:
                    pid, method = f"race-{tag}", "PUT"
                    body = {"title": f"Race new {tag} summer dress", "price": price}
                    if images:
                        body["image"] = r.choice(images)
                elif mine or created:
                    pid, method, body = r.choice(mine + created), "DELETE", None
                else:
                    continue
                try:
                    status = c.request(method, f"{server.url}/v1/products/{pid}", json=body).status_code
                except httpx.HTTPError:
                    status = 0
                t = time.monotonic()
                with lock:
                    report.writes_sent += 1
                    if status == 200:
                        report.writes_acked += 1
                        expect = None if method == "DELETE" else {"price": price} if method == "PATCH" else \
                            {"title": body["title"], "price": price}  # type: ignore[index]
                        acked.append((t, pid, expect))
                    elif status == 0 or status >= 500:
                        uncertain.add(pid)
                if status == 200:
                    if method == "DELETE":
                        for pool in (mine, created):
                            if pid in pool:
                                pool.remove(pid)
                    elif pid.startswith("race-") and pid not in created:
                        created.append(pid)

    def searcher() -> None:
        r = random.Random(seed + 7)
        pool = queries or ["white skirt", "watch", "男士 牛仔裤", "shoes", "red shirt", "summer maxi frock"]
        with httpx.Client(timeout=60) as c:
            while not stop.is_set():
                try:
                    status = str(c.post(server.url + "/v1/search", json={"text": r.choice(pool), "k": 10}).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with lock:
                    searches[status] += 1
                time.sleep(0.05)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)] + [threading.Thread(target=searcher)]
    try:
        for th in threads:
            th.start()
        for _ in range(rounds):
            time.sleep(rnd.uniform(*gap_s))
            t0 = time.monotonic()
            done = subprocess.run([*cli, "compact", str(index)], capture_output=True, text=True)
            compacting.append((t0, time.monotonic()))
            report.compact_rc.append(done.returncode)
            report.compact_s.append(round(time.monotonic() - t0, 2))
        time.sleep(1.0)
    finally:
        stop.set()
        for th in threads:
            th.join()
    expected: dict[str, dict[str, Any] | None] = {}
    for _, pid, expect in sorted(acked, key=lambda a: a[0]):
        if pid in uncertain:
            continue
        expected[pid] = None if expect is None else {**(expected.get(pid) or {}), **expect}
    report.uncertain = len(uncertain)
    report.ids_checked = len(expected)
    report.acked_during_compact = sum(any(a <= t <= b for a, b in compacting) for t, _, _ in acked)
    report.searches = dict(searches)
    report.lost_live = _lost(server.url, expected)
    server.stop()
    server.start()
    try:
        report.lost_after_restart = _lost(server.url, expected)
        live = [pid for pid, e in expected.items() if e is not None]
        if live:  # the control: a write "lost" on purpose must be caught
            tampered = dict(expected, **{live[0]: {**(expected[live[0]] or {}), "price": -1.0}})
            report.checker_catches_a_loss = _lost(server.url, tampered) == [live[0]]
    finally:
        server.stop()
    return report


def _lost(url: str, expected: dict[str, dict[str, Any] | None]) -> list[str]:
    import httpx

    lost = []
    with httpx.Client(timeout=30) as c:
        for pid, expect in expected.items():
            r = c.get(f"{url}/v1/products/{pid}")
            if expect is None:
                ok = r.status_code == 404
            else:
                ok = r.status_code == 200 and all(r.json().get(k) == v for k, v in expect.items())
            if not ok:
                lost.append(pid)
    return lost
