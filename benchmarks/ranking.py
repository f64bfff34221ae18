"""Ranking on SIMULATED shoppers over the shared fashion catalog: personalised vs plain.

    python benchmarks/ranking.py [--index work/fx-onnx] [--users 300] [--cold-users 100] [--seed 0]

THESE ARE SIMULATION NUMBERS. There is no real interaction log: users, sessions, clicks and
graded relevance come from :mod:`shopsearch.rank.simulate` (its docstring states every
distribution), and business facts (price, rating, stock, listing date) are drawn per product.
The simulated relevance reads the same facts as the ranker's features (stock, rating, freshness,
price band, facets), so the ranker is rewarded by construction; the results say so (``CIRCULARITY``).

Steps, all seeded:

1. ``--users`` simulated users get ``--train-sessions`` sessions each over 48 days; they search
   with the plain retrieval order (randomised logging: 20% of searches show 10 random results of
   the top 30 in random order),
   and their impressions, clicks, carts, purchases, likes and dislikes form the training log.
2. ``train_ranker`` fits CF (implicit ALS), the graph model (LightGCN on multimodal product
   features) and LambdaMART (with inverse-propensity weights) from that log.
3. Held-out sessions (``--test-sessions`` per user, the 9 days after training) of the same users,
   and sessions of ``--cold-users`` new users, are run through each system. Every system sees
   the same sessions and the same click noise (common random numbers); its feedback goes into
   its own copy of the log (real-time session and profile updates). Metrics: nDCG@10 against the
   simulator's graded relevance, clicks per query and the share of queries with a click,
   paired randomisation tests against the plain order.
4. Team-draft interleaving of plain (A) and personalised LTR (B) on the held-out sessions,
   with a sign test; ranking latency added per query.

Writes ``benchmarks/results/ranking.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Run, Stopwatch, percentile, stopwatch

import shopsearch
from shopsearch.evaluation.interleaving import InterleavingResult, credit, team_draft
from shopsearch.evaluation.stats import randomization_test
from shopsearch.rank.config import COMPONENTS, RankConfig
from shopsearch.rank.events import EventLog
from shopsearch.rank.ranker import Ranker
from shopsearch.rank.simulate import SimCatalog, SimConfig, Simulator, plain_search
from shopsearch.rank.train import train_ranker

DAY = 86400.0
NOTE = "SIMULATION: simulated shoppers and simulated business facts (shopsearch.rank.simulate); not real users"
BASELINE = "the plain retrieval order (no ranker), on the same simulated sessions and click noise"
# The simulator's relevance reads the facts the ranker's features read: results must say so.
CIRCULARITY = (
    "**Caveat: the simulated relevance uses the ranker's own features.** The simulator grades a product "
    "from the same facts the ranker scores: stock (out of stock = grade 0; the ranker's `in_stock` "
    "feature and its out-of-stock demotion), rating (`0.3 (rating - 4)` in the utility; the `rating` "
    "feature), freshness (+0.2 when listed under 30 days; `freshness`), price band (`price_fit`, "
    "`user_price_fit`) and the facets (article type, gender and colour decide relevance; colour, usage "
    "and brand affinities add utility; the profile and session similarities and `constraint_match` read "
    "the same facets). A ranker using these features is rewarded by construction, so the gains over the "
    "plain order, the business-signal rows and the ablations measure agreement with this model, not what "
    "real shoppers would do; compare rankers with each other under it, not with real traffic."
)


def feedback_sink(ranker: Ranker) -> Any:
    """The simulator's events go through ``Ranker.record``, as the service's feedback does: the
    session state and the user's profile change at once; popularity follows within its TTL."""
    return ranker.record


def summarise(outcomes: list[Any]) -> dict[str, float]:
    return {
        "queries": len(outcomes),
        "ndcg@10": float(np.mean([o.ndcg for o in outcomes])) if outcomes else 0.0,
        "clicks_per_query": float(np.mean([len(o.clicked) for o in outcomes])) if outcomes else 0.0,
        "ctr_any_click": float(np.mean([len(o.clicked) > 0 for o in outcomes])) if outcomes else 0.0,
    }


