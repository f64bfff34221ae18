"""Ranking: orders retrieved candidates for this shopper, now.

Business signals, a profile in the joint text-image space, real-time session feedback,
multi-turn refinement, collaborative and graph models, and learning to rank. The
:class:`Ranker` attaches to an engine::

    engine = shopsearch.load("fx-index")
    Ranker(engine, log=EventLog("events.sqlite")).attach()
    engine.search("red dress", user_id="u1", session_id="s1")
    engine.search("cheaper", user_id="u1", session_id="s1")   # refines the previous query
"""

from __future__ import annotations

from shopsearch.rank.config import BoostRule, RankConfig
from shopsearch.rank.ranker import FEATURES, Ranker
from shopsearch.rank.session import SessionState, SessionStore

__all__ = ["FEATURES", "BoostRule", "RankConfig", "Ranker", "SessionState", "SessionStore"]
