"""Session state for multi-turn search and real-time feedback.

A session remembers the current query (its free words and its constraints), the page last
shown (so "the second one" means something), a product the shopper pointed at ("more like
this"), and the products liked, clicked and disliked in it. Stored in memory for the library,
or in SQLite when several service workers must share it (one row per session, JSON state).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from shopsearch.preprocess.query import Constraint
from shopsearch.storage import storage_errors

_MAX_LIST = 200  # feedback ids kept per kind and session
_MAX_SESSIONS = 100_000  # in-memory store bound
QUERY_FIELDS = ("turns", "base", "constraints", "required", "anchor", "shown", "note")


def constraint_to_dict(c: Constraint) -> dict[str, Any]:
    return {"fields": list(c.fields), "value": list(c.value) if isinstance(c.value, tuple) else c.value,
            "op": c.op, "text": c.text, "confidence": c.confidence, "values": list(c.values), "kind": c.kind}


def constraint_from_dict(d: dict[str, Any]) -> Constraint:
    value = d["value"]
    return Constraint(tuple(d["fields"]), tuple(value) if isinstance(value, list) else value, d["op"],
                      d["text"], float(d["confidence"]), tuple(d.get("values") or ()), str(d.get("kind") or ""))


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
    frozen: dict[str, Any] | None = None  # the current turn's ranking (:class:`FrozenTurn`)
    version: int = 0  # bumped by every stored change
    resets: int = 0  # bumped by "start over", so a search that began before it does not undo it

    def to_json(self) -> str:
        # the fields as they are (asdict would deep-copy every list first: the frozen ranking's too)
        return json.dumps({name: getattr(self, name) for name in self.__dataclass_fields__}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SessionState:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def take_query(self, other: SessionState) -> None:
        """Adopt ``other``'s query part (turns, constraints, anchor, shown page), keeping this
        state's feedback: how a search merges its turn into a session changed meanwhile."""
        for name in QUERY_FIELDS:
            setattr(self, name, getattr(other, name))

    def clear(self) -> None:
        """Forget everything but the id ("start over")."""
        fresh = SessionState(self.session_id)
        for name in (*QUERY_FIELDS, "liked", "clicked", "disliked", "frozen"):
            setattr(self, name, getattr(fresh, name))
        self.resets += 1

    def require(self, index: int) -> None:
        """Make preference ``index`` (a constraint that ranks matching products up) a filter
        that must hold (the shopper turned a preference chip into a filter)."""
        if not 0 <= index < len(self.constraints):
            raise IndexError(f"session {self.session_id!r} has no constraint chip {index} "
                             f"(it has {len(self.constraints)})")
        self.required.append(self.constraints.pop(index))

    def query_key(self) -> str:
        """A digest of what shapes this session's results (turns, free words, constraints,
        anchor, resets; not the dislikes, which only hide products): equal keys mean the same
        query, so a frozen ranking of it still answers."""
        part = [len(self.turns), self.resets, self.base, self.constraints, self.required, self.anchor]
        return hashlib.sha1(json.dumps(part, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]

    def frozen_turn(self) -> FrozenTurn | None:
        return FrozenTurn.from_dict(self.frozen) if self.frozen else None

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
        chips = [{"kind": kind, "label": _label(constraint_from_dict(c)), "index": i, "field": c["fields"][0],
                  "op": c["op"], "value": c["value"], "text": c["text"], "confidence": c["confidence"]}
                 for kind, items in (("constraint", self.constraints), ("required", self.required))
                 for i, c in enumerate(items)]
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


@dataclass(frozen=True)
class FrozenTurn:
    """One turn's ranking, kept so that its pages, facet filters and sorts never reorder it.

    ``key``: the session's :meth:`SessionState.query_key` it ranks; ``ids`` and ``scores``
    the ranked products (best first); ``generation``: the engine's catalog generation (a
    changed catalog ranks again); ``options``: the search options that shaped it (constraint
    mode, relevance floor); ``weak``: the relevance floor found no good match; ``parsed``,
    ``signals``, ``facet_fields`` and ``price_edges``: what the first page reported."""

    key: str
    ids: tuple[str, ...]
    scores: tuple[float, ...]
    generation: int
    options: str
    weak: bool = False
    parsed: dict[str, Any] | None = None
    signals: tuple[str, ...] = ()
    facet_fields: tuple[str, ...] = ()
    price_edges: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies each of the hundreds of ids (a third of a search's time)
        return {"key": self.key, "ids": list(self.ids), "scores": list(self.scores), "generation": self.generation,
                "options": self.options, "weak": self.weak, "parsed": self.parsed, "signals": list(self.signals),
                "facet_fields": list(self.facet_fields), "price_edges": list(self.price_edges)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrozenTurn:
        return cls(str(d["key"]), tuple(d["ids"]), tuple(float(x) for x in d["scores"]), int(d["generation"]),
                   str(d["options"]), bool(d.get("weak")), d.get("parsed"), tuple(d.get("signals") or ()),
                   tuple(d.get("facet_fields") or ()), tuple(float(x) for x in d.get("price_edges") or ()))


def _label(c: Constraint) -> str:
    field_name = c.fields[0].replace("_", " ")
    if c.op == "eq":
        return f"{field_name}: {c.value}"
    if c.op == "ne":
        return f"{field_name}: not {c.value}"
    if c.op == "range":
        lo, hi = c.value  # type: ignore[misc,str-unpack]
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
        self._memory: LRUCache[str, str] = LRUCache(maxsize=_MAX_SESSIONS)  # least recently used go first
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, updated REAL NOT NULL, "
                             "state TEXT NOT NULL)")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def get(self, session_id: str, now: float | None = None) -> SessionState:
        """The session's state; a fresh one when unknown or expired."""
        now = time.time() if now is None else now
        with self._lock:
            if self.path is None:
                raw = self._memory.get(session_id)
            else:
                with storage_errors("sessions (reading)"):
                    row = self._db().execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
                raw = row[0] if row else None
        return self._fresh(raw, session_id, now)

    def update(
        self, session_id: str, change: Callable[[SessionState], bool | None], now: float | None = None,
    ) -> SessionState:
        """Atomically read the session, apply ``change`` (which edits it in place and may return
        False to leave the stored state alone) and store it with its version bumped. Atomic for
        the threads of this process (a lock) and for other processes (an IMMEDIATE transaction).
        Raises :class:`~shopsearch.storage.StorageError` (nothing stored) when the disk is full."""
        now = time.time() if now is None else now
        with self._lock:
            if self.path is None:
                state = self._fresh(self._memory.get(session_id), session_id, now)
                if change(state) is False:
                    return state
                state.version += 1
                state.updated = now
                self._memory[session_id] = state.to_json()
                return state
            with storage_errors("sessions"):
                conn = self._db()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
                    state = self._fresh(row[0] if row else None, session_id, now)
                    if change(state) is False:
                        conn.execute("ROLLBACK")
                        return state
                    state.version += 1
                    state.updated = now
                    conn.execute("INSERT OR REPLACE INTO sessions (id, updated, state) VALUES (?, ?, ?)",
                                 (session_id, now, state.to_json()))
                    conn.execute("DELETE FROM sessions WHERE updated < ?", (now - self.ttl_s,))
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            return state

    def _fresh(self, raw: str | None, session_id: str, now: float) -> SessionState:
        if raw is not None:
            state = SessionState.from_json(raw)
            if now - state.updated <= self.ttl_s:
                return state
            return SessionState(session_id, updated=now, version=state.version)
        return SessionState(session_id, updated=now)

    def reset(self, session_id: str) -> SessionState:
        """Forget a session's query and feedback (the shopper pressed "start over")."""
        return self.update(session_id, SessionState.clear)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
