"""Optional test dependencies from the ``dev`` extra (pytrec_eval, SciPy, matplotlib).

Locally a missing one skips the tests that need it, with the ``pip install`` to run; under CI
(``CI`` set) it fails, so a CI machine without the ``dev`` extra cannot pass by skipping.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

PACKAGES = {"pytrec_eval": "pytrec-eval-terrier", "scipy.stats": "scipy", "matplotlib": "matplotlib"}


def require(module: str) -> ModuleType:
    if os.environ.get("CI"):
        return importlib.import_module(module)
    package = PACKAGES.get(module, module)
    return pytest.importorskip(module, reason=f"needs {module} from the dev extra: pip install {package}")