def run_system(name: str, engine: Any, sim: Simulator, sessions: dict[str, list[Any]], train_log: Path,
               work: Path, models: Path | None, config: RankConfig | None, info: dict[str, Any]) -> dict[str, Any]:
    """Run every session group through one system; returns metrics and per-query nDCG."""
    out: dict[str, Any] = {"system": name}
    timer = Stopwatch()
    for group, planned in sessions.items():
        if config is None:
            engine.ranker = None
            plain = plain_search(engine)
            outcomes = sim.run(planned, plain)
        else:
            slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower())[:60]
            copy = work / f"eval-{slug}-{group}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{copy}{suffix}").unlink(missing_ok=True)
            shutil.copy(train_log, copy)
            log = EventLog(copy)
            ranker = Ranker(engine, log=log, models_dir=models, config=config, product_info=info).attach()

            def search(text: str, user_id: str | None, session_id: str | None, k: int) -> list[str]:
                return engine.search(text, k=k, facets=False, user_id=user_id, session_id=session_id).ids()

            outcomes = sim.run(planned, search, sink=feedback_sink(ranker))
            engine.ranker = None
            log.close()
        out[group] = summarise(outcomes)
        out[f"_{group}_ndcg"] = [o.ndcg for o in outcomes]
        out[f"_{group}_clicks"] = [len(o.clicked) for o in outcomes]
    out["seconds"] = round(timer.elapsed, 1)
    logging.getLogger("ranking").warning("%-40s warm nDCG@10 %.4f  cold %.4f  (%.0fs)", name,
                                         out["warm"]["ndcg@10"], out.get("cold", {}).get("ndcg@10", float("nan")),
                                         out["seconds"])
    return out


def interleave(engine: Any, sim: Simulator, planned: list[Any], train_log: Path, work: Path, models: Path,
               info: dict[str, Any], seed: int, config: RankConfig, label: str) -> dict[str, Any]:
    """Team draft: A = plain retrieval order, B = a personalised ranking; clicks from the simulator."""
    copy = work / f"eval-interleave-{len(config.components)}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copy(train_log, copy)
    ranker = Ranker(engine, log=EventLog(copy), models_dir=models, config=config, product_info=info).attach()
    plain = plain_search(engine)
    rng = np.random.default_rng(seed)
    shown: list[Any] = []

    def search(text: str, user_id: str | None, session_id: str | None, k: int) -> list[str]:
        a = plain(text, user_id, session_id, k)
        b = engine.search(text, k=k, facets=False, user_id=user_id, session_id=session_id).ids()
        inter = team_draft(a, b, k, rng)
        shown.append(inter)
        return list(inter.ranking)

    outcomes = sim.run(planned, search, sink=feedback_sink(ranker))
    engine.ranker = None
    wins_a = wins_b = ties = clicks_a = clicks_b = 0
    for inter, o in zip(shown, outcomes):
        ca, cb = credit(inter, list(o.clicked))
        clicks_a += ca
        clicks_b += cb
        if ca > cb:
            wins_a += 1
        elif cb > ca:
            wins_b += 1
        else:
            ties += 1
    result = InterleavingResult(wins_a, wins_b, ties, clicks_a, clicks_b)
    d = result.to_dict()
    decided = wins_a + wins_b
    d["share_of_wins_b"] = wins_b / decided if decided else 0.0
    d["a"], d["b"] = "plain retrieval order", label
    return d


