"""Optional test dependencies from the ``dev`` extra (pytrec_eval, SciPy, matplotlib).

Locally a missing one skips the tests that need it, with the ``pip install`` to run; when
``SHOPSEARCH_REQUIRE`` names ``dev`` (as ``.ci/run`` does) it fails, so a CI machine without the
``dev`` extra cannot pass by skipping (tests/optional.py).
"""

from __future__ import annotations

from types import ModuleType

from tests.optional import need_module


def require(module: str) -> ModuleType:
    return need_module("dev", module, module_level=True)
