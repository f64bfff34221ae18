"""``shopsearch`` command line: one subcommand per stage, each a thin call into the library."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shopsearch import __version__
from shopsearch.config import DENSE_KINDS, TEXT_VECTORS

if TYPE_CHECKING:  # the catalog package is imported by the commands that need it
    from shopsearch.catalog import FieldMapping

CONFIG_HELP = ("settings file (shopsearch.toml, or JSON): its [search] table sets the search settings "
               "(SearchConfig), its [rank] table the ranking settings unless --rank-config is given")

logger = logging.getLogger("shopsearch")


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("faiss").setLevel(max(level, logging.WARNING))


def _mapping(args: argparse.Namespace) -> FieldMapping | None:
    from shopsearch.catalog import FieldMapping, load_mapping

    mapping = load_mapping(args.mapping) if args.mapping else None
    if args.map:
        mapping = FieldMapping.from_pairs(args.map, base=mapping)
    return mapping


def cmd_index(args: argparse.Namespace) -> int:
    from shopsearch.config import INDEX_FIELDS, IndexConfig
    from shopsearch.index.builder import build_index

    fields = tuple(f.strip() for f in args.fields.split(",") if f.strip()) if args.fields else INDEX_FIELDS
    joint = None if args.no_model else (args.model or "default")
    config = IndexConfig(
        fields=fields, joint_model=joint, zero_shot=not args.no_zero_shot, dense_index=args.dense_index,
        image_model=args.image_model,
        text_vectors=args.text_vectors,
        threads=args.threads,
        batch_size=args.batch_size,
        cache_path=None if args.no_cache else (Path(args.cache) if args.cache else IndexConfig().cache_path),
        progress=not args.no_progress,
    )
    from shopsearch.scale.cli import build_from_args, wants_scale

    if wants_scale(args):  # --ray, PostgreSQL or Milvus
        report = build_from_args(args, config, _mapping(args))
    else:
        report = build_index(args.catalog, args.out, config, mapping=_mapping(args), strict=args.strict)
    for reject in report.rejects[:20]:
        print(f"rejected: {reject}", file=sys.stderr)
    if len(report.rejects) > 20:
        print(f"... and {len(report.rejects) - 20} more rejects in {Path(args.out) / 'rejects.jsonl'}",
              file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        d = report.to_dict()
        print(f"indexed {d['products']} products ({d['rejects']} rejected of {d['rows']} rows) into "
              f"{args.out} in {d['seconds'].get('total', 0):.1f}s; {d['images']} images at "
              f"{d['images_per_second']:.1f} images/s; cache {d['cache_hits']} hits / {d['cache_misses']} computed")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    import shopsearch
    from shopsearch.config import SearchConfig

    engine = shopsearch.load(args.index, config=SearchConfig.load(args.config) if args.config else SearchConfig())
    options = {}
    rank_config = args.rank_config or args.config
    if args.user or args.ranker_dir or args.rank_config:
        from shopsearch.rank import RankConfig, Ranker
        from shopsearch.rank.events import LOG_NAME, EventLog

        log = EventLog(Path(args.index) / LOG_NAME)  # where the service keeps its log
        config = RankConfig.load(rank_config) if rank_config else RankConfig()
        Ranker(engine, log=log, models_dir=args.ranker_dir, config=config).attach()
        options = {"user_id": args.user, "explain": args.json}
    result = engine.search(text=args.text or None, image=args.image, k=args.k, filters=args.filter, **options)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"{len(result.hits)} hits in {result.took_ms:.1f} ms (signals: {', '.join(result.signals_used)})")
    for rank, hit in enumerate(result.hits, start=1):
        p = hit.product
        sig = " ".join(f"{k}#{r}" for k, (_, r) in hit.signals.items())
        title = p.title if p else ""
        attrs = ", ".join(f"{v}" for v in (p.attributes.values() if p else []))[:60]
        print(f"{rank:>3}. {hit.product_id:<10} {hit.score:.4f}  {title[:60]:<60} [{attrs}]  {sig}")
    return 0


def cmd_upsert(args: argparse.Namespace) -> int:
    import shopsearch
    from shopsearch.catalog import load_catalog

    loaded = load_catalog(args.catalog, mapping=_mapping(args), strict=args.strict)
    for reject in loaded.rejects:
        print(f"rejected: {reject}", file=sys.stderr)
    engine = shopsearch.load(args.index)
    counts = engine.upsert(loaded.products)
    print(f"upserted {len(loaded.products)} products into {args.index}: {counts['added']} added, "
          f"{counts['replaced']} re-embedded, {counts['metadata']} metadata-only; {len(loaded.rejects)} rejected")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    import shopsearch

    n = shopsearch.load(args.index).delete(args.ids)
    print(f"deleted {n} of {len(args.ids)} ids from {args.index}")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    import shopsearch

    engine = shopsearch.load(args.index)
    version = engine.compact()
    print(f"compacted {args.index} into version {version} ({engine.size} products)")
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from shopsearch.index.snapshot import snapshot

    info = snapshot(args.index, args.out, data_dir=args.data_dir)
    print(f"snapshot of {args.index} (version {info.version}, {info.wal_records} logged updates, "
          f"{len(info.files)} files) written to {args.out}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from shopsearch.index.snapshot import restore

    version = restore(args.snapshot, args.index, data_dir=args.data_dir)
    print(f"restored {args.snapshot} into {args.index} as version {version}")
    return 0


def cmd_events_import(args: argparse.Namespace) -> int:
    from shopsearch.rank.events import EventLog

    with EventLog(args.log) as log:
        report = log.import_file(args.file)
    for reject in report.rejects[:20]:
        print(f"rejected: {reject}", file=sys.stderr)
    if len(report.rejects) > 20:
        print(f"... and {len(report.rejects) - 20} more rejects", file=sys.stderr)
    print(f"imported {report.accepted} events into {args.log}; {len(report.rejects)} rejected")
    return 0 if report.accepted or not report.rejects else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    import shopsearch
    from shopsearch.rank.simulate import SimConfig, simulate_log

    config = SimConfig(seed=args.seed, shuffle_prob=args.shuffle_prob)
    summary = simulate_log(shopsearch.load(args.index), args.out, users=args.users, sessions=args.sessions,
                           days=args.days, config=config)
    print(f"SIMULATED {summary['users']} users, {summary['sessions']} sessions, {summary['queries']} queries: "
          f"{summary['events']} -> {args.out} (description in {args.out}.sim.json)")
    return 0


def cmd_train_ranker(args: argparse.Namespace) -> int:
    from shopsearch.rank.train import train_ranker

    card = train_ranker(args.log, args.index, args.out, ltr_fraction=args.ltr_fraction,
                        max_searches=args.max_searches, position_bias=args.position_bias, note=args.note,
                        seed=args.seed)
    print(f"trained cf/, graph/, ltr/ into {args.out} in {card['seconds']}s from {card['searches']} searches "
          f"({card['split']['ltr_searches']} for LTR); propensities: {card['position_bias']['propensities']['method']}")
    return 0


DEMO_QUERIES = ("black leather shoes for men", "red summer dress", "男士蓝色牛仔裤", "女士手提包")


def cmd_demo(args: argparse.Namespace) -> int:
    """Index the sample fashion catalog (unless already built) and answer example queries."""
    import shopsearch
    from shopsearch.config import IndexConfig, sample_data_dir
    from shopsearch.index.builder import build_index
    from shopsearch.index.manifest import IndexFormatError

    catalog = sample_data_dir() / "fashion" / "products.jsonl"
    out = Path(args.out)
    try:
        engine = None if args.rebuild else shopsearch.load(out)
    except IndexFormatError:
        engine = None
    if engine is None:
        print(f"indexing {catalog} into {out} (first run: a few minutes on 2 CPU cores)...")
        report = build_index(catalog, out, IndexConfig(progress=not args.no_progress))
        d = report.to_dict()
        print(f"indexed {d['products']} products ({d['rejects']} rejected) in {d['seconds']['total']:.0f}s, "
              f"{d['images_per_second']:.1f} images/s")
        engine = shopsearch.load(out)
    photo = engine.products[0].images[0]
    queries: list[tuple[str | None, str | None]] = [(q, None) for q in DEMO_QUERIES]
    queries += [(None, photo), ("like this but blue", photo)]
    for text, image in queries:
        result = engine.search(text=text, image=image, k=5)
        parts = (f'"{text}"' if text else None, f"photo {Path(image).name}" if image else None)
        label = " + ".join(x for x in parts if x)
        print(f"\n{label}  ({result.took_ms:.0f} ms; {', '.join(result.signals_used)})")
        for rank, hit in enumerate(result.hits, start=1):
            p = hit.product
            assert p is not None
            attrs = ", ".join(str(v) for v in p.attributes.values())
            print(f"  {rank}. {p.id:<8} {p.title[:55]:<55} [{attrs[:60]}]")
    if args.serve:
        from shopsearch.service import run

        run(str(out), host=args.host, port=args.port)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from shopsearch.service import run

    run(args.index, host=args.host, port=args.port, workers=args.workers, voice=not args.no_voice,
        rank=not args.no_rank, ranker_dir=args.ranker_dir, rank_config=args.rank_config or args.config,
        search_config=args.config)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from shopsearch.encode import list_models

    for m in list_models():
        print(f"{m.name:<20} {m.modality:<6} dim={m.dim:<5} {m.package}  ({m.description})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopsearch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"shopsearch {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="validate a catalog and build an index directory")
    p.add_argument("catalog", help="catalog file (.jsonl, .csv or .parquet)")
    p.add_argument("--out", required=True, help="index directory to create or replace")
    p.add_argument("--fields", help="comma-separated fields to index: title,brand,category,attributes,"
                   "description,image (default: all)")
    p.add_argument("--mapping", help="field mapping file (TOML or JSON)")
    p.add_argument("--map", action="append", metavar="FIELD=COLUMN", help="field mapping entry (repeatable)")
    p.add_argument("--strict", action="store_true", help="fail on any bad row instead of skipping it")
    p.add_argument("--model", help="joint text-image model directory (default: the packaged model)")
    p.add_argument("--image-model", default=None, metavar="NAME_OR_DIR",
                   help="image encoder: efficientnet-lite0, efficientnet-lite0-int8 (dynamically quantised "
                        "ONNX; see benchmarks/results/speed_encoders.md) or a shop image model directory "
                        "(default: the one `shopsearch train` wrote into the --model directory, if any, "
                        "else efficientnet-lite0)")
    p.add_argument("--no-model", action="store_true", help="index without the joint text-image model")
    p.add_argument("--no-zero-shot", action="store_true",
                   help="without a joint model, do not index the ImageNet-label zero-shot fallback")
    p.add_argument("--dense-index", choices=DENSE_KINDS, default="auto",
                   help="vector index: auto (exact below 100k vectors, HNSW above), flat, hnsw, or compressed "
                        "codes in memory with full-precision re-ranking from disk: fp16, sq8 (8-bit), pq")
    p.add_argument("--text-vectors", choices=TEXT_VECTORS, default="document",
                   help="one text vector per product, or one per title / attributes / description")
    p.add_argument("--threads", type=int, help="CPU threads for the encoders")
    p.add_argument("--batch-size", type=int, default=32, help="image encoder batch size")
    p.add_argument("--cache", help="embedding cache file (default ~/.cache/shopsearch/embeddings.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--json", action="store_true", help="print the build report as JSON")
    from shopsearch.scale.cli import add_index_options

    add_index_options(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search an index")
    p.add_argument("index", help="index directory")
    p.add_argument("text", nargs="?", default="", help="query text (English, Chinese, ...)")
    p.add_argument("--image", help="query image file")
    p.add_argument("--k", type=int, default=10, help="number of hits")
    p.add_argument("--filter", action="append", metavar="EXPR", help="e.g. gender=Men, price<200 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON (with the ranker's trace when ranking)")
    p.add_argument("--user", help="rank for this user (history from INDEX/feedback.sqlite)")
    p.add_argument("--ranker-dir", type=Path, help="learned ranking models from `shopsearch train-ranker`")
    p.add_argument("--rank-config", type=Path, help="ranking settings (TOML/JSON)")
    p.add_argument("--config", type=Path, help=CONFIG_HELP)
    p.set_defaults(func=cmd_search)

    from shopsearch.evaluation.cli import add_eval_parsers

    add_eval_parsers(sub)  # eval, compare, report, interleave

    p = sub.add_parser("upsert", help="add or replace products in an index without a rebuild")
    p.add_argument("index", help="index directory")
    p.add_argument("catalog", help="catalog file with the products to add or replace")
    p.add_argument("--mapping", help="field mapping file (TOML or JSON)")
    p.add_argument("--map", action="append", metavar="FIELD=COLUMN", help="field mapping entry (repeatable)")
    p.add_argument("--strict", action="store_true", help="fail on any bad row")
    p.set_defaults(func=cmd_upsert)

    p = sub.add_parser("delete", help="delete products from an index by id")
    p.add_argument("index", help="index directory")
    p.add_argument("ids", nargs="+", help="product ids")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("compact", help="fold live updates into a fresh index version")
    p.add_argument("index", help="index directory")
    p.set_defaults(func=cmd_compact)

    p = sub.add_parser("events", help="the interaction log (events for ranking)")
    events_sub = p.add_subparsers(dest="events_command", required=True)
    q = events_sub.add_parser("import", help="append events from a JSONL or CSV file to an event log")
    q.add_argument("log", help="event log database (SQLite, created if missing)")
    q.add_argument("file", help="events file (.jsonl or .csv with a header row)")
    q.set_defaults(func=cmd_events_import)

    p = sub.add_parser("simulate", help="SIMULATED shoppers over an index's catalog, written as an event log")
    p.add_argument("index", help="index directory")
    p.add_argument("--users", type=int, default=200, help="number of simulated users (default 200)")
    p.add_argument("--sessions", type=int, default=8, help="sessions per user (default 8)")
    p.add_argument("--days", type=float, default=60.0, help="days the sessions spread over (default 60)")
    p.add_argument("--shuffle-prob", type=float, default=0.1,
                   help="share of searches whose top 10 is shuffled (randomised logging, for propensities)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="event log: .jsonl for JSONL, else an SQLite event log")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("train-ranker", help="train the CF, graph and LambdaMART rankers from an event log")
    p.add_argument("log", help="event log database")
    p.add_argument("--index", required=True, help="index directory")
    p.add_argument("--out", required=True, help="ranker models folder to write (cf/, graph/, ltr/, model.json)")
    p.add_argument("--ltr-fraction", type=float, default=0.5, help="latest share of searches for LTR (default 0.5)")
    p.add_argument("--max-searches", type=int, default=3000, help="most searches replayed for LTR (default 3000)")
    p.add_argument("--position-bias", choices=("ipw", "none"), default="ipw", help="click position-bias correction")
    p.add_argument("--note", help="free text for the model card (e.g. 'simulated log')")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_train_ranker)

    p = sub.add_parser("snapshot", help="back up an index (safe while it is served and updated)")
    p.add_argument("index", help="index directory")
    p.add_argument("out", help="new snapshot folder (must not exist)")
    p.add_argument("--data-dir", help="the service's data folder, when it is not the index directory")
    p.set_defaults(func=cmd_snapshot)

    p = sub.add_parser("restore", help="verify a snapshot and make it the live version of an index")
    p.add_argument("snapshot", help="snapshot folder written by `shopsearch snapshot`")
    p.add_argument("index", help="index directory (created if missing)")
    p.add_argument("--data-dir", help="where the data folder's SQLite files go (default: the index directory)")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("demo", help="index the sample fashion catalog and run example queries")
    p.add_argument("--out", default="fx-index", help="index directory (default: fx-index)")
    p.add_argument("--rebuild", action="store_true", help="re-index even if the index exists")
    p.add_argument("--serve", action="store_true", help="then serve the web page and API")
    p.add_argument("--host", default="127.0.0.1", help="address for --serve (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="serve the HTTP API and the web page")
    p.add_argument("index", help="index directory")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: one per CPU, at most 4; each holds the index in memory)")
    p.add_argument("--no-voice", action="store_true", help="disable voice queries")
    p.add_argument("--no-rank", action="store_true",
                   help="serve the fused retrieval order (no business, personal or session ranking)")
    p.add_argument("--ranker-dir", type=Path, help="learned ranking models from `shopsearch train-ranker`")
    p.add_argument("--rank-config", type=Path, help="ranking settings (TOML/JSON: weights, stock policy, boost rules)")
    p.add_argument("--config", type=Path, help=CONFIG_HELP)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("models", help="list registered encoders")
    p.set_defaults(func=cmd_models)

    try:
        from shopsearch.training.cli import add_train_parser
    except ImportError as exc:  # the train extra is not installed
        logger.debug("train command unavailable: %s", exc)
    else:
        add_train_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as exc:
        logger.debug("command failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
