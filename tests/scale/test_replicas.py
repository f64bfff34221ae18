"""Stateless replicas: `shopsearch index --ray` into PostgreSQL + Milvus, then two
`shopsearch serve` processes over it that see each other's writes within VISIBILITY_BOUND_S."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit.catalogs import tiny_rows, write_catalog
from devkit.servers import free_port, stop_group
from tests.scale.conftest import fresh_namespace

# A write through one replica is visible through the other within this bound: the change-log
# poll (sync_interval 0.5 s) plus at most one Milvus time tick (~0.4 s), with margin for a
# loaded 2-core CI machine. The measured times are printed.
VISIBILITY_BOUND_S = 5.0
SHOPSEARCH = [sys.executable, "-m", "shopsearch.cli"]
API_KEY = "replica-test-key"
WRITE = {"X-API-Key": API_KEY}


def _wait_health(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"shopsearch serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"shopsearch serve not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def replicas(postgres: Any, milvus: Any, ray_cluster: Any, tmp_path: Path) -> Iterator[tuple[str, str, dict]]:
    catalog = write_catalog(tmp_path, tiny_rows(tmp_path))
    out = tmp_path / "idx"
    env = dict(os.environ, SHOPSEARCH_CACHE=str(tmp_path / "cache.sqlite"), SHOPSEARCH_API_KEY=API_KEY)
    done = subprocess.run(
        [*SHOPSEARCH, "index", str(catalog), "--out", str(out), "--no-zero-shot", "--no-progress", "--json",
         "--products", "postgres", "--vectors", "milvus", "--postgres-dsn", postgres.dsn,
         "--milvus-uri", milvus.uri, "--namespace", fresh_namespace("r"), "--ray", ray_cluster.address,
         "--ray-block-size", "3"],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for name in ("a", "b"):
            port = free_port()
            log = tmp_path / f"serve-{name}.log"
            with open(log, "wb") as fh:
                proc = subprocess.Popen([*SHOPSEARCH, "serve", str(out), "--host", "127.0.0.1", "--port", str(port),
                                         "--no-voice"], stdout=fh, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
            procs.append(proc)
            urls.append(f"http://127.0.0.1:{port}")
            _wait_health(urls[-1], proc, log)
        yield urls[0], urls[1], report
    finally:
        for proc in procs:
            stop_group(proc, timeout=20)


def _search_ids(url: str, text: str) -> list[str]:
    r = httpx.post(url + "/v1/search", json={"text": text, "k": 5}, timeout=30)
    r.raise_for_status()
    return [h["product_id"] for h in r.json()["hits"]]


def _until(check: Any, bound: float) -> float:
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > bound:
            raise AssertionError(f"not visible within {bound}s")
        time.sleep(0.05)
    return time.monotonic() - t0


def test_ray_cli_report_equals_single_process(replicas: tuple[str, str, dict]) -> None:
    _, _, report = replicas
    assert (report["products"], report["rejects"], report["rows"], report["images"]) == (8, 0, 8, 8)


def test_replicas_see_each_others_writes(replicas: tuple[str, str, dict]) -> None:
    a, b, _ = replicas
    assert _search_ids(a, "red cotton tshirt")[0] == _search_ids(b, "red cotton tshirt")[0] == "p1"
    row = {"title": "Purple Velvet Scarf", "gender": "Women", "base_colour": "Purple", "article_type": "scarf",
           "price": 12.0}
    t0 = time.monotonic()
    assert httpx.put(a + "/v1/products/p9", json=row, headers=WRITE, timeout=60).status_code == 200
    written = time.monotonic() - t0
    seen_product = _until(lambda: httpx.get(b + "/v1/products/p9", timeout=10).status_code == 200, VISIBILITY_BOUND_S)
    seen_search = _until(lambda: "p9" in _search_ids(b, "purple velvet scarf"), VISIBILITY_BOUND_S)
    print(f"\nwrite via A took {written:.2f}s; visible via B: product {seen_product:.2f}s, search {seen_search:.2f}s")
    # and the other way: a delete through B disappears from A
    assert httpx.delete(b + "/v1/products/p1", headers=WRITE, timeout=60).status_code == 200
    gone = _until(lambda: httpx.get(a + "/v1/products/p1", timeout=10).status_code == 404, VISIBILITY_BOUND_S)
    gone_search = _until(lambda: "p1" not in _search_ids(a, "red cotton tshirt"), VISIBILITY_BOUND_S)
    print(f"delete via B visible via A: product {gone:.2f}s, search {gone_search:.2f}s")
