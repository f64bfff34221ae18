"""Kill -9 harness for crash-safety checks (used by the tests and benchmarks/crash_safety.py).

Three victims, each killed with SIGKILL at a seeded random moment:

* a **writer** process (``python crashkit.py write INDEX SEED N``) that loads the index and runs
  a seeded stream of batch upserts, metadata changes, deletes and compactions, printing
  ``BEGIN i`` before and ``ACK i`` after each one;
* the **service** (``shopsearch serve``) taking the same stream over HTTP; a write counts as
  acknowledged when its 200 response arrived;
* the **indexer** (``shopsearch index``) rebuilding the index over a live one.

After the kill the index must load (checksums verified), hold every acknowledged write, and
show the in-flight operation either wholly or not at all: the state equals the model state
after the acknowledged prefix, or after the prefix plus the one operation in flight.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

State = dict[str, tuple[str, float | None]]  # product id -> (title, price)
WORDS = ["red", "blue", "silk", "cotton", "scarf", "jacket", "红色", "连衣裙", "sneaker", "linen", "wool",
         "bag", "watch", "男士", "衬衫", "summer", "winter", "denim", "leather", "😀"]
API_KEY = "crash-test-key-0123456789"


@dataclass
class Outcome:
    """One kill: what was acknowledged, what was in flight, and what the reloaded index held."""

    victim: str
    seed: int
    acked: int
    in_flight: bool
    ok: bool
    detail: str = ""
    kill_after_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def initial_state(rows: list[dict[str, Any]]) -> State:
    return {r["id"]: (r["title"], float(r["price"])) for r in rows}


def make_ops(seed: int, n: int, state: State) -> list[dict[str, Any]]:
    """A seeded stream of ``n`` write operations that is valid when applied in order to ``state``."""
    rng = random.Random(seed)
    model = dict(state)
    ops: list[dict[str, Any]] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.55 or not model:
            rows = []
            picks = [f"n{rng.randrange(40)}" if rng.random() < 0.7 else rng.choice(sorted(model) or ["n0"])
                     for _ in range(rng.randint(1, 4))]
            for pid in dict.fromkeys(picks):
                title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) + f" {pid}"
                rows.append({"id": pid, "title": title, "price": round(rng.uniform(1, 500), 2)})
                model[pid] = (title, rows[-1]["price"])
            ops.append({"op": "upsert", "rows": rows})
        elif r < 0.75:
            pid = rng.choice(sorted(model))
            price = round(rng.uniform(1, 500), 2)
            ops.append({"op": "upsert", "rows": [{"id": pid, "title": model[pid][0], "price": price}]})
            model[pid] = (model[pid][0], price)
        elif r < 0.95:
            ids = rng.sample(sorted(model), min(len(model), rng.randint(1, 3)))
            ops.append({"op": "delete", "ids": ids})
            for i in ids:
                model.pop(i)
        else:
            ops.append({"op": "compact"})
    return ops


def apply_ops(state: State, ops: list[dict[str, Any]]) -> State:
    out = dict(state)
    for op in ops:
        if op["op"] == "upsert":
            for row in op["rows"]:
                out[row["id"]] = (row["title"], float(row["price"]))
        elif op["op"] == "delete":
            for i in op["ids"]:
                out.pop(i, None)
    return out


def engine_state(engine: Any) -> State:
    return {p.id: (p.title, p.price) for i, p in enumerate(engine.products) if engine.alive[i]}


def check_index(index_dir: Path, base: State, ops: list[dict[str, Any]], acked: int, in_flight: bool) -> str:
    """'' when the reloaded index is consistent with the acknowledged prefix, else what is wrong."""
    import shopsearch

    try:
        engine = shopsearch.load(index_dir)  # verifies checksums, replays (and trims) the log
    except Exception as exc:  # report any failure to load as the finding
        return f"index does not load: {exc!r}"
    got = engine_state(engine)
    allowed = [apply_ops(base, ops[:acked])]
    if in_flight and acked < len(ops):
        allowed.append(apply_ops(base, ops[:acked + 1]))
    if got not in allowed:
        want = allowed[0]
        missing = sorted(set(want) - set(got))[:5]
        extra = sorted(set(got) - set(want))[:5]
        changed = sorted(i for i in set(want) & set(got) if want[i] != got[i])[:5]
        return f"state after {acked} acked ops (in flight: {in_flight}) differs: missing {missing}, " \
               f"unexpected {extra}, changed {changed}"
    # the reloaded index takes writes and serves searches
    engine.upsert([_product({"id": "after-crash", "title": "after crash check item", "price": 1.0})])
    if "after-crash" not in shopsearch.load(index_dir).search(text="after crash check item", k=5).ids():
        return "a write after recovery is not found after a reload"
    engine.delete(["after-crash"])
    return ""


def _product(row: dict[str, Any]) -> Any:
    from shopsearch.types import Product

    return Product(id=row["id"], title=row["title"], price=row["price"])


# -- victims -----------------------------------------------------------------------------------

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _run_writer(index_dir: Path, seed: int, n_ops: int, base: State) -> None:
    """The writer process body: BEGIN/ACK lines around each operation."""
    import shopsearch

    engine = shopsearch.load(index_dir)
    assert engine_state(engine) == base, "writer started from an unexpected state"
    ops = make_ops(seed, n_ops, base)
    rng = random.Random(seed + 1)
    print("READY", flush=True)
    for i, op in enumerate(ops):
        print(f"BEGIN {i}", flush=True)
        if op["op"] == "upsert":
            engine.upsert([_product(r) for r in op["rows"]])
        elif op["op"] == "delete":
            engine.delete(op["ids"])
        else:
            engine.compact()
        print(f"ACK {i}", flush=True)
        time.sleep(rng.uniform(0, 0.01))


def kill_writer(index_dir: Path, base: State, seed: int, n_ops: int = 120) -> Outcome:
    rng = random.Random(seed)
    proc = subprocess.Popen([sys.executable, __file__, "write", str(index_dir), str(seed), str(n_ops),
                             json.dumps(base)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    target = rng.randint(0, n_ops)
    lines: list[str] = []
    t0 = time.monotonic()
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith("ACK") and int(line.split()[1]) + 1 >= target:
            break
        if target == 0 and line.startswith("READY"):
            break
    time.sleep(rng.uniform(0, 0.02))
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    lines += out.split()
    kill_after = time.monotonic() - t0
    text = " ".join(lines).split()
    acks = [int(text[i + 1]) for i, w in enumerate(text) if w == "ACK"]
    begins = [int(text[i + 1]) for i, w in enumerate(text) if w == "BEGIN"]
    acked = max(acks) + 1 if acks else 0
    in_flight = bool(begins) and max(begins) >= acked
    if proc.returncode not in (-signal.SIGKILL, 0):
        return Outcome("writer", seed, acked, in_flight, False, f"writer failed: {err[-2000:]}", kill_after)
    ops = make_ops(seed, n_ops, base)
    problem = check_index(index_dir, base, ops, acked, in_flight)
    return Outcome("writer", seed, acked, in_flight, not problem, problem, kill_after)


def _request(method: str, url: str, body: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "X-API-Key": API_KEY})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def start_server(index_dir: Path, port: int, extra_env: dict[str, str] | None = None,
                 log: Path | None = None, workers: int = 1) -> subprocess.Popen[bytes]:
    """``shopsearch serve`` on 127.0.0.1:port with ``workers`` processes; returns once /health
    answers (from any worker: each request here opens a new connection)."""
    env = _env()
    env["SHOPSEARCH_API_KEY"] = API_KEY
    env.update(extra_env or {})
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([sys.executable, "-m", "shopsearch.cli", "serve", str(index_dir), "--port", str(port),
                             "--no-voice", "--workers", str(workers)], stdout=out, stderr=out, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if _request("GET", f"http://127.0.0.1:{port}/health", timeout=2)[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start in 120 s")


def kill_service(index_dir: Path, base: State, seed: int, n_ops: int = 150) -> Outcome:
    """Stream writes to a real server over HTTP and SIGKILL it at a random moment."""
    rng = random.Random(seed)
    ops = [op for op in make_ops(seed, n_ops, base) if op["op"] != "compact"]  # no compact endpoint
    from devkit.servers import free_port  # here: this file also runs as a script, without devkit/ importable

    port = free_port()
    proc = start_server(index_dir, port)
    url = f"http://127.0.0.1:{port}"
    acked = 0
    in_flight = False
    stop = threading.Event()
    problems: list[str] = []

    def client() -> None:
        nonlocal acked, in_flight
        for i, op in enumerate(ops):
            if stop.is_set():
                return
            in_flight = True
            try:
                if op["op"] == "upsert" and len(op["rows"]) == 1 and i % 2:
                    row = op["rows"][0]
                    status, body = _request("PUT", f"{url}/v1/products/{row['id']}", row)
                elif op["op"] == "upsert":
                    status, body = _request("POST", f"{url}/v1/products:batch", {"upsert": op["rows"]})
                else:
                    status, body = _request("POST", f"{url}/v1/products:batch", {"delete": op["ids"]})
            except OSError:
                return  # the server died: this op stays in flight
            if status != 200 or (isinstance(body, dict) and body.get("rejects")):
                problems.append(f"op {i} answered {status}: {str(body)[:300]}")
                return
            acked = i + 1
            in_flight = False

    t = threading.Thread(target=client, daemon=True)
    t0 = time.monotonic()
    t.start()
    time.sleep(rng.uniform(0.0, 3.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    t.join(timeout=60)
    kill_after = time.monotonic() - t0
    if problems:
        return Outcome("service", seed, acked, in_flight, False, "; ".join(problems), kill_after)
    problem = check_index(index_dir, base, ops, acked, in_flight)
    return Outcome("service", seed, acked, in_flight, not problem, problem, kill_after)


def kill_indexer(index_dir: Path, catalog: Path, base: State, rebuilt: State, seed: int,
                 max_delay: float = 2.0) -> Outcome:
    """Rebuild ``index_dir`` from ``catalog`` (no embedding cache, so it takes a while) and kill
    the indexer at a random moment: the old live state (with its update log) or the complete new
    build must be live, never a mix; a following build must succeed."""
    import shopsearch

    rng = random.Random(seed)
    delay = rng.uniform(0.0, max_delay)
    live = shopsearch.load(index_dir)  # the live index has logged updates the rebuild will not have
    ops = [op for op in make_ops(seed, 5, base) if op["op"] != "compact"]
    for op in ops:
        if op["op"] == "upsert":
            live.upsert([_product(r) for r in op["rows"]])
        else:
            live.delete(op["ids"])
    base = apply_ops(base, ops)
    proc = subprocess.Popen([sys.executable, "-m", "shopsearch.cli", "index", str(catalog), "--out", str(index_dir),
                             "--no-model", "--no-zero-shot", "--no-cache", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    try:
        proc.wait(timeout=delay)
        finished = True
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        finished = False
    try:
        got = engine_state(shopsearch.load(index_dir))
    except Exception as exc:  # any failure to load is the finding
        return Outcome("indexer", seed, 0, not finished, False, f"index does not load: {exc!r}", delay)
    if got not in (base, rebuilt):
        return Outcome("indexer", seed, 0, not finished, False, "index is neither the old nor the new build", delay)
    which = "new" if got == rebuilt and got != base else "old"
    again = subprocess.run([sys.executable, "-m", "shopsearch.cli", "index", str(catalog), "--out", str(index_dir),
                            "--no-model", "--no-zero-shot", "--no-progress", "--cache",
                            str(index_dir.parent / "crash-cache.sqlite")], capture_output=True, text=True, env=_env())
    if again.returncode != 0:
        return Outcome("indexer", seed, 0, not finished, False, f"rebuild after the kill failed: {again.stderr[-500:]}",
                       delay)
    stale = [p.name for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
    if stale:
        return Outcome("indexer", seed, 0, not finished, False, f"stale build folders left: {stale}", delay)
    return Outcome("indexer", seed, 0, not finished, True, "", delay, {"live_after_kill": which})


if __name__ == "__main__":
    if sys.argv[1] == "write":
        _run_writer(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                    {k: (v[0], v[1]) for k, v in json.loads(sys.argv[5]).items()})
