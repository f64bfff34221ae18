"""Team-draft interleaving of two rankers, click credit, and offline replay.

Team-draft interleaving (Radlinski, Kurup & Joachims 2008): the two rankers take turns, like
captains picking teams; the one with fewer picks goes next (a coin decides when they are
level) and adds its highest-ranked result not already shown. Each shown result remembers
which team picked it. A click credits that team; an impression is won by the team with more
clicks (a tie when equal, including no clicks).

Offline replay:

* :func:`simulate_interleaving` - rankers run over judged queries, users simulated with a
  click model (:mod:`shopsearch.evaluation.clicks`) whose relevance comes from the judgements.
* :func:`replay_log` - impressions logged by a live interleaving experiment (JSONL lines
  ``{"qid", "ranking": [ids], "teams": ["a"|"b", ...], "clicks": [ids]}``) re-credited.

Both give an :class:`InterleavingResult` with wins, ties, the preference
``delta = (wins_b - wins_a) / impressions`` (> 0: B preferred) and a two-sided sign test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shopsearch.evaluation.clicks import ClickModel, PositionBasedModel
from shopsearch.evaluation.queries import EvalQuery
from shopsearch.evaluation.stats import sign_test
from shopsearch.jsonl import read_jsonl

__all__ = [
    "Interleaved",
    "InterleavingResult",
    "Ranker",
    "credit",
    "read_log",
    "replay_log",
    "simulate_interleaving",
    "team_draft",
]

Team = Literal["a", "b"]
Ranker = Callable[[EvalQuery, int], Sequence[str]]
"""``ranker(query, k)`` -> ranked product ids, best first."""


@dataclass(frozen=True)
class Interleaved:
    """The list shown to the user and, per position, the team (``"a"``/``"b"``) that picked it."""

    ranking: tuple[str, ...]
    teams: tuple[Team, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"ranking": list(self.ranking), "teams": list(self.teams)}


def team_draft(a: Sequence[str], b: Sequence[str], k: int, rng: np.random.Generator) -> Interleaved:
    """Interleave rankings ``a`` and ``b`` into at most ``k`` results (team draft).

    When one ranker runs out of unseen results the other keeps picking; the list ends when
    both have run out or ``k`` results are shown.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    shown: list[str] = []
    teams: list[Team] = []
    seen: set[str] = set()
    pointers = {"a": 0, "b": 0}
    lists: dict[Team, Sequence[str]] = {"a": a, "b": b}
    picks = {"a": 0, "b": 0}

    def next_unseen(team: Team) -> str | None:
        ranked = lists[team]
        while pointers[team] < len(ranked) and ranked[pointers[team]] in seen:
            pointers[team] += 1
        return ranked[pointers[team]] if pointers[team] < len(ranked) else None

    while len(shown) < k:
        cand_a, cand_b = next_unseen("a"), next_unseen("b")
        if cand_a is None and cand_b is None:
            break
        team: Team
        if cand_a is None or (cand_b is not None and picks["b"] < picks["a"]):
            team = "b"
        elif cand_b is None or picks["a"] < picks["b"]:
            team = "a"
        else:
            team = "a" if rng.random() < 0.5 else "b"
        pid = cand_a if team == "a" else cand_b
        assert pid is not None
        shown.append(pid)
        teams.append(team)
        seen.add(pid)
        picks[team] += 1
    return Interleaved(tuple(shown), tuple(teams))


def credit(interleaved: Interleaved, clicked: Iterable[str | int]) -> tuple[int, int]:
    """(clicks for A, clicks for B): each clicked id or 0-based position credits its team.

    Clicks on ids that were not shown raise ``ValueError``; repeated clicks count once.
    """
    position = {pid: i for i, pid in enumerate(interleaved.ranking)}
    positions: set[int] = set()
    for c in clicked:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            if not 0 <= c < len(interleaved.ranking):
                raise ValueError(f"click position {c} is outside the {len(interleaved.ranking)} shown results")
            positions.add(int(c))
        elif c in position:
            positions.add(position[c])
        else:
            raise ValueError(f"clicked id {c!r} was not in the interleaved list")
    a = sum(1 for p in positions if interleaved.teams[p] == "a")
    return a, len(positions) - a


