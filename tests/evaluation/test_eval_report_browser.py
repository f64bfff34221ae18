"""The HTML report in a real browser (Debian's chromium via playwright), with the network cut off:
every figure and thumbnail must render from the file alone. The screenshot goes to
``$SHOPSEARCH_ARTIFACTS/screenshots`` (or a pytest tmp dir) for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.optional import need_module

from ..conftest import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from .test_eval_compare_report import _runs

ARGS = CHROMIUM_ARGS
pytestmark = [needs_chromium, pytest.mark.slow]


def test_report_renders_offline(tmp_path: Path) -> None:
    from shopsearch.evaluation.report import write_report

    sync_api = need_module("browser", "playwright.sync_api")
    report = write_report(_runs(tmp_path), tmp_path / "report.html", n_examples=3, n_samples=200)
    shots = Path(os.environ["SHOPSEARCH_ARTIFACTS"]) / "screenshots" if os.environ.get("SHOPSEARCH_ARTIFACTS") \
        else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def block(route) -> None:  # type: ignore[no-untyped-def]
                requested.append(route.request.url)
                route.abort()

            page.route("http*://**/*", block)
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.complete && e.naturalWidth > 0])")
            headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
            page.screenshot(path=str(shots / "eval_report.png"), full_page=True)
        finally:
            browser.close()
    assert not requested, requested
    assert len(images) >= 4 + 3 * 2 * 4
    broken = [alt for alt, ok in images if not ok]
    assert not broken, broken
    assert "Recall@k" in headings and "Example queries" in headings
