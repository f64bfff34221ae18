"""Real PostgreSQL, Milvus and Ray servers for the scale-out tests.

Each server is started once for this package (on first use) on 127.0.0.1 and always stopped
when its last test is done (the fixtures are context managers, so a failing test still stops
them), not left running for the rest of the test run. Outside CI a missing
server skips these tests with the reason; when ``SHOPSEARCH_REQUIRE`` names ``scale`` (as
``.ci/run`` does) a missing server is a failure (tests/optional.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.optional import need_module, unavailable


def _need_module(name: str) -> None:
    need_module("scale", name)


@pytest.fixture(scope="package")
def postgres() -> Iterator[object]:
    _need_module("psycopg")
    from devkit.servers import PostgresServer, postgres_bindir

    if postgres_bindir() is None:
        unavailable("scale", "PostgreSQL server binaries not found (apt-get install postgresql)")
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="package")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    _need_module("pymilvus")
    from devkit.servers import MILVUS_SERVER_ENV, MilvusServer, milvus_server_script

    if milvus_server_script() is None:
        unavailable("scale",
                    f"the Milvus test server is not installed (.ci/milvus-venv.sh, or set ${MILVUS_SERVER_ENV})")
    with MilvusServer(tmp_path_factory.mktemp("milvus")) as server:
        yield server


@pytest.fixture(scope="package")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    _need_module("ray")
    from devkit.servers import RayCluster

    with RayCluster(tmp_path_factory.mktemp("ray"), num_cpus=2) as cluster:
        yield cluster
    import ray

    if ray.is_initialized():
        ray.shutdown()


_namespaces = iter(range(1, 10_000))


def fresh_namespace(prefix: str = "t") -> str:
    return f"{prefix}{os.getpid()}_{next(_namespaces)}"


def scale_root(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    return tmp_path_factory.mktemp(name)
