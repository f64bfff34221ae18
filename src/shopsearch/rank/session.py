"""Session state for multi-turn search and real-time feedback.

A session remembers the current query (its free words and its constraints), the page last
shown (so "the second one" means something), a product the shopper pointed at ("more like
this"), and the products liked, clicked and disliked in it. Stored in memory for the library,
or in SQLite when several service workers must share it (one row per session, JSON state).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shopsearch.preprocess.query import Constraint

_MAX_LIST = 200  # feedback ids kept per kind and session
_MAX_SESSIONS = 100_000  # in-memory store bound


def constraint_to_dict(c: Constraint) -> dict[str, Any]:
    return {"fields": list(c.fields), "value": list(c.value) if isinstance(c.value, tuple) else c.value,
            "op": c.op, "text": c.text, "confidence": c.confidence, "values": list(c.values)}


def constraint_from_dict(d: dict[str, Any]) -> Constraint:
    value = d["value"]
    return Constraint(tuple(d["fields"]), tuple(value) if isinstance(value, list) else value, d["op"],
                      d["text"], float(d["confidence"]), tuple(d.get("values") or ()))


@dataclass
class SessionState:
    """One shopper session. ``base`` is the free text of the current query (constraint words
    removed); ``constraints`` its understood parts, as edited by follow-ups; ``required`` the
    parts that must hold (negations, budgets); ``anchor`` a product to look like."""

    session_id: str
    updated: float = 0.0
    turns: list[str] = field(default_factory=list)
    base: str = ""
    constraints: list[dict[str, Any]] = field(default_factory=list)
    required: list[dict[str, Any]] = field(default_factory=list)
    anchor: str | None = None
    shown: list[str] = field(default_factory=list)
    liked: list[str] = field(default_factory=list)
    clicked: list[str] = field(default_factory=list)
    disliked: list[str] = field(default_factory=list)
    note: str | None = None  # why a follow-up changed nothing (e.g. no prices to compare)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SessionState:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def feedback(self, event: str, product_id: str) -> None:
        """Apply one feedback event: a dislike also drops an earlier like and vice versa."""
        if event == "dislike":
            _push(self.disliked, product_id)
            _drop(self.liked, product_id)
            _drop(self.clicked, product_id)
        elif event in ("like", "add_to_cart", "purchase"):
            _push(self.liked, product_id)
            _drop(self.disliked, product_id)
        elif event == "click":
            _push(self.clicked, product_id)

    def chips(self) -> list[dict[str, Any]]:
        """What a UI shows: one removable chip per constraint, the anchor, the exclusions."""
        chips = [{"kind": "constraint", "label": _label(constraint_from_dict(c)), "index": i}
                 for i, c in enumerate(self.constraints)]
        chips += [{"kind": "required", "label": _label(constraint_from_dict(c)), "index": i}
                  for i, c in enumerate(self.required)]
        if self.anchor:
            chips.append({"kind": "anchor", "label": f"like {self.anchor}", "product_id": self.anchor})
        if self.disliked:
            chips.append({"kind": "hidden", "label": f"{len(self.disliked)} hidden", "count": len(self.disliked)})
        return chips

    def public(self) -> dict[str, Any]:
        """The state sent back with results."""
        return {"session_id": self.session_id, "turns": self.turns[-10:], "base": self.base,
                "chips": self.chips(), "liked": self.liked[-20:], "disliked": self.disliked[-20:],
                "note": self.note}


def _label(c: Constraint) -> str:
    field_name = c.fields[0].replace("_", " ")
    if c.op == "eq":
        return f"{field_name}: {c.value}"
    if c.op == "ne":
        return f"{field_name}: not {c.value}"
    if c.op == "range":
        lo, hi = c.value  # type: ignore[misc]
        return f"{field_name}: {lo:g}-{hi:g}"
    return f"{field_name} {'≤' if c.op == 'le' else '≥'} {float(c.value):g}"  # type: ignore[arg-type]


def _push(items: list[str], pid: str) -> None:
    if pid in items:
        items.remove(pid)
    items.append(pid)
    del items[:-_MAX_LIST]


def _drop(items: list[str], pid: str) -> None:
    if pid in items:
        items.remove(pid)


class SessionStore:
    """Sessions by id, expiring ``ttl_s`` after their last use. ``path=None`` keeps them in
    memory (one process); a path shares them between processes through SQLite (WAL mode)."""

    def __init__(self, path: str | Path | None = None, ttl_s: float = 6 * 3600.0) -> None:
        self.path = Path(path) if path is not None else None
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, str] = OrderedDict()
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, updated REAL NOT NULL, "
                         "state TEXT NOT NULL)")
            conn.commit()
            self._conn = conn
        return self._conn

    def get(self, session_id: str, now: float | None = None) -> SessionState:
        """The session's state; a fresh one when unknown or expired."""
        now = time.time() if now is None else now
        with self._lock:
            if self.path is None:
                raw = self._memory.get(session_id)
            else:
                row = self._db().execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
                raw = row[0] if row else None
        if raw is not None:
            state = SessionState.from_json(raw)
            if now - state.updated <= self.ttl_s:
                return state
        return SessionState(session_id, updated=now)

    def put(self, state: SessionState, now: float | None = None) -> None:
        state.updated = time.time() if now is None else now
        raw = state.to_json()
        with self._lock:
            if self.path is None:
                self._memory[state.session_id] = raw
                self._memory.move_to_end(state.session_id)
                while len(self._memory) > _MAX_SESSIONS:
                    self._memory.popitem(last=False)
            else:
                conn = self._db()
                with conn:
                    conn.execute("INSERT OR REPLACE INTO sessions (id, updated, state) VALUES (?, ?, ?)",
                                 (state.session_id, state.updated, raw))
                    conn.execute("DELETE FROM sessions WHERE updated < ?", (state.updated - self.ttl_s,))

    def reset(self, session_id: str) -> None:
        """Forget a session (the shopper pressed "start over")."""
        with self._lock:
            if self.path is None:
                self._memory.pop(session_id, None)
            else:
                conn = self._db()
                with conn:
                    conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
