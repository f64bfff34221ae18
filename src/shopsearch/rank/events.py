"""The interaction log: an append-only SQLite store of shopper events.

An :class:`Event` is one thing a shopper did with one product: saw it (``impression``, with its
0-based ``position`` in the result list), clicked it, added it to the cart, bought it, liked or
disliked it. Events carry the user, the session and the query they belong to, and a timestamp
(unix seconds).

:class:`EventLog` keeps them in one SQLite table (the same ``events`` table the service's
feedback store writes, so an existing file keeps working). Rows are only ever inserted. The
database runs in WAL mode with a busy timeout, so several threads (one connection behind a
lock) and several processes (one connection each) can append to the same file.

Input is validated event by event (:meth:`Event.from_mapping`); a batch with bad events keeps
every valid one and reports every bad one (:class:`AppendReport`).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shopsearch.jsonl import read_jsonl
from shopsearch.storage import storage_errors

__all__ = ["EVENT_TYPES", "LOG_NAME", "AppendReport", "Event", "EventError", "EventLog", "EventReject", "parse_time",
           "write_jsonl"]

logger = logging.getLogger(__name__)

LOG_NAME = "feedback.sqlite"  # the log's file name in an index (or service data) folder
EVENT_TYPES: tuple[str, ...] = ("impression", "click", "add_to_cart", "purchase", "like", "dislike")

_FIELDS = ("event", "product_id", "user_id", "session_id", "query", "position", "ts", "value")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received REAL NOT NULL,
    ts REAL,
    event TEXT NOT NULL,
    product_id TEXT NOT NULL,
    user_id TEXT,
    session_id TEXT,
    query TEXT,
    position INTEGER,
    value REAL
);
CREATE INDEX IF NOT EXISTS events_product ON events (product_id);
CREATE INDEX IF NOT EXISTS events_user ON events (user_id, ts);
CREATE INDEX IF NOT EXISTS events_session ON events (session_id, ts);
"""
_INSERT_COLUMNS = ("received", "ts", "event", "product_id", "user_id", "session_id", "query", "position", "value")


