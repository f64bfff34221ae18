"""Several service workers on one index: what one worker acknowledges, every worker answers with.

Each request opens a new connection, so the kernel hands it to either worker; a write and the
reads after it land on different workers about half the time.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from devkit import crashkit
from devkit.servers import free_port
from tests.optional import need_module


@pytest.mark.slow
def test_a_write_through_one_worker_is_read_through_every_worker(tiny_index: Path, tmp_path: Path) -> None:
    need_module("serve", "uvicorn")
    index = Path(shutil.copytree(tiny_index, tmp_path / "idx"))
    port = free_port()
    proc = crashkit.start_server(index, port, workers=2, log=tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    wrong: list[str] = []

    def expect(what: str, want: int, method: str, path: str, body: object = None) -> object:
        status, answer = crashkit._request(method, url + path, body)
        if status != want:
            wrong.append(f"{what}: {status} (wanted {want}) {answer}")
        return answer

    try:
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
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not wrong, wrong[:5]
