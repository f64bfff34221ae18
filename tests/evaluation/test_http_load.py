"""benchmarks/http_load.py and its helpers: the query pool (distinct, seeded, English and Chinese),
the open-loop schedule and its bookkeeping, and the ramp's decisions. No load run: the one
network test sends three requests to a slow in-process server."""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devkit.scripts import load_script

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def mods() -> Iterator[dict[str, ModuleType]]:
    sys.path.insert(0, str(BENCH))  # the scripts import their siblings (_harness, _zh_queries...)
    try:
        yield {name: load_script(BENCH / f"{name}.py", name) for name in ("_load_pool", "_load_client", "http_load")}
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def facets(mods: dict[str, ModuleType]) -> Any:
    rows = [
        {"title": "Nike Men Black Running Shoes", "gender": "Men", "article_type": "Sports Shoes",
         "base_colour": "Black", "usage": "Sports", "season": "Summer"},
        {"title": "Puma Women Red Tshirt", "gender": "Women", "article_type": "Tshirts",
         "base_colour": "Red", "usage": "Casual", "season": "Fall"},
        {"title": "Basics Men Blue Shirt", "gender": "Men", "article_type": "Shirts",
         "base_colour": "Blue", "usage": "Formal", "season": "Winter"},
        {"title": "Gini Girls White Dress", "gender": "Girls", "article_type": "Dresses",
         "base_colour": "White", "usage": "Casual", "season": "Summer"},
    ]
    return mods["_load_pool"].facets_from_rows(rows)


def test_facets_come_from_the_rows(mods: dict[str, ModuleType], facets: Any) -> None:
    assert facets.values["article_type"] == ("Dresses", "Shirts", "Sports Shoes", "Tshirts")
    assert facets.brands == ("Nike", "Puma", "Gini")  # Basics: no shopper words
    assert facets.counts["gender"] == {"Men": 2, "Women": 1, "Girls": 1}
    with pytest.raises(ValueError, match="article_type"):
        mods["_load_pool"].Facets({"base_colour": ("Red",)}, ())


def test_pool_is_distinct_seeded_and_bilingual(mods: dict[str, ModuleType], facets: Any) -> None:
    lp = mods["_load_pool"]
    written = [lp.PoolQuery("plain red tee", "en", "benchmark"), lp.PoolQuery("男款纯黑卫衣", "zh", "benchmark")]
    pool = lp.query_pool(facets, 3000, seed=7, benchmark=written)
    keys = [lp.text_key(q.text) for q in pool]
    assert len(pool) == 3000 and len(set(keys)) == 3000
    assert {q.text for q in pool if q.source == "benchmark"} == {"plain red tee", "男款纯黑卫衣"}
    summary = lp.pool_summary(pool)
    assert summary["distinct"] == 3000 and summary["en"] + summary["zh"] == 3000
    assert 0.3 < summary["zh"] / 3000 < 0.5  # zh_share 0.4
    for q in pool:  # the language label matches the script
        assert q.lang == lp.language_of(q.text)
    assert [q.text for q in lp.query_pool(facets, 3000, seed=7, benchmark=written)] == [q.text for q in pool]
    assert [q.text for q in lp.query_pool(facets, 3000, seed=8, benchmark=written)] != [q.text for q in pool]
    # a larger pool only adds queries after the smaller one's; the written ones stay in the first `spread`
    small = lp.query_pool(facets, 1000, seed=7, benchmark=written, spread=500)
    assert lp.query_pool(facets, 3000, seed=7, benchmark=written, spread=500)[:1000] == small
    assert all(i < 500 for i, q in enumerate(small) if q.source == "benchmark")
    # a generated text never equals a hand-written one, whatever its case or spacing
    gen = lp.generate(facets, 500, seed=1, exclude=["PLAIN  RED TEE"])
    assert "plain red tee" not in {lp.text_key(q.text) for q in gen}


