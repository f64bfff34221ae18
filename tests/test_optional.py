"""The "required in CI" switch (tests/optional.py): a missing optional part skips and says why,
unless ``SHOPSEARCH_REQUIRE`` names it; then it fails with the same message."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.optional import PARTS, REQUIRE_ENV, need_module, required_parts, unavailable

REPO = Path(__file__).resolve().parents[1]


def test_a_missing_part_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs espeak-ng"):
        unavailable("voice", "needs espeak-ng")


def test_a_required_missing_part_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "scale, voice")
    with pytest.raises(pytest.fail.Exception) as failed:
        unavailable("voice", "needs espeak-ng")
    assert "needs espeak-ng" in str(failed.value) and "voice is required" in str(failed.value)
    # a part the switch does not name still skips
    with pytest.raises(pytest.skip.Exception):
        unavailable("browser", "no chromium")


def test_a_required_missing_module_fails_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "browser")
    with pytest.raises(pytest.fail.Exception, match=r"no_such_module_for_tests.*pip install playwright"):
        need_module("browser", "no_such_module_for_tests")
    assert need_module("browser", "json").dumps([1]) == "[1]"  # present: the module itself


def test_the_switch_names_only_known_parts() -> None:
    assert required_parts({REQUIRE_ENV: "voice,browser"}) == {"voice", "browser"}
    assert required_parts({}) == frozenset()
    with pytest.raises(pytest.UsageError, match="unknown part.*vocie.*valid: " + ", ".join(PARTS)):
        required_parts({REQUIRE_ENV: "vocie"})
    with pytest.raises(ValueError, match="unknown part"):
        unavailable("gpu", "x")


def _run(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    """A pytest run over a module with a marked test, a module-level check and a fixture check."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        from tests.optional import check_marks, register

        def pytest_configure(config):
            register(config)

        def pytest_runtest_setup(item):
            check_marks(item)
    """))
    (tmp_path / "test_module.py").write_text(textwrap.dedent("""
        from tests.optional import need_module

        need_module("voice", "no_such_voice_module", module_level=True)

        def test_voice():
            pass
    """))
    (tmp_path / "test_marked.py").write_text(textwrap.dedent("""
        from tests.optional import needs

        @needs("browser", "chromium is not installed")
        def test_marked():
            pass

        @needs("browser", None)
        def test_present():
            pass
    """))
    (tmp_path / "test_fixture.py").write_text(textwrap.dedent("""
        from tests.optional import unavailable

        def test_server():
            unavailable("scale", "PostgreSQL server binaries not found")
    """))
    env = {k: v for k, v in os.environ.items() if k != REQUIRE_ENV}
    env["PYTHONPATH"] = str(REPO)
    if require is not None:
        env[REQUIRE_ENV] = require
    # --continue-on-collection-errors: the module-level failure would otherwise stop the run
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "--continue-on-collection-errors", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_end_to_end_skips_locally_and_fails_when_required(tmp_path: Path) -> None:
    local = _run(tmp_path, None)
    assert local.returncode == 0, local.stdout + local.stderr
    assert "1 passed, 3 skipped" in local.stdout, local.stdout
    for reason in ("no_such_voice_module", "chromium is not installed", "PostgreSQL server binaries not found"):
        assert reason in local.stdout

    ci = _run(tmp_path, "voice,browser,scale")
    assert ci.returncode != 0, ci.stdout
    assert "skipped" not in ci.stdout and "1 passed" in ci.stdout and "warning" not in ci.stdout, ci.stdout
    for reason, part in (("no_such_voice_module", "voice"), ("chromium is not installed", "browser"),
                         ("PostgreSQL server binaries not found", "scale")):
        assert reason in ci.stdout and f"{part} is required" in ci.stdout, ci.stdout
