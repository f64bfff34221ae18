"""HTTP load on the service: peak open-loop QPS at p99 <= 100 ms over distinct uncached queries.

The highest Poisson arrival rate the service holds at p99 <= 100 ms, for 1 and 2 workers,
ranking on (the service default) and off, with queries that never repeat.

    python benchmarks/http_load.py --index fx-index       # everything: ~12 min of load, plus waits for a quiet machine
    python benchmarks/http_load.py --index fx-index --lock /work/measure.lock   # lock per configuration
    python benchmarks/http_load.py --index fx-index --workers 2 --merge   # one part, kept beside the rest

For each configuration (workers x ranking) the service (``shopsearch.service.run``: uvicorn, the
default settings, ``rank=False`` for ranking off, as ``shopsearch serve --no-rank``) starts in its
own process, and the load client (``benchmarks/_load_client.py``, asyncio + raw HTTP/1.1) in
another; both share this machine's cores, and the client's CPU is reported. Once the server is
up and idle, in this order:

1. warm-up (open loop 5/s for 4 s, 40 closed-loop requests, 3 photos; not reported);
2. *closed loop*: 4 clients, ``--closed-requests`` distinct texts (issue 19: p50 <= 30 ms and
   p99 <= 100 ms at 4 clients over >= 150 distinct uncached queries);
3. *cached baseline*: the same closed loop over ``http_latency.py``'s 18 fixed texts, which are
   query-vector cache hits after their first use (what that benchmark measured);
4. *photos*: ``--photos`` catalogue photos, one at a time, uploaded as the web page does (p50 <= 40 ms);
5. *open-loop ramp*: Poisson arrivals at each rate of ``--rates`` for ``--duration`` seconds
   (longer at low rates, for ``--min-requests`` requests: 30 s at 10/s), latency from each
   request's scheduled time (queueing counts); a rate *holds* with p99 <= ``--p99-ms`` and no
   errors (a request over ``--timeout`` is an error). The ramp stops after
   ``--stop-after`` rates in a row that do not hold, then bisects ``--refine`` times between the
   highest rate that held and the next that did not. Peak QPS = the highest rate that held.
   A rate that does not hold while other jobs used more than ``--quiet-cores`` CPU is run once
   more when the machine is quiet (waiting up to 60 s; the disturbed run is kept in the JSON and
   the Markdown).

Queries: a seeded pool (``benchmarks/_load_pool.py``: the hand-written benchmark queries plus
generated English and Chinese shopper queries from the catalogue's facet values), walked in
order across the whole run, so no text is sent twice. The service caches query vectors by the
query *parsed* into catalogue words, so the pool is parsed here with the same engine and a text
whose parsed form was already sent is skipped (counted as a parse collision); cache hits on the
text path are therefore 0 unless ``repeats`` says otherwise. Requests: ``POST /v1/search``
``{"text": ..., "k": 24}`` (the web page's page size), no user or session.

Writes ``benchmarks/results/http_load.{json,md}`` (``--stem``). Baseline in the same run: the
cached closed loop (step 3).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from _harness import RESULTS, Run, data_dir, load_average, rerender
from _load_pool import PoolQuery, pool_summary, query_pool, read_catalog_facets, text_key
from _load_report import markdown
from http_latency import TEXT_QUERIES as CACHED_TEXTS

HERE = Path(__file__).resolve().parent
BASELINE = ("the same 4-client closed loop over http_latency.py's 18 fixed texts (query-vector cache hits), "
            "same server")
DEFAULT_RATES = (10, 20, 30, 40, 50, 60, 70, 80, 100, 120, 140, 170, 200, 250, 300, 400)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- pure helpers


def step_holds(step: dict[str, Any], p99_ms: float) -> bool:
    """A rate holds when every request succeeded and the p99 latency is within ``p99_ms``."""
    return step["errors"] == 0 and step["ok"] > 0 and step["p99_ms"] is not None and step["p99_ms"] <= p99_ms


def step_seconds(rate: float, duration: float, min_requests: int) -> float:
    """How long a rate runs: ``duration``, or longer at low rates so that about ``min_requests``
    arrive (a p99 over 100 requests is their second-slowest; over 300, their third)."""
    return max(duration, min_requests / rate)


def next_refinement(results: Sequence[tuple[float, bool]], resolution: float = 0.05) -> float | None:
    """The rate to try next between the highest rate that held and the lowest rate above it that
    did not (their midpoint, rounded to a whole rate), or None: nothing held, nothing failed above
    it, or the two are within ``max(2, resolution * held)`` of each other."""
    held = [r for r, ok in results if ok]
    if not held:
        return None
    lo = max(held)
    above = [r for r, ok in results if not ok and r > lo]
    if not above:
        return None
    hi = min(above)
    if hi - lo <= max(2.0, resolution * lo):
        return None
    return float(round((lo + hi) / 2))


def peak(results: Sequence[tuple[float, bool]]) -> tuple[float | None, float | None]:
    """(the highest rate that held, the lowest rate above it that did not), None where absent."""
    held = [r for r, ok in results if ok]
    lo = max(held) if held else None
    above = [r for r, ok in results if not ok and (lo is None or r > lo)]
    return lo, (min(above) if above else None)


@dataclass
class QueryStream:
    """Texts of ``pool`` in order, skipping any whose ``key`` (the service's cache key: the parsed
    query) was seen before or is in ``exclude``; :meth:`peek` parses lazily, :meth:`consume`
    moves on by what the client used. Past the pool's end it starts again (each such text a repeat)."""

    pool: Sequence[PoolQuery]
    key: Callable[[str], str]
    exclude: Sequence[str] = ()
    accepted: list[PoolQuery] = field(default_factory=list)
    cursor: int = 0
    collisions: int = 0
    _next: int = 0
    _seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._seen = {self.key(t) for t in self.exclude}

    def peek(self, n: int) -> list[str]:
        while len(self.accepted) < self.cursor + n and self._next < len(self.pool):
            q = self.pool[self._next]
            self._next += 1
            k = self.key(q.text)
            if k in self._seen:
                self.collisions += 1
                continue
            self._seen.add(k)
            self.accepted.append(q)
        if not self.accepted:
            raise ValueError("QueryStream: no query survives the parse (empty pool?)")
        return [self.accepted[i % len(self.accepted)].text for i in range(self.cursor, self.cursor + n)]

    def consume(self, n: int) -> None:
        self.cursor += n

    @property
    def repeats(self) -> int:
        return max(0, self.cursor - len(self.accepted))

    def sent(self) -> list[PoolQuery]:
        return self.accepted[:min(self.cursor, len(self.accepted))]


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of process ``root`` and its descendants (from /proc)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2:].split()  # after "pid (comm) "
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in stats.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(stats[p][1] for p in tree if p in stats)


def machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy since boot (all cores; /proc/stat), and of
    them in processes under ``nice``. With the kernel's autogroup scheduling on (as on this
    project's machine) a niced job in another session still takes its full share against ours
    (nice only orders processes within one session), so both count as load."""
    with open("/proc/stat", encoding="ascii") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK, nice / CLK_TCK


def busy_cores(seconds: float) -> float:
    """Cores the machine kept busy over the next ``seconds``."""
    b0, t0 = machine_busy_seconds()[0], time.perf_counter()
    time.sleep(seconds)
    return (machine_busy_seconds()[0] - b0) / (time.perf_counter() - t0)


class Server:
    """``shopsearch.service.run`` in its own process group, logging to a file."""

    def __init__(self, index: Path, workers: int, rank: bool, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / f"server-{workers}w-rank{int(rank)}.log"
        data = folder / f"data-{workers}w-rank{int(rank)}"
        code = ("import logging; logging.basicConfig(level=logging.WARNING); from shopsearch.service import run; "
                f"run({str(index)!r}, port={self.port}, workers={workers}, data_dir={str(data)!r}, "
                f"log_level='warning', rank={rank!r})")
        self._log: IO[bytes] = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 300.0) -> float:
        """Seconds until ``/health`` answers 200 and the server's processes are idle (every
        worker has loaded and warmed up)."""
        t0 = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}): {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"server did not answer /health in {timeout:.0f} s")
            time.sleep(0.5)
        self.wait_idle(timeout=max(10.0, timeout - (time.perf_counter() - t0)))
        return time.perf_counter() - t0

    def wait_idle(self, timeout: float = 60.0, cores: float = 0.05, seconds: int = 2) -> None:
        """Until the server used under ``cores`` CPU for ``seconds`` 1-second windows in a row."""
        deadline, quiet = time.perf_counter() + timeout, 0
        while quiet < seconds and time.perf_counter() < deadline:
            c0 = tree_cpu_seconds(self.proc.pid)
            time.sleep(1.0)
            quiet = quiet + 1 if tree_cpu_seconds(self.proc.pid) - c0 < cores else 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own group: the server and its workers
                self.proc.wait()
        self._log.close()


class Client:
    """``_load_client.py`` in its own process, one JSON command and answer per line."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "_load_client.py"), "--port", str(port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
        self.loop = self._read()["loop"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"load client exited ({self.proc.wait()})")
        out: dict[str, Any] = json.loads(line)
        return out

    def send(self, cmd: dict[str, Any], server: Server) -> dict[str, Any]:
        """Run one command; its answer plus the server's CPU cores over it."""
        assert self.proc.stdin is not None
        c0, m0, t0 = tree_cpu_seconds(server.proc.pid), machine_busy_seconds(), time.perf_counter()
        self.proc.stdin.write(json.dumps(cmd, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        out = self._read()
        wall = time.perf_counter() - t0
        m1 = machine_busy_seconds()
        server_s = tree_cpu_seconds(server.proc.pid) - c0
        out["server_cpu_cores"] = round(server_s / wall, 2)
        out["client_cpu_pct"] = round(100 * out["client_cpu_s"] / max(out["client_wall_s"], 1e-9), 1)
        # everything else on the machine (other jobs; this script's parent waits meanwhile), and
        # of that, niced processes
        out["other_cpu_cores"] = round(max(0.0, m1[0] - m0[0] - server_s - out["client_cpu_s"]) / wall, 2)
        out["niced_cpu_cores"] = round((m1[1] - m0[1]) / wall, 2)
        return out

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@contextlib.contextmanager
def locked(path: str | None, quiet_cores: float, quiet_wait: float) -> Iterator[dict[str, Any]]:
    """Hold ``flock(path)`` for the block (no lock when ``path`` is None), once the machine is
    quiet: under ``quiet_cores`` busy over 3 s with the lock held (niced jobs count: see
    :func:`machine_busy_seconds`). When it is not, the lock is let go and tried again 30 s later,
    for up to ``quiet_wait`` seconds; then the block runs anyway. Yields what happened:
    ``{"waited_s", "busy_cores", "quiet"}``."""
    t0 = time.perf_counter()
    f: IO[str] | None = None
    try:
        while True:
            if path is not None:
                f = open(path, "a")  # noqa: SIM115 (held across the yield, closed in finally)
                fcntl.flock(f, fcntl.LOCK_EX)
            busy = busy_cores(3.0)
            waited = time.perf_counter() - t0
            if busy <= quiet_cores or waited >= quiet_wait:
                break
            print(f"  machine busy ({busy:.2f} cores): waiting", flush=True)
            if f is not None:
                f.close()  # closing the file lets the lock go
                f = None
            time.sleep(30.0)
        yield {"waited_s": round(waited, 1), "busy_cores": round(busy, 2), "quiet": busy <= quiet_cores}
    finally:
        if f is not None:
            f.close()


# --------------------------------------------------------------------------- one configuration


def run_config(args: argparse.Namespace, workers: int, rank: bool, stream: QueryStream, photos: list[str],
               folder: Path) -> dict[str, Any]:
    """Start the server, run warm-up, closed loops, photos and the ramp; stop it."""
    out: dict[str, Any] = {"workers": workers, "rank": rank, "load_before": load_average(),
                           "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    server = Server(args.index, workers, rank, folder)
    client: Client | None = None
    cursor0 = stream.cursor
    common = {"k": args.k, "timeout": args.timeout}
    try:
        out["startup_s"] = round(server.wait_ready(), 1)
        client = Client(server.port)
        out["client_loop"] = client.loop

        def texts_cmd(cmd: dict[str, Any], n: int) -> dict[str, Any]:
            result = client.send({**cmd, **common, "texts": stream.peek(n)}, server)  # type: ignore[union-attr]
            stream.consume(result["used"])
            return result

        texts_cmd({"op": "open", "rate": 5, "duration": 4, "seed": 99}, 40)  # warm-up
        texts_cmd({"op": "closed", "clients": args.clients, "requests": 40}, 40)
        client.send({"op": "photos", "paths": photos[:3], **common}, server)
        server.wait_idle()
        out["closed"] = texts_cmd({"op": "closed", "clients": args.clients, "requests": args.closed_requests},
                                  args.closed_requests)
        out["cached"] = client.send({"op": "closed", "clients": args.clients, "requests": args.closed_requests,
                                     "texts": list(CACHED_TEXTS), **common}, server)
        out["photos"] = client.send({"op": "photos", "paths": photos[3:], **common}, server)
        steps: list[dict[str, Any]] = []

        disturbed: list[dict[str, Any]] = []

        def step(rate: float, again: bool = True) -> None:
            server.wait_idle(timeout=30)
            seconds = step_seconds(rate, args.duration, args.min_requests)
            n = int(rate * seconds * 1.3) + 50  # the Poisson count stays below this (> 5 sd)
            s = texts_cmd({"op": "open", "rate": rate, "duration": seconds, "seed": len(steps) + len(disturbed)}, n)
            s.update(rate=rate, seconds=seconds, holds=step_holds(s, args.p99_ms))
            print(f"  {workers}w rank={'on' if rank else 'off'} {rate:g}/s: p50 {s['p50_ms']} p99 {s['p99_ms']} ms, "
                  f"{s['errors']} errors, {s['throughput_qps']}/s, client {s['client_cpu_pct']}% server "
                  f"{s['server_cpu_cores']} cores, others {s['other_cpu_cores']} -> "
                  f"{'holds' if s['holds'] else 'over'}", flush=True)
            if again and not s["holds"] and s["other_cpu_cores"] > args.quiet_cores:
                # other jobs took CPU meanwhile: once more when the machine is quiet (or in 60 s)
                disturbed.append(s)
                deadline = time.perf_counter() + 60
                while busy_cores(3.0) > args.quiet_cores and time.perf_counter() < deadline:
                    pass
                step(rate, again=False)
                return
            steps.append(s)

        fails = 0
        for rate in args.rates:
            step(rate)
            fails = 0 if steps[-1]["holds"] else fails + 1
            if fails >= args.stop_after:
                break
        for _ in range(args.refine):
            nxt = next_refinement([(s["rate"], s["holds"]) for s in steps])
            if nxt is None:
                break
            step(nxt)
        out["steps"], out["disturbed_steps"] = steps, disturbed
        out["peak_qps"], out["first_over_qps"] = peak([(s["rate"], s["holds"]) for s in steps])
    finally:
        if client is not None:
            client.close()
        server.stop()
    out["load_after"] = load_average()
    out["texts_sent"], out["repeats_so_far"] = stream.cursor - cursor0, stream.repeats
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, default=Path("fx-index"), help="index of the fashion catalogue")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rank", choices=("on", "off"), nargs="+", default=["on", "off"])
    ap.add_argument("--rates", type=float, nargs="+", default=list(DEFAULT_RATES), help="arrivals per second")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per rate (at least)")
    ap.add_argument("--min-requests", type=int, default=300,
                    help="a low rate runs long enough for about this many requests")
    ap.add_argument("--stop-after", type=int, default=2, help="stop the ramp after this many rates in a row over")
    ap.add_argument("--refine", type=int, default=2, help="bisection steps after the ramp")
    ap.add_argument("--p99-ms", type=float, default=100.0)
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds before a request counts as an error")
    ap.add_argument("--clients", type=int, default=4, help="closed-loop clients")
    ap.add_argument("--closed-requests", type=int, default=600)
    ap.add_argument("--photos", type=int, default=40, help="photos searched one at a time (after 3 for warm-up)")
    ap.add_argument("--pool", type=int, default=200_000, help="query pool size (parsed only as far as used)")
    ap.add_argument("--k", type=int, default=24, help="hits per request")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lock", help="take this flock around each configuration (e.g. /work/measure.lock)")
    ap.add_argument("--quiet-cores", type=float, default=0.3,
                    help="start a configuration once the machine's busy cores are under this (3 s), niced jobs "
                    "included (autogroup scheduling: they do not yield to another session)")
    ap.add_argument("--quiet-wait", type=float, default=600.0, help="seconds to wait for that, then start anyway")
    ap.add_argument("--merge", action="store_true", help="keep the other configurations of an existing result")
    ap.add_argument("--stem", default="http_load")
    ap.add_argument("--note", default="", help="a sentence for the results (the machine's state)")
    ap.add_argument("--render-only", action="store_true", help="rewrite the Markdown from the JSON; measure nothing")
    args = ap.parse_args(argv)
    if args.render_only:
        rerender(args.stem, markdown)
        return 0
    if args.closed_requests < 150:
        ap.error("--closed-requests must be >= 150 (issue 19: >= 150 distinct queries)")

    run = Run(args.stem, baseline=BASELINE)
    fashion = data_dir("fashion")
    pool = query_pool(read_catalog_facets(fashion / "products.jsonl"), args.pool, seed=args.seed)
    rng = random.Random(args.seed)
    photos = [str(p) for p in rng.sample(sorted((fashion / "images").glob("*.jpg")), args.photos + 3)]

    import shopsearch

    engine = shopsearch.load(args.index)
    n_products = len(engine.products)
    parse_s = [0.0]

    def key(text: str) -> str:
        t = time.perf_counter()
        k = text_key(engine.parse(text).normalized)
        parse_s[0] += time.perf_counter() - t
        return k

    stream = QueryStream(pool, key, exclude=CACHED_TEXTS)
    configs: list[dict[str, Any]] = []
    folder = Path(tempfile.mkdtemp(prefix="http-load-"))
    try:
        for workers in args.workers:
            for rank in args.rank:
                with locked(args.lock, args.quiet_cores, args.quiet_wait) as machine:
                    print(f"{workers} worker(s), ranking {rank}: load {load_average()}, busy "
                          f"{machine['busy_cores']} cores", flush=True)
                    configs.append({**run_config(args, workers, rank == "on", stream, photos, folder),
                                    "machine_before": machine})
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    out_json = RESULTS / f"{args.stem}.json"
    if args.merge and out_json.exists():
        old = json.loads(out_json.read_text(encoding="utf-8"))["results"].get("configs", [])
        mine = {(c["workers"], c["rank"]) for c in configs}
        configs = sorted([c for c in old if (c["workers"], c["rank"]) not in mine] + configs,
                         key=lambda c: (c["workers"], not c["rank"]))
    sent = stream.sent()
    results = {
        "index": str(args.index), "products": n_products, "note": args.note,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "pool": pool_summary(pool),
        "texts": {"sent_distinct": len(sent), "sent_by_language": pool_summary(sent) if sent else {},
                  "repeats": stream.repeats, "parse_collisions_skipped": stream.collisions,
                  "parse_seconds": round(parse_s[0], 1)},
        "photos": len(photos) - 3,
        "configs": configs,
    }
    _, md = run.write(results, markdown(results), stem=args.stem)
    print(md.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
