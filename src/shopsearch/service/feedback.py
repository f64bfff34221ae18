"""Append-only store of shopper feedback events in SQLite, for ranking work.

One table, ``events``; rows are only ever inserted. WAL mode lets several worker processes
write to the same file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EVENT_TYPES: tuple[str, ...] = ("impression", "click", "add_to_cart", "purchase", "like", "dislike")

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
"""
_COLUMNS = ("ts", "event", "product_id", "user_id", "session_id", "query", "position", "value")


class FeedbackStore:
    """Thread-safe appender; ``path`` is created with its folder on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def append(self, events: Sequence[dict[str, Any]]) -> int:
        """Store ``events`` (dicts with the keys of :data:`_COLUMNS`); returns how many."""
        for e in events:
            if e.get("event") not in EVENT_TYPES:
                raise ValueError(f"event must be one of {', '.join(EVENT_TYPES)}, got {e.get('event')!r}")
        now = time.time()
        rows = [(now, *(e.get(c) for c in _COLUMNS)) for e in events]
        with self._lock:
            conn = self._connect()
            with conn:
                conn.executemany(
                    f"INSERT INTO events (received, {', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})", rows)
        return len(rows)

    def count(self) -> dict[str, int]:
        with self._lock:
            conn = self._connect()
            return dict(conn.execute("SELECT event, COUNT(*) FROM events GROUP BY event").fetchall())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