class EventError(ValueError):
    """A bad event: ``field`` names the offending field; the message says the value and what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_time(value: Any, field: str = "ts") -> float:
    """Unix seconds from a finite number or an ISO-8601 string (naive times are UTC)."""
    if isinstance(value, bool):
        raise EventError(field, f"{field} must be unix seconds or an ISO-8601 string, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise EventError(field, f"{field} must be a finite number of unix seconds, got {value!r}")
        return float(value)
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise EventError(
                field, f"{field} must be unix seconds or an ISO-8601 string (e.g. 2026-11-26T20:30:00Z), "
                f"got {value!r}") from None
    else:
        raise EventError(field, f"{field} must be unix seconds or an ISO-8601 string, got {type(value).__name__} "
                         f"{value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _optional_str(d: Mapping[str, Any], name: str) -> str | None:
    value = d.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise EventError(name, f"{name} must be a string or null, got {type(value).__name__} {value!r}")
    value = value.strip()
    return value or None


@dataclass(frozen=True)
class Event:
    """One shopper action on one product. ``position`` is the 0-based rank (impressions, clicks);
    ``ts`` unix seconds; ``value`` an optional number (e.g. a purchase amount or a rating)."""

    event: str
    product_id: str
    user_id: str | None = None
    session_id: str | None = None
    query: str | None = None
    position: int | None = None
    ts: float = 0.0
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | Event) -> Event:
        """Validate a JSON-style mapping into an :class:`Event`; raises :class:`EventError`.

        Keys other than the event's fields are ignored. ``ts`` may be unix seconds or an
        ISO-8601 string; when missing or null it is the current time.
        """
        if isinstance(d, Event):
            d = d.to_dict()
        if not isinstance(d, Mapping):
            raise EventError("event", f"an event must be a JSON object, got {type(d).__name__} {d!r}")
        kind = d.get("event")
        if kind not in EVENT_TYPES:
            raise EventError("event", f"event must be one of {', '.join(EVENT_TYPES)}, got {kind!r}")
        pid = d.get("product_id")
        if not isinstance(pid, str) or not pid.strip():
            raise EventError("product_id", f"product_id must be a non-empty string, got {pid!r}")
        position = d.get("position")
        if position is not None and (isinstance(position, bool) or not isinstance(position, int) or position < 0):
            raise EventError("position", f"position must be an integer >= 0 (0 = first result) or null, "
                             f"got {position!r}")
        ts_raw = d.get("ts")
        ts = time.time() if ts_raw is None else parse_time(ts_raw, "ts")
        value = d.get("value")
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise EventError("value", f"value must be a finite number or null, got {value!r}")
            value = float(value)
        return cls(
            event=kind, product_id=pid.strip(), user_id=_optional_str(d, "user_id"),
            session_id=_optional_str(d, "session_id"), query=_optional_str(d, "query"),
            position=position, ts=ts, value=value,
        )


@dataclass
class EventReject:
    """An event that was not stored: its line in the source file (if any), the field, why, and the input."""

    line: int | None
    field: str
    reason: str
    raw: Any

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason, "raw": self.raw}

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}field '{self.field}': {self.reason}"


@dataclass
class AppendReport:
    """How many events were stored and which were rejected."""

    accepted: int
    rejects: list[EventReject] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": len(self.rejects),
                "rejects": [r.to_dict() for r in self.rejects]}


def _csv_value(name: str, text: str | None) -> Any:
    """A CSV cell as the JSON value it stands for: '' is null; position an int, ts/value numbers."""
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    if name == "position":
        try:
            return int(text)
        except ValueError:
            return text  # validation names the bad value
    if name in ("ts", "value"):
        try:
            return float(text)
        except ValueError:
            return text  # an ISO time for ts, a bad value for value
    return text


class EventLog:
    """Append-only event store in SQLite (WAL), safe for several threads and processes.

    ``path`` and its folder are created on first use. One connection per process, shared by
    threads behind a lock (``check_same_thread=False``); a forked child opens its own.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventLog({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        """The process's connection (created on first use; a storage failure raises
        :class:`~shopsearch.storage.StorageError`, and the next call tries again)."""
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA busy_timeout=30000")
                with conn:
                    conn.executescript(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    # -- writing ------------------------------------------------------------------------------
    def append(self, events: Sequence[Mapping[str, Any] | Event]) -> AppendReport:
        """Validate ``events`` and insert every valid one in one transaction.

        Bad events go to ``report.rejects`` (``line`` is the 0-based index in ``events``);
        they never stop the valid ones from being stored.
        """
        return self._append(list(enumerate(events)))

    def _append(self, numbered: Sequence[tuple[int, Any]]) -> AppendReport:
        rows: list[tuple[Any, ...]] = []
        rejects: list[EventReject] = []
        now = time.time()
        for line, raw in numbered:
            try:
                e = Event.from_mapping(raw)
            except EventError as exc:
                rejects.append(EventReject(line, exc.field, str(exc), _jsonable(raw)))
                continue
            rows.append((now, e.ts, e.event, e.product_id, e.user_id, e.session_id, e.query, e.position, e.value))
        if rows:
            with self._lock, storage_errors("interaction log"):
                conn = self._connect()
                with conn:
                    conn.executemany(
                        f"INSERT INTO events ({', '.join(_INSERT_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})", rows)
        if rejects:
            logger.info("event log %s: %d events stored, %d rejected", self.path, len(rows), len(rejects))
        return AppendReport(len(rows), rejects)

    def import_file(self, path: str | Path) -> AppendReport:
        """Append the events of a JSONL (one object a line) or CSV (header row) file.

        The format follows the suffix (``.csv``/``.tsv`` are CSV, anything else JSONL). Rejects
        carry the 1-based line number in the file (the CSV header is line 1).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"event file not found: {path}")
        numbered: list[tuple[int, Any]] = []
        early: list[EventReject] = []
        if path.suffix.lower() in (".csv", ".tsv"):
            with path.open(encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
                missing = [c for c in ("event", "product_id") if c not in (reader.fieldnames or [])]
                if missing:
                    raise ValueError(f"{path}: the CSV header must name the columns {', '.join(missing)} "
                                     f"(got {reader.fieldnames}); allowed columns: {', '.join(_FIELDS)}")
                for row in reader:
                    numbered.append((reader.line_num, {k: _csv_value(k, v) for k, v in row.items() if k in _FIELDS}))
        else:
            for line in read_jsonl(path):
                if line.error is not None:
                    early.append(EventReject(line.lineno, "json", line.error, line.text))
                else:
                    numbered.append((line.lineno, line.value))
        report = self._append(numbered)
        report.rejects = sorted(early + report.rejects, key=lambda r: r.line or 0)
        return report

    # -- reading ------------------------------------------------------------------------------
    def read(
        self, *, user_id: str | None = None, session_id: str | None = None, since: float | str | None = None,
        event_types: Iterable[str] | None = None, limit: int | None = None, until: float | str | None = None,
    ) -> list[Event]:
        """Events matching every given condition, ordered by ``ts`` then insertion.

        ``since`` (inclusive) and ``until`` (exclusive) are unix seconds or ISO-8601 strings;
        ``limit`` keeps the first ``limit`` events of that order.
        """
        where: list[str] = []
        params: list[Any] = []
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        if session_id is not None:
            where.append("session_id = ?")
            params.append(session_id)
        if since is not None:
            where.append("COALESCE(ts, received) >= ?")
            params.append(parse_time(since, "since"))
        if until is not None:
            where.append("COALESCE(ts, received) < ?")
            params.append(parse_time(until, "until"))
        if event_types is not None:
            kinds = [event_types] if isinstance(event_types, str) else list(event_types)
            bad = [k for k in kinds if k not in EVENT_TYPES]
            if bad:
                raise EventError("event_types", f"event_types must be among {', '.join(EVENT_TYPES)}, got {bad}")
            if not kinds:
                return []
            where.append(f"event IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        sql = ("SELECT event, product_id, user_id, session_id, query, position, COALESCE(ts, received), value "
               "FROM events")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY COALESCE(ts, received), id"
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValueError(f"limit must be an integer >= 0 or None, got {limit!r}")
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock, storage_errors("interaction log (reading)"):
            rows = self._connect().execute(sql, params).fetchall()
        return [Event(event=r[0], product_id=r[1], user_id=r[2], session_id=r[3], query=r[4], position=r[5],
                      ts=float(r[6]), value=r[7]) for r in rows]

    def count(self) -> dict[str, int]:
        """Number of stored events per type (every type listed, 0 when absent)."""
        with self._lock, storage_errors("interaction log (reading)"):
            rows = self._connect().execute("SELECT event, COUNT(*) FROM events GROUP BY event").fetchall()
        out = dict.fromkeys(EVENT_TYPES, 0)
        out.update({str(k): int(v) for k, v in rows})
        return out

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def _jsonable(raw: Any) -> Any:
    """``raw`` as something json.dumps accepts (reports are written as JSON)."""
    try:
        json.dumps(raw)
    except (TypeError, ValueError):
        return repr(raw)
    return raw


def write_jsonl(events: Iterable[Event], path: str | Path) -> int:
    """Write events as JSONL (the format :meth:`EventLog.import_file` reads); returns how many."""
    n = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for e in events:
            handle.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n
