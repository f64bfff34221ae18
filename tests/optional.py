"""Optional parts of the test environment, and the one switch that makes them required.

Some tests need a part that a plain ``pip install -e .`` does not bring:

- ``serve``: the serve extra (FastAPI, httpx, python-multipart, uvicorn with httptools);
- ``dev``: the dev extra's test libraries (pytrec_eval, SciPy, matplotlib, hypothesis, schemathesis);
- ``voice``: the voice extra (faster-whisper, PyAV, the Whisper model packages) and Debian's espeak-ng;
- ``browser``: playwright and Debian's chromium;
- ``scale``: the scale extra (psycopg, pymilvus, Ray) and the PostgreSQL and Milvus servers;
- ``data``: the shared sample catalogues (``$SHOPSEARCH_DATA``).

Locally a missing part skips the tests that need it, and the skip says what is missing and how
to install it. ``SHOPSEARCH_REQUIRE`` lists the parts that must be there (comma-separated, e.g.
``scale,voice,browser``; ``.ci/run`` lists everything CI installs): a missing required part
fails the test with the same message, so CI never passes by skipping.

Use :func:`unavailable` where a test finds a part missing, :func:`need_module` instead of
``pytest.importorskip``, and :func:`needs` as a mark (checked before the test runs, like
``skipif``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from types import ModuleType
from typing import Literal, NoReturn, get_args

import pytest

Part = Literal["serve", "dev", "voice", "browser", "scale", "data"]
PARTS: tuple[Part, ...] = get_args(Part)
REQUIRE_ENV = "SHOPSEARCH_REQUIRE"
MARK = "needs_part"

INSTALL: dict[Part, str] = {
    "serve": 'pip install "shopsearch[serve]"',
    "dev": 'pip install "shopsearch[dev]"',
    "voice": 'pip install "shopsearch[voice]" and apt-get install espeak-ng',
    "browser": "pip install playwright and apt-get install chromium",
    "scale": "pip install \"shopsearch[scale]\", apt-get install postgresql, .ci/milvus-venv.sh",
    "data": "set $SHOPSEARCH_DATA to the folder holding fashion/ and grocery/",
}


def required_parts(environ: Mapping[str, str] = os.environ) -> frozenset[Part]:
    """The parts ``SHOPSEARCH_REQUIRE`` names; an unknown name is a usage error naming the valid ones."""
    names = [n.strip() for n in environ.get(REQUIRE_ENV, "").split(",") if n.strip()]
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        raise pytest.UsageError(f"{REQUIRE_ENV}: unknown part(s) {', '.join(unknown)}; valid: {', '.join(PARTS)}")
    return frozenset(n for n in PARTS if n in names)


def unavailable(part: Part, reason: str, *, module_level: bool = False) -> NoReturn:
    """``part`` is missing (``reason`` says what): fail when it is required, else skip.

    ``module_level``: called while a test module is imported (the failure is then a collection
    error, which stops the run)."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; valid: {', '.join(PARTS)}")
    if part in required_parts():
        pytest.fail(f"{reason} [{part} is required here: {REQUIRE_ENV}={os.environ.get(REQUIRE_ENV)}]",
                    pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


def need_module(part: Part, module: str, *, module_level: bool = False) -> ModuleType:
    """``import module`` for a test that needs ``part`` (:func:`unavailable` when it cannot)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        reason = f"needs {module} ({exc}); {INSTALL[part]}"
    unavailable(part, reason, module_level=module_level)  # outside ``except``: no chained traceback


def needs(part: Part, missing: str | None) -> pytest.MarkDecorator:
    """A mark for tests that need ``part``: ``missing`` says what of it is missing (None: nothing).
    ``tests/conftest.py`` turns it into a skip, or a failure when ``part`` is required."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; valid: {', '.join(PARTS)}")
    return getattr(pytest.mark, MARK)(part, missing)


def register(config: pytest.Config) -> None:
    """Register the :func:`needs` mark and check ``SHOPSEARCH_REQUIRE`` (from ``pytest_configure``)."""
    config.addinivalue_line("markers", f"{MARK}(part, missing): the test needs an optional part "
                                       "(tests/optional.py); skipped, or failed when the part is required")
    required_parts()  # an unknown name stops the run before it starts


def check_marks(item: pytest.Item) -> None:
    """Apply the :func:`needs` marks of ``item`` (from ``pytest_runtest_setup``)."""
    for mark in item.iter_markers(MARK):
        part, missing = mark.args
        if missing:
            unavailable(part, missing)