def latency(engine: Any, models: Path, train_log: Path, work: Path, info: dict[str, Any], queries: list[Any],
            users: list[str]) -> dict[str, Any]:
    """Wall time per search, plain vs personalised (alternating, same queries, warm caches)."""
    copy = work / "eval-latency.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copy(train_log, copy)
    ranker = Ranker(engine, log=EventLog(copy), models_dir=models, config=RankConfig(), product_info=info).attach()
    plain_ms, ranked_ms = [], []
    for i, (q, user) in enumerate(zip(queries, users)):
        engine.search(q, k=10, facets=False, rerank=False)  # warm the query-vector cache for both
        with stopwatch() as sw:
            engine.search(q, k=10, facets=False, rerank=False)
        plain_ms.append(sw.ms)
        with stopwatch() as sw:
            engine.search(q, k=10, facets=False, user_id=user, session_id=f"lat-{i}")
        ranked_ms.append(sw.ms)
    engine.ranker = None
    del ranker
    added = np.array(ranked_ms) - np.array(plain_ms)
    return {"queries": len(queries), "plain_ms_median": percentile(plain_ms, 50),
            "plain_ms_p95": percentile(plain_ms, 95),
            "personalised_ms_median": percentile(ranked_ms, 50),
            "personalised_ms_p95": percentile(ranked_ms, 95),
            "added_ms_median": percentile(added, 50), "added_ms_p95": percentile(added, 95)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default="work/fx-onnx", help="index directory (default work/fx-onnx)")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--cold-users", type=int, default=100)
    ap.add_argument("--train-sessions", type=int, default=10)
    ap.add_argument("--test-sessions", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="work/rank-bench", help="scratch folder for logs and models")
    ap.add_argument("--out", default="ranking", help="results file stem in benchmarks/results/")
    ap.add_argument("--no-ablation", action="store_true", help="skip the per-component ablation runs")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the training log and models in --work from an earlier run with the same "
                         "arguments on the same day (the simulation is seeded, so they are identical)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    run = Run("ranking", baseline=BASELINE)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t_start = Stopwatch()

    engine = shopsearch.load(args.index)
    products = [p for p, ok in zip(engine.products, engine.alive) if ok]
    config = SimConfig(seed=args.seed, shuffle_prob=0.2, shuffle_top=30)
    sim = Simulator(SimCatalog(products, seed=args.seed, p_out_of_stock=config.p_out_of_stock), config)
    # The timeline ends a day before today (the ranker's clock is the real one); whole days keep it stable.
    t_end = (time.time() // DAY) * DAY - DAY
    t0 = t_end - 60 * DAY
    facts = sim.catalog.with_facts(t_end)
    info = {p.id: {"price": p.price, "rating": p.rating, "stock": p.stock, "created": p.extra["created_at"]}
            for p in facts}
    users = sim.make_users(args.users, prefix="u")
    cold = sim.make_users(args.cold_users, prefix="c")
    train_sessions = sim.make_sessions(users, args.train_sessions, t0, 48.0, tag="t")
    held_out = {"warm": sim.make_sessions(users, args.test_sessions, t0 + 50 * DAY, 9.0, tag="h"),
                "cold": sim.make_sessions(cold, args.test_sessions, t0 + 50 * DAY, 9.0, tag="h")}

    # 1. the training log, from the plain order with randomised logging
    train_log = work / "train.db"
    models, models_noipw = work / "models", work / "models-noipw"
    reuse = args.reuse and train_log.is_file() and (models / "model.json").is_file() and (
        models_noipw / "model.json").is_file()
    t = Stopwatch()
    logged: list[Any]  # searches in the training log (their queries when the log is reused)
    if reuse:
        logged = [q for s in train_sessions for q in s.queries]
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{train_log}{suffix}").unlink(missing_ok=True)
        log = EventLog(train_log)
        logged = sim.run(train_sessions, plain_search(engine), sink=log.append, randomize=True)
        log.close()
    counts = EventLog(train_log).count()
    print(f"training log: {len(logged)} searches, {counts} ({t.elapsed:.0f}s, reused: {reuse})")

    # 2. train CF + graph + LTR (with and without position-bias correction)
    t = Stopwatch()
    if reuse:
        card = json.loads((models / "model.json").read_text(encoding="utf-8"))
        card_noipw = json.loads((models_noipw / "model.json").read_text(encoding="utf-8"))
        train_s = float(card["seconds"])
    else:
        shutil.rmtree(models, ignore_errors=True)
        card = train_ranker(train_log, None, models, engine=engine, product_info=info, note=NOTE, seed=args.seed)
        train_s = t.elapsed
        shutil.rmtree(models_noipw, ignore_errors=True)
        card_noipw = train_ranker(train_log, None, models_noipw, engine=engine, product_info=info, note=NOTE,
                                  seed=args.seed, position_bias="none")
    print(f"trained in {train_s:.0f}s; propensities {card['position_bias']['propensities']}")

    # 3. systems on the held-out sessions
    hand = tuple(c for c in COMPONENTS if c != "ltr")
    systems: list[tuple[str, Path | None, RankConfig | None]] = [
        ("plain retrieval (no ranker)", None, None),
        ("business signals only (non-personalised)", models, RankConfig(components=("business",))),
        ("hand-tuned fusion, all components", models, RankConfig(components=hand)),
        ("LTR (LambdaMART + IPW), all components", models, RankConfig()),
        ("LTR without position-bias correction", models_noipw, RankConfig()),
        # LTR only learned from the top 30 (the randomised logging's range): rerank just those
        ("LTR (LambdaMART + IPW), rerank depth 30", models, RankConfig(depth=30)),
        ("LTR without position-bias correction, depth 30", models_noipw, RankConfig(depth=30)),
        ("hand-tuned fusion, all components, depth 30", models, RankConfig(components=hand, depth=30)),
    ]
    if not args.no_ablation:
        for c in hand:
            systems.append((f"hand-tuned fusion without {c}", models,
                            RankConfig(components=tuple(x for x in hand if x != c))))
        for c in hand:
            systems.append((f"LTR without {c} (feature knocked out)", models,
                            RankConfig(components=tuple(x for x in COMPONENTS if x != c))))
    rows = [run_system(name, engine, sim, held_out, train_log, work, m, cfg, info) for name, m, cfg in systems]
    base = rows[0]
    for r in rows:
        for group in ("warm", "cold"):
            r[group]["delta_ndcg_vs_plain"] = r[group]["ndcg@10"] - base[group]["ndcg@10"]
            r[group]["p_ndcg_vs_plain"] = (1.0 if r is base else randomization_test(
                base[f"_{group}_ndcg"], r[f"_{group}_ndcg"], n_samples=10_000, seed=args.seed))
            r[group]["p_clicks_vs_plain"] = (1.0 if r is base else randomization_test(
                base[f"_{group}_clicks"], r[f"_{group}_clicks"], n_samples=10_000, seed=args.seed))
    ltr_row = rows[3]
    hand_row = rows[2]
    ltr_vs_hand = {g: {"delta_ndcg": ltr_row[g]["ndcg@10"] - hand_row[g]["ndcg@10"],
                       "p": randomization_test(hand_row[f"_{g}_ndcg"], ltr_row[f"_{g}_ndcg"], seed=args.seed)}
                   for g in ("warm", "cold")}

    # 4. interleaving and latency
    inter = [interleave(engine, sim, held_out["warm"], train_log, work, models, info, args.seed,
                        RankConfig(components=hand), "personalised hand-tuned fusion, all components"),
             interleave(engine, sim, held_out["warm"], train_log, work, models, info, args.seed,
                        RankConfig(), "personalised LTR (LambdaMART + IPW), all components")]
    sample = [(q.text, s.user_id) for s in held_out["warm"] for q in s.queries][:300]
    lat = latency(engine, models, train_log, work, info, [q for q, _ in sample], [u for _, u in sample])

    grades = [int(g) for s in held_out["warm"][:200] for q in s.queries
              for g in np.bincount(sim.grades(s.user_id, q), minlength=4)]
    result = {
        "note": NOTE,
        "index": args.index,
        "seed": args.seed,
        "simulation": {"config": {k: getattr(config, k) for k in config.__dataclass_fields__},
                       "users": args.users, "cold_users": args.cold_users, "train_sessions_per_user":
                       args.train_sessions, "test_sessions_per_user": args.test_sessions,
                       "train_searches": len(logged), "train_events": counts,
                       "simulated_fields": sim.catalog.simulated,
                       "grade_counts_per_query_0_1_2_3": np.array(grades).reshape(-1, 4).sum(axis=0).tolist()},
        "training": {"seconds": round(train_s, 1), "card": card,
                     "card_without_ipw": {"position_bias": card_noipw["position_bias"]}},
        "systems": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
        "ltr_vs_hand_tuned": ltr_vs_hand,
        "interleaving": inter,
        "latency": lat,
        "seconds_total": round(t_start.elapsed, 1),
        "caveat": CIRCULARITY.replace("**", ""),
    }
    run.write(result, markdown(result), stem=args.out)
    print(markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    sim = r["simulation"]
    lines = [
        "# Ranking on simulated shoppers (SIMULATION NUMBERS)",
        "",
        f"**{r['note']}.** Fashion catalog index `{r['index']}`, seed {r['seed']}. "
        f"{sim['users']} simulated users with {sim['train_sessions_per_user']} training sessions each "
        f"({sim['train_searches']} logged searches, plain retrieval order; 20% of searches showed 10 random "
        "results of the top 30 in random order); "
        f"evaluation on {sim['test_sessions_per_user']} held-out sessions per user (the days after training) "
        f"and on {sim['cold_users']} new (cold-start) users. Relevance, clicks and business facts "
        "(price, rating, stock, listing date) are all drawn by `shopsearch.rank.simulate`; see its docstring.",
        "",
        "nDCG@10 uses the simulator's graded relevance (0-3); clicks come from its position-based click model. "
        "p: paired randomisation test against the plain order (10,000 sign flips).",
        "",
        CIRCULARITY,
        "",
        "| system | warm nDCG@10 | Δ vs plain | p | clicks/query | queries with a click | cold nDCG@10 | Δ cold | "
        "cold clicks/query |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in r["systems"]:
        w, c = s["warm"], s["cold"]
        lines.append(f"| {s['system']} | {w['ndcg@10']:.4f} | {w['delta_ndcg_vs_plain']:+.4f} | "
                     f"{w['p_ndcg_vs_plain']:.4f} | {w['clicks_per_query']:.3f} | {w['ctr_any_click']:.3f} | "
                     f"{c['ndcg@10']:.4f} | {c['delta_ndcg_vs_plain']:+.4f} | {c['clicks_per_query']:.3f} |")
    lv = r["ltr_vs_hand_tuned"]
    lat = r["latency"]
    by_name = {s["system"]: s for s in r["systems"]}
    full: dict[str, Any] = {"hand-tuned": by_name.get("hand-tuned fusion, all components"),
                            "LTR": by_name.get("LTR (LambdaMART + IPW), all components")}
    ablation = []
    for c in ("business", "profile", "session", "cf", "graph"):
        hand = by_name.get(f"hand-tuned fusion without {c}")
        ltr = by_name.get(f"LTR without {c} (feature knocked out)")
        if hand is None or ltr is None or full["hand-tuned"] is None or full["LTR"] is None:
            continue
        cells = [f"{full[k][g]['ndcg@10'] - row[g]['ndcg@10']:+.4f}"
                 for k, row in (("hand-tuned", hand), ("LTR", ltr)) for g in ("warm", "cold")]
        ablation.append(f"| {c} | " + " | ".join(cells) + " |")
    ltr_meta = r["training"]["card"]["ltr"]
    lines += [
        "",
        f"Queries: {r['systems'][0]['warm']['queries']} warm, {r['systems'][0]['cold']['queries']} cold.",
        "",
        "## Each component's contribution (nDCG@10 lost when it is removed)",
        "",
        "Hand-tuned fusion: the component is switched off (`RankConfig.components`). LTR: the same switch "
        "at serving time, so the trained model sees that feature at its neutral value (a knock-out, not a "
        "retrained model). CF and graph scores are 0 for new users, so they cannot change cold-start rows.",
        "",
        "| component | hand-tuned, warm | hand-tuned, cold | LTR, warm | LTR, cold |",
        "|---|---:|---:|---:|---:|",
        *ablation,
        "",
        f"The learned model stopped after {ltr_meta.get('best_iteration')} boosting rounds (early stopping on the "
        f"newest {ltr_meta.get('valid_groups')} logged searches, click nDCG@10 "
        f"{(ltr_meta.get('valid_ndcg@10') or 0.0):.3f}); features with zero gain in it (e.g. "
        + ", ".join(f for f, g in ltr_meta.get("importance_gain", {}).items() if g == 0.0)
        + ") cannot change its ranking.",
        "",
        "## LTR vs hand-tuned fusion",
        "",
        f"Warm users: Δ nDCG@10 (LTR - hand-tuned) = {lv['warm']['delta_ndcg']:+.4f} (p = {lv['warm']['p']:.4f}); "
        f"cold users: {lv['cold']['delta_ndcg']:+.4f} (p = {lv['cold']['p']:.4f}).",
        "",
        "## Team-draft interleaving (A = plain retrieval order, B = personalised), warm held-out sessions",
        "",
        "| B | impressions | B wins | A wins | ties | share of decided won by B | clicks B | clicks A | "
        "sign test p |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {i['b']} | {i['impressions']} | {i['wins_b']} | {i['wins_a']} | {i['ties']} | "
          f"{i['share_of_wins_b']:.3f} | {i['clicks_b']} | {i['clicks_a']} | {i['p_value']:.2e} |"
          for i in r["interleaving"]],
        "",
        "## Ranking latency added per query (personalised LTR vs plain, same queries)",
        "",
        f"Plain search median {lat['plain_ms_median']:.1f} ms (p95 {lat['plain_ms_p95']:.1f}); personalised "
        f"median {lat['personalised_ms_median']:.1f} ms (p95 {lat['personalised_ms_p95']:.1f}); added median "
        f"{lat['added_ms_median']:.1f} ms, p95 {lat['added_ms_p95']:.1f} ms over {lat['queries']} queries "
        "(2-core machine shared with other work; query vectors cached for both; a new session per query, "
        "so no feedback is recorded between the timed searches). Not included: recomputing popularity after "
        "`Ranker.record()` drops its cache, which read the whole recent log and cost ~140 ms per search in "
        "an earlier run (238 s instead of 22 s for the same 1,542 queries) until the benchmark kept the cache "
        "between simulated queries (`feedback_sink`).",
        "",
        "## Position bias",
        "",
        f"Estimated examination propensities (rank 1..10, relative to rank 1): "
        f"{r['training']['card']['position_bias']['propensities']['theta']} "
        f"({r['training']['card']['position_bias']['propensities']['method']}); the simulator's true model is "
        f"1/rank^{sim['config']['eta']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
