"""``shopsearch eval``, ``compare``, ``report`` and ``interleave``: thin calls into the library.

``add_eval_parsers(subparsers)`` registers the four subcommands on the main CLI's subparsers.

* ``eval INDEX QUERIES`` - score one or more systems (``--system``) on judged queries (JSONL, or
  a ``qid<TAB>text`` topics file with ``--qrels``); ``--run-out`` writes TREC runs, ``--out``
  a results file for ``report``; two or more systems are compared with paired tests.
  ``--json`` with one system prints exactly the metrics object it always did.
* ``compare FILE...`` - paired comparison of saved results files or TREC run files.
* ``report RESULTS... --out report.html`` (or ``.md``) - tables, plots and thumbnails.
* ``interleave`` - team-draft interleaving of two systems over simulated clicks, or replay of
  a logged interleaving experiment (``--replay LOG``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["add_eval_parsers", "cmd_compare", "cmd_eval", "cmd_interleave", "cmd_report"]


def _load_queries(path: str, qrels: str | None) -> list[Any]:
    from shopsearch.evaluation.queries import load_queries
    from shopsearch.evaluation.trec import apply_qrels, read_qrels, read_topics, topics_to_queries

    if path.endswith((".jsonl", ".json")):
        queries = load_queries(path)
    else:
        if qrels is None:
            raise ValueError(f"{path} is not JSONL; a qid<TAB>text topics file needs --qrels")
        queries = topics_to_queries(read_topics(path))
    return apply_qrels(queries, read_qrels(qrels)) if qrels else queries


def _run_path(template: str, name: str, several: bool) -> Path:
    path = Path(template)
    return path.with_name(f"{path.stem}.{name}{path.suffix}") if several else path


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def cmd_eval(args: argparse.Namespace) -> int:
    from shopsearch.evaluation.compare import compare_reports, comparison_table
    from shopsearch.evaluation.evaluate import evaluate
    from shopsearch.evaluation.results import RunResults, save_results
    from shopsearch.evaluation.systems import EngineSystems, SystemSpec, parse_system
    from shopsearch.evaluation.trec import write_run

    queries = _load_queries(args.queries, args.qrels)
    specs = [parse_system(s) for s in args.system] if args.system else [SystemSpec(name="default")]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"system names must be unique, got {names}")
    depth = args.depth if args.depth is not None else (max(args.k, 100) if (args.out or args.run_out) else args.k)
    base = None
    if args.config:
        from shopsearch.config import SearchConfig

        base = SearchConfig.load(args.config)
    systems = EngineSystems(args.index, filters=args.filter, base=base)
    runs: list[RunResults] = []
    for spec in specs:
        report = evaluate(systems.search_fn(spec), queries, k=args.k, depth=depth, progress=args.progress)
        info = {"system": spec.to_dict(), "index": str(args.index), "queries": str(args.queries), "depth": depth}
        if args.qrels:
            info["qrels"] = str(args.qrels)
        runs.append(RunResults(spec.name, report, {}, info))
        if args.run_out:
            out = _run_path(args.run_out, spec.name, len(specs) > 1)
            n = write_run({row["qid"]: row["retrieved"] for row in report.per_query}, out, tag=spec.name,
                          scores={row["qid"]: row.get("scores") for row in report.per_query})
            logger.info("wrote %d run lines to %s", n, out)
    seen_products = systems.products
    runs = [RunResults(r.name, r.report, {pid: seen_products[pid] for row in r.report.per_query
                                          for pid in row["retrieved"] if pid in seen_products}, r.info)
            for r in runs]
    comparisons = []
    if len(runs) > 1:
        comparisons = compare_reports({r.name: r.report for r in runs}, baseline=args.baseline,
                                      n_samples=args.samples, seed=args.seed, confidence=args.confidence)
    if args.out:
        save_results(args.out, runs, comparisons)

    if args.json:
        if len(runs) == 1 and not args.per_query:
            _print_json(runs[0].report.metrics)  # the shape `shopsearch eval --json` always printed
        else:
            _print_json({
                "systems": {r.name: r.report.to_dict(per_query=args.per_query) for r in runs},
                "comparisons": [c.to_dict() for c in comparisons],
            })
        return 0
    for r in runs:
        if len(runs) > 1:
            print(f"== {r.name}")
        print(r.report.to_table(group_by=args.group_by))
        if args.per_query:
            metric = f"ndcg@{args.k}"
            for row in r.report.per_query:
                recall = row["metrics"][f"recall@{args.k}"]
                print(f"  {row['qid']:<12} {metric}={row['metrics'][metric]:.4f} recall@{args.k}={recall:.4f}  "
                      f"{row.get('text') or row.get('image')}")
        print()
    if comparisons:
        print(comparison_table(comparisons))
    return 0


def _reports_from_files(args: argparse.Namespace) -> dict[str, Any]:
    """Results files as they are; TREC run files scored against --queries/--qrels."""
    from shopsearch.evaluation.evaluate import evaluate
    from shopsearch.evaluation.results import load_results
    from shopsearch.evaluation.trec import read_run

    reports: dict[str, Any] = {}
    queries = None
    for raw in args.files:
        path = Path(raw)
        if path.suffix.lower() == ".json":
            for run in load_results([path]):
                reports[run.name] = run.report
            continue
        if queries is None:
            if not args.queries:
                raise ValueError(f"{path} is a TREC run: give --queries (JSONL or topics) and/or --qrels to score it")
            queries = _load_queries(args.queries, args.qrels)
        trec_run = read_run(path)

        def ranked(q: Any, k: int, trec_run: dict[str, list[tuple[str, float]]] = trec_run) -> list[str]:
            return [doc for doc, _ in trec_run.get(q.qid, [])][:k]

        name = path.stem if path.stem not in reports else str(path)
        reports[name] = evaluate(ranked, queries, k=args.k)
    return reports


def cmd_compare(args: argparse.Namespace) -> int:
    from shopsearch.evaluation.compare import compare_reports, comparison_table

    reports = _reports_from_files(args)
    comps = compare_reports(reports, baseline=args.baseline, metrics=args.metric or None,
                            n_samples=args.samples, seed=args.seed, confidence=args.confidence)
    if args.json:
        _print_json({"comparisons": [c.to_dict() for c in comps]})
    else:
        print(comparison_table(comps))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from shopsearch.evaluation.report import write_report
    from shopsearch.evaluation.results import load_results

    runs = load_results(args.results)
    for out in args.out:
        path = write_report(runs, out, title=args.title, group_by=args.group_by, n_examples=args.examples,
                            n_samples=args.samples, seed=args.seed)
        print(f"wrote {path}")
    return 0


def cmd_interleave(args: argparse.Namespace) -> int:
    from shopsearch.evaluation.clicks import create_click_model
    from shopsearch.evaluation.interleaving import read_log, replay_log, simulate_interleaving
    from shopsearch.evaluation.systems import EngineSystems, SystemSpec, parse_system

    if args.replay:
        result = replay_log(read_log(args.replay))
    else:
        if not (args.index and args.queries):
            raise ValueError("interleave needs INDEX and QUERIES (or --replay LOG)")
        queries = _load_queries(args.queries, args.qrels)
        systems = EngineSystems(args.index, filters=args.filter)
        spec_a = parse_system(args.a) if args.a else SystemSpec(name="a")
        spec_b = parse_system(args.b) if args.b else SystemSpec(name="b")
        fn_a, fn_b = systems.search_fn(spec_a), systems.search_fn(spec_b)
        result = simulate_interleaving(
            queries, lambda q, k: fn_a(q, k).ids(), lambda q, k: fn_b(q, k).ids(), k=args.k,
            click_model=create_click_model(args.click_model), impressions_per_query=args.impressions, seed=args.seed,
        )
    if args.json:
        _print_json(result.to_dict())
    else:
        d = result.to_dict()
        print(f"{d['impressions']} impressions: A wins {d['wins_a']}, B wins {d['wins_b']}, ties {d['ties']}; "
              f"clicks A {d['clicks_a']} / B {d['clicks_b']}")
        print(f"delta (B - A) = {d['delta']:+.4f}, sign test p = {d['p_value']:.3g}; preferred: {d['preferred']}")
    return 0


def _add_stats_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", help="system every other is compared with (default: the first)")
    p.add_argument("--samples", type=int, default=10_000, help="randomisation/bootstrap samples (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Monte-Carlo tests")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals")


def add_eval_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``eval``, ``compare``, ``report`` and ``interleave`` to a CLI's subparsers."""
    p = subparsers.add_parser(
        "eval", help="evaluate an index against queries with relevance judgements",
        description="Score systems on judged queries; compare two or more with paired significance tests.",
    )
    p.add_argument("index", help="index directory")
    p.add_argument("queries", help="JSONL: {qid, query?, image?, relevant: [ids] | {id: gain}} per line; "
                                   "or a qid<TAB>text topics file with --qrels")
    p.add_argument("--qrels", help="TREC qrels (qid 0 docid relevance): judgements replace the queries' own")
    p.add_argument("--k", type=int, default=10, help="cut-off for @k metrics")
    p.add_argument("--depth", type=int, help="results retrieved and kept per query (default: 100 with --out or "
                                             "--run-out, else k); metrics still use the top k")
    p.add_argument("--filter", action="append", metavar="EXPR", help="filter applied to every query")
    p.add_argument("--system", action="append", metavar="NAME[=JSON|=@FILE]",
                   help="a system to evaluate (repeatable): SearchConfig fields and search options, e.g. "
                        "bm25='{\"signals\": [\"lexical\"]}'; default: one system with the engine defaults")
    p.add_argument("--config", type=Path, help="settings file (shopsearch.toml, or JSON): its [search] table is the "
                                               "search settings every system starts from")
    p.add_argument("--run-out", metavar="FILE", help="write a TREC run (qid Q0 docid rank score tag); with several "
                                                     "systems one file each, FILE.stem.NAME.suffix")
    p.add_argument("--out", metavar="RESULTS.json", help="write a results file for `shopsearch report`")
    p.add_argument("--per-query", action="store_true", help="show per-query results")
    p.add_argument("--group-by", default=None, metavar="KEY", help="break the table down by a query key (template)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    _add_stats_options(p)
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("compare", help="paired significance tests between saved results or TREC runs")
    p.add_argument("files", nargs="+", help="results files (.json from `eval --out`) or TREC run files")
    p.add_argument("--queries", help="queries (JSONL or topics) to score TREC runs with")
    p.add_argument("--qrels", help="TREC qrels to score TREC runs with")
    p.add_argument("--k", type=int, default=10, help="cut-off when scoring TREC runs")
    p.add_argument("--metric", action="append", help="metric(s) to compare (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_stats_options(p)
    p.set_defaults(func=cmd_compare)

    p = subparsers.add_parser("report", help="HTML/Markdown report with tables, plots and result thumbnails")
    p.add_argument("results", nargs="+", help="results files written by `shopsearch eval --out`")
    p.add_argument("--out", action="append", required=True, metavar="FILE",
                   help="report.html (self-contained) or report.md (with a _files folder); repeatable")
    p.add_argument("--title", default="shopsearch evaluation")
    p.add_argument("--group-by", default="template", help="query key for the per-type breakdown (default template)")
    p.add_argument("--examples", type=int, default=6, help="example queries with thumbnails (default 6)")
    p.add_argument("--samples", type=int, default=10_000, help="randomisation/bootstrap samples")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser("interleave", help="team-draft interleaving A/B test on simulated or logged clicks")
    p.add_argument("index", nargs="?", help="index directory (not needed with --replay)")
    p.add_argument("queries", nargs="?", help="judged queries (JSONL or topics with --qrels)")
    p.add_argument("--a", metavar="NAME[=JSON]", help="system A (same syntax as eval --system)")
    p.add_argument("--b", metavar="NAME[=JSON]", help="system B, e.g. worse='{\"shuffle_top\": 10}'")
    p.add_argument("--qrels", help="TREC qrels")
    p.add_argument("--filter", action="append", metavar="EXPR", help="filter applied to every query")
    p.add_argument("--k", type=int, default=10, help="length of the interleaved list")
    p.add_argument("--click-model", choices=("pbm", "cascade"), default="pbm")
    p.add_argument("--impressions", type=int, default=10, help="simulated impressions per query")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replay", metavar="LOG", help="JSONL of logged impressions {qid, ranking, teams, clicks}")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_interleave)


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point for these commands (the main CLI registers them too)."""
    parser = argparse.ArgumentParser(prog="shopsearch-eval")
    add_eval_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
