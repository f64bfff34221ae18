"""The load client of ``http_load.py``: open-loop and closed-loop HTTP load, in its own process.

Run by ``http_load.py`` as ``python benchmarks/_load_client.py --port PORT``; it reads one JSON
command per line on stdin and answers each with one JSON line on stdout:

* ``{"op": "open", "rate": 40, "duration": 10, "seed": 1, "texts": [...], "k": 24, "timeout": 5}``:
  open loop. Arrival times are drawn up front (a Poisson process with exactly ``rate * duration``
  arrivals: :func:`poisson_arrivals`) and each request is sent at its time whatever the earlier ones are doing, on an
  idle keep-alive connection or a new one. Latency runs from the *scheduled* time to the last
  byte of the response, so time a request waits because the client or the server is behind
  counts (no coordinated omission). ``texts`` are used in order, one per request.
* ``{"op": "closed", "clients": 4, "requests": 600, "texts": [...], ...}``: closed loop, N
  clients each sending its next request when the previous answer arrives; latency from the send.
  ``texts`` are used in order and cycled if there are fewer than ``requests`` (repeats reported).
* ``{"op": "photos", "paths": [...], "k": 24}``: one client, each photo uploaded once (multipart),
  in order; latency from the send.
* ``{"op": "quit"}``.

Every answer has ``sent``, ``ok``, ``errors`` (by kind: an HTTP status, ``timeout``, an exception
name), latency percentiles of the successful requests (nearest rank), ``used`` (texts consumed),
``repeats``, the client's own CPU seconds and wall seconds, and for the open loop the send lag
(how late the client sent, a check that the client keeps up), connections opened and requests
sent again after the server had closed their idle keep-alive connection (:class:`Pool`).

The client speaks HTTP/1.1 over asyncio streams (uvloop when installed) with requests built
before a step starts, so the per-request work on the client is a socket write and a read: light
on a machine whose cores the server shares.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import latency_summary

QUANTILES = (50, 95, 99)


# --------------------------------------------------------------------------- pure scheduling


def poisson_arrivals(rate: float, duration: float, rng: random.Random) -> list[float]:
    """Send times (seconds from the start, increasing, in ``[0, duration)``) of a Poisson process
    with ``rate`` arrivals per second, conditioned on its count: ``round(rate * duration)`` times
    drawn uniformly and sorted (given its count, a Poisson process's arrival times are exactly
    that), so the gaps are exponential with mean ``1 / rate`` and a step offers exactly its rate
    (an unconditioned draw offers it only within about ``1 / sqrt(rate * duration)``, 4.5% over
    500 requests). Drawn before any request is sent, so they do not depend on the responses."""
    if rate <= 0 or duration <= 0:
        raise ValueError(f"poisson_arrivals: rate and duration must be > 0, got rate={rate}, duration={duration}")
    return sorted(rng.uniform(0.0, duration) for _ in range(round(rate * duration)))


@dataclass(frozen=True)
class Outcome:
    """One request: when it was due (open loop: scheduled; closed loop: sent), when it was sent,
    when its answer ended (perf-counter seconds), and ``error`` (None when it succeeded)."""

    due: float
    sent: float
    done: float
    error: str | None

    @property
    def latency_ms(self) -> float:
        return (self.done - self.due) * 1000.0

    @property
    def lag_ms(self) -> float:
        return (self.sent - self.due) * 1000.0


def summarise(outcomes: Sequence[Outcome], start: float, digits: int = 1) -> dict[str, Any]:
    """Counts, error kinds, latency percentiles of the successes (nearest rank, from ``due``),
    throughput (successes per second from ``start`` to the last answer) and the send lag."""
    ok = [o for o in outcomes if o.error is None]
    errors = Counter(o.error for o in outcomes if o.error is not None)
    end = max((o.done for o in outcomes), default=start)
    lat = latency_summary([o.latency_ms for o in ok], quantiles=QUANTILES, digits=digits, method="rank")
    lag = latency_summary([o.lag_ms for o in outcomes], quantiles=(50, 99), digits=digits, method="rank")
    return {
        "sent": len(outcomes), "ok": len(ok), "errors": sum(errors.values()), "error_kinds": dict(errors),
        **{k: v for k, v in lat.items() if k != "n"},
        "max_ms": round(max(o.latency_ms for o in ok), digits) if ok else None,
        "throughput_qps": round(len(ok) / (end - start), 1) if ok and end > start else 0.0,
        "lag_p50_ms": lag["p50_ms"], "lag_p99_ms": lag["p99_ms"],
        "lag_max_ms": round(max(o.lag_ms for o in outcomes), digits) if outcomes else None,
    }


# --------------------------------------------------------------------------- HTTP/1.1


class HttpError(Exception):
    """A response this client cannot read."""


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.reusable = True

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        """Send one whole request; the status and body of its response."""
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        try:
            status = int(head[9:12])
        except ValueError:
            raise HttpError(f"bad status line {head[:40]!r}") from None
        length, chunked = None, False
        for line in head.lower().split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            elif line.startswith(b"transfer-encoding:") and b"chunked" in line:
                chunked = True
            elif line.startswith(b"connection:") and b"close" in line:
                self.reusable = False
        if chunked:
            body = await self._chunked()
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            raise HttpError("response without content-length")
        return status, body

    async def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.reusable = False
        self.writer.close()


class Pool:
    """Idle keep-alive connections to one server; a request with none idle opens a new one.

    As browsers and HTTP libraries do, a connection idle for ``max_idle`` seconds is not reused
    (uvicorn closes keep-alive connections after 5 s), and a request whose reused connection turns
    out closed by the server before any answer is sent once more on a new connection
    (``stale_retries`` counts them; the latency keeps the lost attempt)."""

    def __init__(self, host: str, port: int, max_idle: float = 4.0) -> None:
        self.host, self.port, self.max_idle = host, port, max_idle
        self.idle: deque[tuple[float, Connection]] = deque()
        self.opened = 0
        self.stale_retries = 0

    async def _connection(self) -> tuple[Connection, bool]:
        now = time.perf_counter()
        while self.idle:
            since, conn = self.idle.pop()
            if now - since < self.max_idle:
                return conn, True
            conn.close()
        self.opened += 1
        return await Connection.open(self.host, self.port), False

    async def request(self, data: bytes) -> tuple[int, bytes]:
        conn, reused = await self._connection()
        try:
            status, body = await conn.request(data)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
            conn.close()
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            self.stale_retries += 1
            conn = await Connection.open(self.host, self.port)
            self.opened += 1
            try:
                status, body = await conn.request(data)
            except BaseException:
                conn.close()
                raise
        except BaseException:  # a timeout's cancellation too: the connection's state is unknown
            conn.close()
            raise
        if conn.reusable:
            self.idle.append((time.perf_counter(), conn))
        else:
            conn.close()
        return status, body

    def close(self) -> None:
        while self.idle:
            self.idle.pop()[1].close()


def json_request(host: str, port: int, payload: dict[str, Any]) -> bytes:
    """``POST /v1/search`` with a JSON body, whole."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return (f"POST /v1/search HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("ascii") + body