def test_pool_uses_the_benchmark_queries_and_says_when_it_cannot_grow(mods: dict[str, ModuleType], facets: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    lp = mods["_load_pool"]
    written = lp.benchmark_queries()
    assert len(written) > 1000 and {q.lang for q in written} == {"en", "zh"}
    assert len({lp.text_key(q.text) for q in written}) == len(written)
    small = lp.query_pool(facets, 50, seed=0)  # fewer than the written queries: a seeded sample of them
    assert len(small) == 50 and {q.source for q in small} == {"benchmark"}
    monkeypatch.setattr(lp, "EN_MODIFIERS", ("cheap",))
    monkeypatch.setattr(lp, "ZH_MODIFIERS", ("便宜",))
    tiny = lp.Facets({"article_type": ("Belts",), "base_colour": ("Tan",), "gender": ("Men",)}, ())
    with pytest.raises(ValueError, match="distinct queries"):
        lp.generate(tiny, 100_000, seed=0)


def test_poisson_arrivals_are_fixed_in_advance(mods: dict[str, ModuleType]) -> None:
    lc = mods["_load_client"]
    times = lc.poisson_arrivals(50.0, 200.0, random.Random(3))
    assert times == sorted(times) and times[0] >= 0 and times[-1] < 200.0
    assert len(times) == 10_000  # the count is the rate's, exactly
    # arrivals per second stay Poisson: variance about equal to the mean (50)
    per_second = [0] * 200
    for t in times:
        per_second[int(t)] += 1
    assert 35 < sum((n - 50) ** 2 for n in per_second) / 200 < 65
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert sum(gaps) / len(gaps) == pytest.approx(0.02, rel=0.05)
    assert sorted(gaps)[len(gaps) // 2] == pytest.approx(0.02 * 0.6931, rel=0.1)  # exponential median: ln 2 / rate
    assert lc.poisson_arrivals(50.0, 200.0, random.Random(3)) == times  # the schedule depends on the seed only
    with pytest.raises(ValueError, match="rate"):
        lc.poisson_arrivals(0.0, 10.0, random.Random(0))


def test_latency_counts_from_the_scheduled_time(mods: dict[str, ModuleType]) -> None:
    lc = mods["_load_client"]
    outcomes = [lc.Outcome(due=10.0, sent=10.05, done=10.06, error=None),  # sent 50 ms late: 60 ms
                lc.Outcome(due=10.1, sent=10.1, done=10.12, error=None),
                lc.Outcome(due=10.2, sent=10.2, done=15.2, error="timeout")]
    s = lc.summarise(outcomes, start=10.0)
    assert (s["sent"], s["ok"], s["errors"], s["error_kinds"]) == (3, 2, 1, {"timeout": 1})
    assert s["p50_ms"] == 60.0 and s["p99_ms"] == 60.0 and s["lag_max_ms"] == 50.0
    assert s["throughput_qps"] == round(2 / 5.2, 1)
    texts = lc.Texts(["a", "b"])
    assert [texts.next() for _ in range(3)] == ["a", "b", "a"] and texts.repeats == 1


def test_open_loop_sends_on_schedule_while_answers_are_slow(mods: dict[str, ModuleType]) -> None:
    """Three requests 10 ms apart to a server that takes 200 ms each: all three leave on time (on
    three connections), and each latency includes the server's 200 ms."""
    lc = mods["_load_client"]

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            length = next(int(x.split(b":")[1]) for x in head.lower().split(b"\r\n") if x.startswith(b"content-length"))
            await reader.readexactly(length)
            await asyncio.sleep(0.2)
            writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{"hits":[]}')
            await writer.drain()
        writer.close()

    async def scenario() -> tuple[list[Any], int]:
        server = await asyncio.start_server(slow, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = lc.Pool("127.0.0.1", port)
        data = [lc.json_request("127.0.0.1", port, {"text": t, "k": 24}) for t in ("a", "b", "c")]
        outcomes, _ = await lc.open_loop(pool, data, [0.0, 0.01, 0.02], timeout=5.0)
        pool.close()
        server.close()
        await server.wait_closed()
        return outcomes, pool.opened

    outcomes, opened = asyncio.run(scenario())
    assert opened == 3
    for o in outcomes:
        assert o.error is None
        assert o.lag_ms < 100  # not held back by the slow answers before it
        assert 200 <= o.latency_ms < 1000


def test_ramp_decisions(mods: dict[str, ModuleType]) -> None:
    hl = mods["http_load"]
    ok = {"errors": 0, "ok": 10, "p99_ms": 99.0}
    assert hl.step_holds(ok, 100.0)
    assert not hl.step_holds({**ok, "p99_ms": 101.0}, 100.0)
    assert not hl.step_holds({**ok, "errors": 1}, 100.0)
    assert not hl.step_holds({"errors": 0, "ok": 0, "p99_ms": None}, 100.0)
    assert hl.step_seconds(10.0, 10.0, 300) == 30.0 and hl.step_seconds(100.0, 10.0, 300) == 10.0
    ramp = [(10.0, True), (20.0, True), (40.0, False), (60.0, False)]
    assert hl.peak(ramp) == (20.0, 40.0)
    assert hl.next_refinement(ramp) == 30.0
    assert hl.next_refinement([*ramp, (30.0, True)]) == 35.0
    assert hl.next_refinement([*ramp, (30.0, True), (35.0, True), (37.0, False)]) is None  # within 2/s
    assert hl.peak([(10.0, False)]) == (None, 10.0) and hl.next_refinement([(10.0, False)]) is None
    assert hl.peak([(10.0, True)]) == (10.0, None) and hl.next_refinement([(10.0, True)]) is None
    # a noisy pass above a failure: the peak is the highest rate that held, the crossing the next one over
    assert hl.peak([(10.0, True), (20.0, False), (30.0, True), (40.0, False)]) == (30.0, 40.0)


def test_query_stream_skips_cache_key_collisions(mods: dict[str, ModuleType]) -> None:
    hl, lp = mods["http_load"], mods["_load_pool"]
    pool = [lp.PoolQuery(t, "en", "generated") for t in ("Red Dress", "red  dress!", "blue shirt", "green cap")]
    stream = hl.QueryStream(pool, key=lambda t: lp.text_key(t.strip("!")), exclude=["GREEN CAP"])
    assert stream.peek(2) == ["Red Dress", "blue shirt"]
    assert stream.collisions == 1  # "red  dress!" has the same key as "Red Dress"; parsed lazily, no further
    stream.consume(1)
    assert stream.peek(1) == ["blue shirt"] and stream.repeats == 0
    assert stream.peek(3) == ["blue shirt", "Red Dress", "blue shirt"]  # past the pool's end: from the start
    assert stream.collisions == 2  # "green cap" is excluded (the cached baseline's text)
    stream.consume(3)
    assert stream.repeats == 2 and [q.text for q in stream.sent()] == ["Red Dress", "blue shirt"]
