"""The interaction log: validation, append-only storage, imports, reads, concurrency."""

from __future__ import annotations

import json
import math
import multiprocessing
import threading
from pathlib import Path

import pytest

from shopsearch.rank.events import EVENT_TYPES, Event, EventError, EventLog, write_jsonl


def ev(**kw):
    base = {"event": "click", "product_id": "p1", "user_id": "u1", "session_id": "s1", "query": "red shirt",
            "position": 0, "ts": 100.0}
    base.update(kw)
    return base


@pytest.mark.parametrize(("field", "value"), [
    ("event", "view"), ("event", None), ("product_id", ""), ("product_id", 7), ("user_id", 5),
    ("session_id", ["s"]), ("query", 1.5), ("position", -1), ("position", True), ("position", 1.5),
    ("ts", "yesterday"), ("ts", math.inf), ("ts", True), ("value", math.nan), ("value", "3"), ("value", False),
])
def test_bad_fields_raise_with_the_field_named(field, value):
    with pytest.raises(EventError) as info:
        Event.from_mapping(ev(**{field: value}))
    assert info.value.field == field
    assert field in str(info.value) and repr(value) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_event_types_and_good_values():
    assert EVENT_TYPES == ("impression", "click", "add_to_cart", "purchase", "like", "dislike")
    e = Event.from_mapping(ev(ts="2026-01-01T00:00:00Z", value=3, user_id="  ", extra_key=1))
    assert e.ts == 1767225600.0 and e.value == 3.0 and isinstance(e.value, float)
    assert e.user_id is None  # blank ids are no ids
    assert Event.from_mapping(ev(ts="2026-01-01T00:00:00")).ts == 1767225600.0  # naive = UTC
    assert Event.from_mapping(e.to_dict()) == e
    assert Event.from_mapping(e) == e


def test_missing_ts_is_now():
    import time

    before = time.time()
    e = Event.from_mapping({"event": "like", "product_id": "p"})
    assert before <= e.ts <= time.time() and e.position is None


def test_append_keeps_every_valid_event(tmp_path: Path):
    log = EventLog(tmp_path / "sub" / "log.db")
    report = log.append([ev(), ev(event="bogus"), ev(product_id="p2", position=3), "not a mapping",
                         Event("like", "p3", ts=50.0)])
    assert report.accepted == 3
    assert [(r.line, r.field) for r in report.rejects] == [(1, "event"), (3, "event")]
    got = log.read()
    assert [e.product_id for e in got] == ["p3", "p1", "p2"]  # ordered by ts, then insertion
    assert log.count() == {"impression": 0, "click": 2, "add_to_cart": 0, "purchase": 0, "like": 1, "dislike": 0}
    json.dumps(report.to_dict())
    log.close()


def test_read_filters(tmp_path: Path):
    with EventLog(tmp_path / "log.db") as log:
        log.append([ev(ts=1.0), ev(ts=2.0, user_id="u2", session_id="s2"), ev(ts=3.0, event="impression"),
                    ev(ts=4.0, event="purchase")])
        assert [e.ts for e in log.read(user_id="u1")] == [1.0, 3.0, 4.0]
        assert [e.ts for e in log.read(session_id="s2")] == [2.0]
        assert [e.ts for e in log.read(since=2.0)] == [2.0, 3.0, 4.0]
        assert [e.ts for e in log.read(until=3.0)] == [1.0, 2.0]
        assert [e.ts for e in log.read(since="1970-01-01T00:00:03Z")] == [3.0, 4.0]
        assert [e.event for e in log.read(event_types=("purchase", "impression"))] == ["impression", "purchase"]
        assert log.read(event_types=[]) == []
        assert len(log.read(limit=2)) == 2
        with pytest.raises(EventError, match="event_types"):
            log.read(event_types=["view"])
        with pytest.raises(ValueError, match="limit"):
            log.read(limit=-1)


def test_import_jsonl_and_csv_with_line_numbers(tmp_path: Path):
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text(json.dumps(ev()) + "\n\n{bad json\n" + json.dumps(ev(position="x")) + "\n"
                     + json.dumps(ev(event="like")) + "\n", encoding="utf-8")
    csv_path = tmp_path / "e.csv"
    csv_path.write_text("event,product_id,user_id,position,ts,value,ignored\n"
                        "click,p1,u1,2,2026-01-01T00:00:00Z,,z\n"
                        "click,,u1,,5,,\n"
                        "purchase,p2,,,7.5,19.9,\n"
                        "click,p3,u1,two,8,,\n", encoding="utf-8")
    with EventLog(tmp_path / "log.db") as log:
        r1 = log.import_file(jsonl)
        assert r1.accepted == 2
        assert [(r.line, r.field) for r in r1.rejects] == [(3, "json"), (4, "position")]
        r2 = log.import_file(csv_path)
        assert r2.accepted == 2
        assert [(r.line, r.field) for r in r2.rejects] == [(3, "product_id"), (5, "position")]
        bought = log.read(event_types=["purchase"])[0]
        assert bought.value == 19.9 and bought.user_id is None and bought.ts == 7.5
        assert log.read(user_id="u1", event_types=["click"], since=1e9)[0].position == 2
        with pytest.raises(FileNotFoundError):
            log.import_file(tmp_path / "missing.jsonl")
        bad_header = tmp_path / "h.csv"
        bad_header.write_text("kind,pid\nclick,p1\n", encoding="utf-8")
        with pytest.raises(ValueError, match="product_id"):
            log.import_file(bad_header)


def test_write_jsonl_round_trip(tmp_path: Path):
    events = [Event("click", "p1", "u", "s", "q", 0, 1.0), Event("purchase", "p2", ts=2.0, value=9.5)]
    assert write_jsonl(events, tmp_path / "out.jsonl") == 2
    with EventLog(tmp_path / "log.db") as log:
        assert log.import_file(tmp_path / "out.jsonl").accepted == 2
        assert log.read() == events


def test_threads_share_one_log(tmp_path: Path):
    log = EventLog(tmp_path / "log.db")

    def writer(t: int) -> None:
        for i in range(20):
            log.append([ev(product_id=f"t{t}-{i}", ts=float(i))])

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.count()["click"] == 80
    log.close()


def _process_writer(path: str, tag: str) -> None:
    log = EventLog(path)
    for i in range(25):
        log.append([{"event": "impression", "product_id": f"{tag}{i}", "ts": float(i), "position": i}])
    log.close()


def test_processes_append_to_the_same_file(tmp_path: Path):
    path = str(tmp_path / "log.db")
    with EventLog(path) as log:  # create the schema first; no connection may cross a fork (SQLite rule)
        log.count()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_process_writer, args=(path, tag)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with EventLog(path) as log:
        assert log.count()["impression"] == 50


def test_reads_rows_written_by_the_service_schema(tmp_path: Path):
    """A feedback file with a NULL ts (older writers) reads with ts = received."""
    import sqlite3

    path = tmp_path / "log.db"
    EventLog(path).count()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO events (received, ts, event, product_id) VALUES (42.0, NULL, 'click', 'p9')")
    assert EventLog(path).read()[0].ts == 42.0