@dataclass(frozen=True)
class InterleavingResult:
    """Outcome of many interleaved impressions: who won how often, and is it significant."""

    wins_a: int
    wins_b: int
    ties: int
    clicks_a: int
    clicks_b: int
    per_query: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def impressions(self) -> int:
        return self.wins_a + self.wins_b + self.ties

    @property
    def delta(self) -> float:
        """(wins_b - wins_a) / impressions, in [-1, 1]; > 0 means B is preferred."""
        return (self.wins_b - self.wins_a) / self.impressions if self.impressions else 0.0

    @property
    def p_value(self) -> float:
        """Two-sided sign test of wins_a vs wins_b (ties left out)."""
        return sign_test(self.wins_a, self.wins_b)

    def preferred(self, alpha: float = 0.05) -> Literal["a", "b", "none"]:
        if self.p_value >= alpha:
            return "none"
        return "b" if self.wins_b > self.wins_a else "a"

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "impressions": self.impressions, "wins_a": self.wins_a, "wins_b": self.wins_b, "ties": self.ties,
            "clicks_a": self.clicks_a, "clicks_b": self.clicks_b, "delta": self.delta,
            "p_value": self.p_value, "preferred": self.preferred(),
        }
        if per_query:
            out["per_query"] = {q: {"wins_a": v[0], "wins_b": v[1], "ties": v[2]} for q, v in self.per_query.items()}
        return out


class _Tally:
    def __init__(self) -> None:
        self.wins_a = self.wins_b = self.ties = self.clicks_a = self.clicks_b = 0
        self.per_query: dict[str, list[int]] = {}

    def add(self, qid: str, ca: int, cb: int) -> None:
        self.clicks_a += ca
        self.clicks_b += cb
        row = self.per_query.setdefault(qid, [0, 0, 0])
        if ca > cb:
            self.wins_a += 1
            row[0] += 1
        elif cb > ca:
            self.wins_b += 1
            row[1] += 1
        else:
            self.ties += 1
            row[2] += 1

    def result(self) -> InterleavingResult:
        return InterleavingResult(self.wins_a, self.wins_b, self.ties, self.clicks_a, self.clicks_b,
                                  {q: (v[0], v[1], v[2]) for q, v in self.per_query.items()})


def simulate_interleaving(
    queries: Sequence[EvalQuery],
    ranker_a: Ranker,
    ranker_b: Ranker,
    *,
    k: int = 10,
    click_model: ClickModel | None = None,
    impressions_per_query: int = 10,
    seed: int = 0,
) -> InterleavingResult:
    """Interleave A and B on every query ``impressions_per_query`` times and simulate clicks.

    Each ranker is called once per query (rankings are assumed deterministic); each impression
    draws a fresh team-draft coin sequence and fresh clicks from ``click_model`` (default: a
    position-based model) using the query's judgements as relevance.
    """
    if impressions_per_query < 1:
        raise ValueError(f"impressions_per_query must be >= 1, got {impressions_per_query}")
    if not queries:
        raise ValueError("simulate_interleaving() needs at least one query")
    model = click_model or PositionBasedModel()
    rng = np.random.default_rng(seed)
    tally = _Tally()
    for q in queries:
        a, b = list(ranker_a(q, k)), list(ranker_b(q, k))
        gains: Mapping[str, float] = q.gains if q.gains is not None else dict.fromkeys(q.relevant, 1.0)
        for _ in range(impressions_per_query):
            inter = team_draft(a, b, k, rng)
            ca, cb = credit(inter, model.clicks(inter.ranking, gains, rng))
            tally.add(q.qid, ca, cb)
    return tally.result()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """Logged impressions from JSONL; every bad line is reported in one ``ValueError``."""
    path = Path(path)
    out, problems = [], []
    for line in read_jsonl(path):
        lineno, obj = line.lineno, line.value
        if line.error is not None:
            problems.append(f"{path}:{lineno}: {line.error}")
            continue
        missing = [key for key in ("ranking", "teams", "clicks") if key not in obj] if isinstance(obj, dict) else []
        if not isinstance(obj, dict) or missing:
            problems.append(f"{path}:{lineno}: need an object with ranking, teams, clicks (missing {missing})")
            continue
        if len(obj["ranking"]) != len(obj["teams"]) or not set(obj["teams"]) <= {"a", "b"}:
            problems.append(f"{path}:{lineno}: 'teams' must be 'a'/'b' per ranking position")
            continue
        out.append(obj)
    if problems:
        raise ValueError(f"{len(problems)} problem(s) in interleaving log {path}:\n  " + "\n  ".join(problems))
    return out


def replay_log(impressions: Iterable[Mapping[str, Any]]) -> InterleavingResult:
    """Credit logged interleaved impressions (``ranking``, ``teams``, ``clicks``; ``qid`` optional)."""
    tally = _Tally()
    for i, imp in enumerate(impressions):
        inter = Interleaved(tuple(imp["ranking"]), tuple(imp["teams"]))
        ca, cb = credit(inter, imp["clicks"])
        tally.add(str(imp.get("qid", imp.get("query", i))), ca, cb)
    return tally.result()
