"""Several service workers on one index: what one worker acknowledges, every worker answers with.

Each request opens a new connection, so the kernel hands it to either worker; a write and the
reads after it land on different workers about half the time.
"""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from devkit import crashkit
from devkit.servers import free_port
from tests.optional import need_module


@pytest.fixture()
def two_workers(tiny_index: Path, tmp_path: Path) -> Iterator[str]:
    """``shopsearch serve --workers 2`` on a copy of the tiny index; yields its URL."""
    need_module("serve", "uvicorn")
    index = Path(shutil.copytree(tiny_index, tmp_path / "idx"))
    port = free_port()
    proc = crashkit.start_server(index, port, workers=2, log=tmp_path / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_a_write_through_one_worker_is_read_through_every_worker(two_workers: str) -> None:
    url = two_workers
    wrong: list[str] = []

    def expect(what: str, want: int, method: str, path: str, body: object = None) -> object:
        status, answer = crashkit._request(method, url + path, body)
        if status != want:
            wrong.append(f"{what}: {status} (wanted {want}) {answer}")
        return answer

    for n in range(12):
        pid = f"w{n}"
        row = {"id": pid, "title": f"zorblax lantern {n}", "price": 10.0 + n}
        expect("write", 200, "POST", "/v1/products:batch", {"upsert": [row]})
        for _ in range(3):
            got = expect("read after write", 200, "GET", f"/v1/products/{quote(pid)}")
            if isinstance(got, dict) and got.get("title") != row["title"]:
                wrong.append(f"read after write: title {got.get('title')!r}")
        expect("click after write", 202, "POST", "/v1/feedback", {"event": "click", "product_id": pid})
        expect("price change", 200, "PATCH", f"/v1/products/{quote(pid)}", {"price": 99.5})
        for _ in range(3):
            got = expect("read after price change", 200, "GET", f"/v1/products/{quote(pid)}")
            if isinstance(got, dict) and got.get("price") != 99.5:
                wrong.append(f"read after price change: price {got.get('price')!r}")
        expect("delete", 200, "DELETE", f"/v1/products/{quote(pid)}")
        for _ in range(3):
            expect("read after delete", 404, "GET", f"/v1/products/{quote(pid)}")
        expect("click after delete", 422, "POST", "/v1/feedback", {"event": "click", "product_id": pid})
    assert not wrong, wrong[:5]


@pytest.mark.slow
def test_experiment_counts_are_summed_over_the_workers(tiny_index: Path, tmp_path: Path) -> None:
    """A scrape of /metrics reaches one worker; the split-traffic counts must be every worker's."""
    need_module("serve", "uvicorn")
    import json
    import subprocess
    import sys
    import time

    config = tmp_path / "exp.json"
    config.write_text(json.dumps({"name": "two-arms", "arms": {"a": {}, "b": {"constraints": "filter"}}}))
    port = free_port()
    code = ("from shopsearch.service import run; "
            f"run({str(tiny_index)!r}, port={port}, workers=2, data_dir={str(tmp_path)!r}, voice=False, "
            f"experiment={str(config)!r})")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if crashkit._request("GET", url + "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        for i in range(20):  # a new connection each: both workers answer some
            status, _ = crashkit._request("POST", url + "/v1/search", {"text": "red shirt", "user_id": f"u{i}"})
            assert status == 200
        status, _ = crashkit._request("POST", url + "/v1/feedback",
                                      {"event": "click", "product_id": "p1", "user_id": "u0"})
        assert status == 202

        def counts() -> tuple[float, float]:
            with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
                lines = r.read().decode().splitlines()
            def total(counter: str) -> float:
                return sum(float(x.split()[-1]) for x in lines
                           if x.startswith("shopsearch_experiment_total{") and f'counter="{counter}"' in x)
            return total("searches"), total("event_click")

        assert {counts() for _ in range(8)} == {(20.0, 1.0)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_concurrent_patches_of_one_product_through_two_workers_keep_every_change(two_workers: str) -> None:
    """Two shoppers' tools change different fields of one product at the same moment, through
    different workers: both changes are acknowledged, so both must be in the product."""
    import threading

    url = two_workers
    lost: list[str] = []
    for n in range(15):
        start = threading.Barrier(2)
        statuses: list[int] = []

        def patch(field: str, n: int = n, start: threading.Barrier = start,
                  statuses: list[int] = statuses) -> None:
            start.wait()
            body = {"attributes": {field: f"v{n}"}}
            statuses.append(crashkit._request("PATCH", f"{url}/v1/products/p1", body)[0])

        threads = [threading.Thread(target=patch, args=(f,)) for f in ("fit", "pattern")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200, 200]
        _, got = crashkit._request("GET", f"{url}/v1/products/p1")
        attributes = got["attributes"] if isinstance(got, dict) else {}
        if attributes.get("fit") != f"v{n}" or attributes.get("pattern") != f"v{n}":
            lost.append(f"round {n}: {attributes}")
    assert not lost, lost[:3]