def photo_request(host: str, port: int, photo: bytes, k: int) -> bytes:
    """``POST /v1/search`` with a multipart body: ``k`` and the photo as ``image``, as the web page sends."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n{k}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode("ascii") + photo + f"\r\n--{boundary}--\r\n".encode("ascii")
    return (f"POST /v1/search HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode("ascii") + body


async def timed(pool: Pool, data: bytes, due: float, timeout: float, check: bool) -> Outcome:
    """One request; ``check``: also parse the body as a search answer (``hits`` in a JSON object)."""
    sent = time.perf_counter()
    error: str | None = None
    try:
        status, body = await asyncio.wait_for(pool.request(data), timeout)
        if status != 200:
            error = str(status)
        elif not body.startswith(b"{"):
            error = "not-json"
        elif check and "hits" not in json.loads(body):
            error = "no-hits-field"
    except TimeoutError:
        error = "timeout"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, HttpError, ValueError) as exc:
        error = type(exc).__name__
    return Outcome(due, sent, time.perf_counter(), error)


# --------------------------------------------------------------------------- the three loads


@dataclass
class Texts:
    """Query texts consumed in order; past the end they cycle and each further one is a repeat."""

    texts: Sequence[str]
    used: int = 0

    def next(self) -> str:
        if not self.texts:
            raise ValueError("no query texts given")
        text = self.texts[self.used % len(self.texts)]
        self.used += 1
        return text

    @property
    def repeats(self) -> int:
        return max(0, self.used - len(self.texts))


async def open_loop(pool: Pool, requests: Sequence[bytes], arrivals: Sequence[float], timeout: float,
                    check_every: int = 20) -> tuple[list[Outcome], float]:
    """``requests[i]`` sent at ``arrivals[i]`` seconds after the start, each as its own task; the
    outcomes and the start (perf-counter seconds)."""
    start = time.perf_counter() + 0.05
    tasks = []
    for i, (data, at) in enumerate(zip(requests, arrivals, strict=True)):
        due = start + at
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(pool, data, due, timeout, i % check_every == 0)))
    return list(await asyncio.gather(*tasks)), start


async def closed_loop(pool: Pool, make: Callable[[], bytes], clients: int, requests: int,
                      timeout: float) -> tuple[list[Outcome], float]:
    """``clients`` loops, each sending its next request when its answer arrives, ``requests`` in all."""
    outcomes: list[Outcome] = []
    left = requests

    async def client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            now = time.perf_counter()
            outcomes.append(await timed(pool, make(), now, timeout, check=len(outcomes) % 20 == 0))

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return outcomes, start


async def handle(cmd: dict[str, Any], host: str, port: int) -> dict[str, Any]:
    pool = Pool(host, port)
    k = int(cmd.get("k", 24))
    timeout = float(cmd.get("timeout", 10.0))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    texts = Texts(cmd.get("texts", []))
    op = cmd["op"]
    try:
        if op == "open":
            arrivals = poisson_arrivals(float(cmd["rate"]), float(cmd["duration"]), random.Random(cmd.get("seed", 0)))
            requests = [json_request(host, port, {"text": texts.next(), "k": k}) for _ in arrivals]
            outcomes, start = await open_loop(pool, requests, arrivals, timeout)
        elif op == "closed":
            outcomes, start = await closed_loop(
                pool, lambda: json_request(host, port, {"text": texts.next(), "k": k}),
                int(cmd["clients"]), int(cmd["requests"]), timeout)
        elif op == "photos":
            photos = [Path(p).read_bytes() for p in cmd["paths"]]
            it = iter(photos)
            outcomes, start = await closed_loop(pool, lambda: photo_request(host, port, next(it), k), 1,
                                                len(photos), timeout)
        else:
            raise ValueError(f"unknown op {op!r}; expected open, closed, photos or quit")
    finally:
        pool.close()
    out = summarise(outcomes, start)
    out.update(op=op, used=texts.used, repeats=texts.repeats, connections=pool.opened, stale_retries=pool.stale_retries,
               client_cpu_s=round(time.process_time() - cpu0, 2), client_wall_s=round(time.perf_counter() - wall0, 2))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
        loop_name = "uvloop"
    except ImportError:
        runner, loop_name = asyncio.run, "asyncio"
    print(json.dumps({"ready": True, "loop": loop_name}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("op") == "quit":
            break
        print(json.dumps(runner(handle(cmd, args.host, args.port))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
