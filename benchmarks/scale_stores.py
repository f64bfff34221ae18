"""Product stores: PostgreSQL (psycopg 3, COPY, one transaction per batch) vs SQLite.

Uses the fashion catalog's products (from an index built by ``shopsearch index``). Measures
the bulk write of a whole version, batched upserts (batches of ``--batch`` products, each one
transaction: retire old rows, insert new ones, append the change log in PostgreSQL; INSERT OR
REPLACE in SQLite), fetches of random ids (batches of 50), and bytes per product.

    python benchmarks/scale_stores.py --index work/fx-index

Writes benchmarks/results/scale_stores.json and .md. The baseline in the same run is SQLite.
Imports the PostgreSQL test server from ``devkit/servers.py``: run from the repository root with
it on the import path (``PYTHONPATH=.``, as ``run_all.py`` does).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Run, percentile, stopwatch

from devkit.servers import PostgresServer
from shopsearch.index.store import STORE_NAME, read_products, write_products
from shopsearch.scale.postgres import PostgresStore


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=Path("work/fx-index"), help="an embedded fashion index")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--batches", type=int, default=50)
    args = ap.parse_args()
    run = Run("scale_stores", baseline="SQLite (the embedded product store)")
    version = args.index / (args.index / "CURRENT").read_text().strip()
    products = read_products(version / STORE_NAME)
    n = len(products)
    rng = np.random.default_rng(0)
    batches = [[dataclasses.replace(products[i], price=float(rng.integers(1, 500)))
                for i in rng.choice(n, args.batch, replace=False)] for _ in range(args.batches)]
    fetch_ids = [[products[i].id for i in rng.choice(n, 50, replace=False)] for _ in range(100)]
    res: dict[str, Any] = {"products": n, "batch": args.batch, "batches": args.batches}
    with tempfile.TemporaryDirectory() as tmp:
        # SQLite
        path = Path(tmp) / "p.sqlite"
        with stopwatch() as sw:
            write_products(path, products)
        sq: dict[str, float] = {"bulk_write_s": sw.seconds, "bytes_per_product": path.stat().st_size / n}
        db = sqlite3.connect(str(path))
        with stopwatch() as sw:
            for b in batches:
                with db:
                    base = db.execute("SELECT max(idx) + 1 FROM products").fetchone()[0]
                    db.execute(f"DELETE FROM products WHERE id IN ({','.join('?' * len(b))})", [p.id for p in b])
                    db.executemany("INSERT INTO products (idx, id, data) VALUES (?, ?, ?)",
                                   [(base + i, p.id, json.dumps(p.to_dict(), ensure_ascii=False))
                                    for i, p in enumerate(b)])
        sq["upsert_products_per_s"] = args.batch * args.batches / sw.seconds
        times = []
        for ids in fetch_ids:
            with stopwatch() as sw:
                rows = db.execute(f"SELECT data FROM products WHERE id IN ({','.join('?' * len(ids))})",
                                  ids).fetchall()
                [json.loads(r[0]) for r in rows]
            times.append(sw.ms)
        sq["fetch50_p50_ms"] = percentile(times, 50)
        db.close()
        res["sqlite"] = sq
        # PostgreSQL
        with PostgresServer() as server:
            store = PostgresStore(server.dsn, "bench", "v1", pool_size=2)
            with stopwatch() as sw:
                store.create_version(products)
            pg: dict[str, float] = {"bulk_write_s": sw.seconds}
            with store.transaction() as conn:
                size = conn.execute("SELECT pg_total_relation_size('shopsearch_products')").fetchone()[0]
            pg["bytes_per_product"] = size / n
            with stopwatch() as sw:
                for b in batches:
                    with store.transaction() as conn:
                        next_pos, last_seq = store.lock_head(conn)
                        store.write_change(conn, {"op": "upsert", "products": [p.to_dict() for p in b]}, next_pos,
                                           last_seq)
            pg["upsert_products_per_s"] = args.batch * args.batches / sw.seconds
            times = []
            for ids in fetch_ids:
                with stopwatch() as sw:
                    got = store.fetch(ids)
                times.append(sw.ms)
                assert len(got) == len(set(ids))
            pg["fetch50_p50_ms"] = percentile(times, 50)
            with stopwatch() as sw:
                store.snapshot()
            pg["snapshot_s"] = sw.seconds
            store.close()
            res["postgres"] = pg
    res = json.loads(json.dumps(res), parse_float=lambda x: round(float(x), 3))
    s, p = res["sqlite"], res["postgres"]
    lines = [f"# Product stores: SQLite vs PostgreSQL ({n} fashion products, batches of {args.batch})", "",
             "PostgreSQL 15 on loopback (fsync off, as in the tests), psycopg 3 with COPY; SQLite file in /tmp. "
             "Upserts: one transaction per batch (PostgreSQL also locks the version head and appends the "
             "change log that replicas follow).", "",
             "| store | bulk write s | bytes/product | upserts products/s | fetch 50 ids p50 ms |",
             "|---|---|---|---|---|",
             f"| SQLite | {s['bulk_write_s']} | {s['bytes_per_product']:.0f} | {s['upsert_products_per_s']:.0f} | "
             f"{s['fetch50_p50_ms']} |",
             f"| PostgreSQL | {p['bulk_write_s']} | {p['bytes_per_product']:.0f} | {p['upsert_products_per_s']:.0f} | "
             f"{p['fetch50_p50_ms']} |", "",
             f"PostgreSQL snapshot read of all {n} products (what a replica loads): {p['snapshot_s']} s."]
    run.write(res, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
