"""API fuzzing with schemathesis against the service's own OpenAPI schema, on a real server at
127.0.0.1: no 5xx, and every response conforms to the schema (body, content type).

Bounded: ``SHOPSEARCH_FUZZ_EXAMPLES`` positive and as many negative cases per operation
(default 15); ``benchmarks/fuzz.py`` runs more. Requests carry the API key so the fuzzer
reaches the write paths too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.optional import need_module

# ruff: noqa: E402
# (the imports below the check need the dev and serve extras: a missing one skips the module, or fails it
# when SHOPSEARCH_REQUIRE names the part; tests/optional.py)
need_module("dev", "schemathesis", module_level=True)
need_module("serve", "uvicorn", module_level=True)

import shopsearch
from devkit.fuzzkit import run_fuzz
from devkit.service import API_KEY, LiveServer, make_settings
from shopsearch.service import create_app

EXAMPLES = int(os.environ.get("SHOPSEARCH_FUZZ_EXAMPLES", "15"))


def test_api_conforms_to_its_schema_and_never_5xx(tiny_index: Path, tmp_path: Path) -> None:
    index = Path(shutil.copytree(tiny_index, tmp_path / "index"))
    settings = make_settings(index, tmp_path / "data", voice=False)
    with LiveServer(create_app(settings, engine=shopsearch.load(index))) as server:
        report = run_fuzz(server.url, {"X-API-Key": API_KEY}, EXAMPLES)
    assert report.cases >= 10 * len(report.by_operation)
    assert not report.failures, "\n\n".join(report.failures)


@pytest.mark.parametrize("text", ["shoes under " + "9" * 400, "between 5 and " + "9" * 320 + " red", "9" * 499,
                                  "red 😀" * 80, "\u202e\u0301\u200d" * 100])
def test_search_regressions_found_by_fuzzing(app_client, text: str) -> None:  # type: ignore[no-untyped-def]
    """Inputs the property tests found: a price beyond the float range became an ``inf`` price
    constraint, shown as ``"value": null`` in the response."""
    r = app_client.post("/v1/search", json={"text": text, "explain": True})
    assert r.status_code == 200, r.text
    for c in (r.json()["parsed"] or {}).get("constraints", []):
        assert c["value"] is not None and (c["field"] != "price" or "e+" not in str(c["value"]))
