"""PostgreSQL product store: products of an index version, and its ordered change log.

Tables (created by numbered migrations, recorded in ``shopsearch_migrations``)::

    shopsearch_heads     (namespace, version) -> next position, last change seq; the row every
                         writer locks (SELECT ... FOR UPDATE), so writes are totally ordered
    shopsearch_products  (namespace, version, pos) -> id, data json, alive
    shopsearch_changes   (namespace, version, seq) -> record json: the replicated update log

``json``, not ``jsonb``: it keeps the product's text as written, key order included (attribute
order drives facet choice and what the API returns, so a replica must see what the build saw).

A product keeps the position it was written at; a replacement gets a new position and retires
the old one (``alive = false``), exactly like the embedded index, so every replica that applies
the log in ``seq`` order computes the same positions. Batch upserts are one transaction each.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from shopsearch.types import Product

logger = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    # 1: products, heads and change log
    """
    CREATE TABLE shopsearch_heads (
        namespace text NOT NULL, version text NOT NULL,
        next_pos bigint NOT NULL DEFAULT 0, last_seq bigint NOT NULL DEFAULT 0,
        manifest json, created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (namespace, version));
    CREATE TABLE shopsearch_products (
        namespace text NOT NULL, version text NOT NULL, pos bigint NOT NULL,
        id text NOT NULL, data json NOT NULL, alive boolean NOT NULL DEFAULT true,
        PRIMARY KEY (namespace, version, pos));
    CREATE UNIQUE INDEX shopsearch_products_alive_id ON shopsearch_products (namespace, version, id) WHERE alive;
    CREATE TABLE shopsearch_changes (
        namespace text NOT NULL, version text NOT NULL, seq bigint NOT NULL,
        record json NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (namespace, version, seq));
    """,
    # 2: the newest Milvus write timestamp a reader of this version must wait for
    "ALTER TABLE shopsearch_heads ADD COLUMN milvus_ts bigint NOT NULL DEFAULT 0;",
)


def _require_psycopg() -> Any:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the PostgreSQL product store needs psycopg 3: pip install 'shopsearch[scale]'") from exc
    return psycopg, psycopg_pool


class PostgresStore:
    """Products and change log of one index ``version`` in ``namespace``; a connection pool of
    ``pool_size`` connections. Thread-safe."""

    def __init__(self, dsn: str, namespace: str, version: str, pool_size: int = 4) -> None:
        psycopg, psycopg_pool = _require_psycopg()
        self.namespace, self.version = namespace, version
        self._json = psycopg.types.json.Json
        self.pool = psycopg_pool.ConnectionPool(dsn, min_size=1, max_size=pool_size, open=True,
                                                kwargs={"autocommit": True}, name=f"shopsearch-{namespace}")
        self.pool.wait(timeout=30)
        self.migrate()

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A connection in a transaction (committed on success, rolled back on error)."""
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    # -- schema ------------------------------------------------------------------------------
    def migrate(self) -> int:
        """Apply missing migrations (serialised across processes by an advisory lock); returns
        the schema version."""
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('shopsearch_migrations'))")
            conn.execute("CREATE TABLE IF NOT EXISTS shopsearch_migrations ("
                         "version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {r[0] for r in conn.execute("SELECT version FROM shopsearch_migrations")}
            for number, sql in enumerate(MIGRATIONS, start=1):
                if number in done:
                    continue
                logger.info("applying PostgreSQL migration %d", number)
                conn.execute(sql)
                conn.execute("INSERT INTO shopsearch_migrations (version) VALUES (%s)", (number,))
        return len(MIGRATIONS)

    # -- whole versions ----------------------------------------------------------------------
    def create_version(self, products: Sequence[Product], manifest: dict[str, Any] | None = None,
                       batch: int = 5000) -> None:
        """Write ``products`` (position i = row i) as a new version, in one transaction."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM shopsearch_products WHERE namespace = %s AND version = %s", self._key())
            conn.execute("DELETE FROM shopsearch_changes WHERE namespace = %s AND version = %s", self._key())
            conn.execute("DELETE FROM shopsearch_heads WHERE namespace = %s AND version = %s", self._key())
            conn.execute("INSERT INTO shopsearch_heads (namespace, version, next_pos, manifest) "
                         "VALUES (%s, %s, %s, %s)", (*self._key(), len(products), self._json(manifest or {})))
            self._insert(conn, 0, products, batch)
        with self.transaction() as conn:  # planner statistics for the new rows (id lookups use the index)
            conn.execute("ANALYZE shopsearch_products")

    def set_manifest(self, manifest: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE shopsearch_heads SET manifest = %s WHERE namespace = %s AND version = %s",
                         (self._json(manifest), *self._key()))

    def drop_version(self, version: str | None = None) -> None:
        """Delete every row of ``version`` (default: this store's version)."""
        key = (self.namespace, version or self.version)
        with self.transaction() as conn:
            for table in ("shopsearch_products", "shopsearch_changes", "shopsearch_heads"):
                conn.execute(f"DELETE FROM {table} WHERE namespace = %s AND version = %s", key)

    def versions(self) -> list[str]:
        with self.transaction() as conn:
            return [r[0] for r in conn.execute("SELECT version FROM shopsearch_heads WHERE namespace = %s "
                                               "ORDER BY created_at", (self.namespace,))]

    def note_vector_write(self, ts: int) -> None:
        """Record that the vectors of this version include a Milvus write at timestamp ``ts``."""
        with self.transaction() as conn:
            conn.execute("UPDATE shopsearch_heads SET milvus_ts = GREATEST(milvus_ts, %s) WHERE namespace = %s "
                         "AND version = %s", (int(ts), *self._key()))

    def vector_write_ts(self) -> int:
        with self.transaction() as conn:
            row = conn.execute("SELECT milvus_ts FROM shopsearch_heads WHERE namespace = %s AND version = %s",
                               self._key()).fetchone()
        return int(row[0]) if row else 0

    def snapshot(self) -> tuple[list[Product], list[bool], int]:
        """Every position's product, whether it is alive, and the last change folded in — read
        in one repeatable-read transaction, so the three agree."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            head = conn.execute("SELECT next_pos, last_seq FROM shopsearch_heads WHERE namespace = %s "
                                "AND version = %s", self._key()).fetchone()
            if head is None:
                raise LookupError(f"PostgreSQL has no index version {self.version!r} in namespace "
                                  f"{self.namespace!r}")
            rows = conn.execute("SELECT pos, data, alive FROM shopsearch_products WHERE namespace = %s "
                                "AND version = %s ORDER BY pos", self._key()).fetchall()
        if len(rows) != head[0] or any(pos != i for i, (pos, _, _) in enumerate(rows)):
            raise ValueError(f"PostgreSQL version {self.version}: product positions are not contiguous")
        return [Product.from_dict(d) for _, d, _ in rows], [bool(a) for _, _, a in rows], int(head[1])

    def fetch(self, ids: Sequence[str]) -> dict[str, Product]:
        """Live products by id."""
        with self.transaction() as conn:
            rows = conn.execute("SELECT id, data FROM shopsearch_products WHERE namespace = %s AND version = %s "
                                "AND alive AND id = ANY(%s)", (*self._key(), list(ids))).fetchall()
        return {i: Product.from_dict(d) for i, d in rows}

    # -- the change log ----------------------------------------------------------------------
    def changes_since(self, seq: int, conn: Any = None) -> list[tuple[int, dict[str, Any]]]:
        sql = ("SELECT seq, record FROM shopsearch_changes WHERE namespace = %s AND version = %s AND seq > %s "
               "ORDER BY seq")
        if conn is not None:
            return [(int(s), r) for s, r in conn.execute(sql, (*self._key(), seq))]
        with self.transaction() as c:
            return [(int(s), r) for s, r in c.execute(sql, (*self._key(), seq))]

    def lock_head(self, conn: Any) -> tuple[int, int]:
        """Lock this version's head row for the transaction; returns (next_pos, last_seq)."""
        row = conn.execute("SELECT next_pos, last_seq FROM shopsearch_heads WHERE namespace = %s AND version = %s "
                           "FOR UPDATE", self._key()).fetchone()
        if row is None:
            raise LookupError(f"PostgreSQL has no index version {self.version!r} in namespace {self.namespace!r}")
        return int(row[0]), int(row[1])

    def write_change(self, conn: Any, record: dict[str, Any], next_pos: int, last_seq: int) -> int:
        """Apply ``record`` to the products table and append it to the log, inside the caller's
        transaction (which holds :meth:`lock_head`). Returns the record's seq."""
        op = record["op"]
        if op == "upsert":
            products = [Product.from_dict(d) for d in record["products"]]
            ids = [p.id for p in products]
            conn.execute("UPDATE shopsearch_products SET alive = false WHERE namespace = %s AND version = %s "
                         "AND alive AND id = ANY(%s)", (*self._key(), ids))
            self._insert(conn, next_pos, products)
            next_pos += len(products)
        elif op == "meta":
            with conn.cursor() as cur:
                cur.executemany("UPDATE shopsearch_products SET data = %s WHERE namespace = %s AND version = %s "
                                "AND alive AND id = %s",
                                [(self._json(d), *self._key(), d["id"]) for d in record["products"]])
        elif op == "delete":
            conn.execute("UPDATE shopsearch_products SET alive = false WHERE namespace = %s AND version = %s "
                         "AND alive AND id = ANY(%s)", (*self._key(), list(record["ids"])))
        else:
            raise ValueError(f"unknown change record op {op!r}; valid: upsert, meta, delete")
        seq = last_seq + 1
        conn.execute("INSERT INTO shopsearch_changes (namespace, version, seq, record) VALUES (%s, %s, %s, %s)",
                     (*self._key(), seq, self._json(record)))
        conn.execute("UPDATE shopsearch_heads SET next_pos = %s, last_seq = %s, milvus_ts = GREATEST(milvus_ts, %s) "
                     "WHERE namespace = %s AND version = %s",
                     (next_pos, seq, max(int(record.get("milvus_ts", 0)), 0), *self._key()))
        return seq

    def _insert(self, conn: Any, base: int, products: Sequence[Product], batch: int = 5000) -> None:
        with conn.cursor() as cur:
            for start in range(0, len(products), batch):
                chunk = products[start:start + batch]
                with cur.copy("COPY shopsearch_products (namespace, version, pos, id, data, alive) FROM STDIN") as cp:
                    for i, p in enumerate(chunk):
                        cp.write_row((self.namespace, self.version, base + start + i, p.id,
                                      json.dumps(p.to_dict(), ensure_ascii=False), True))

    def _key(self) -> tuple[str, str]:
        return self.namespace, self.version
