"""Who may import whom across the repository: the library imports neither the development kits
(``devkit/``) nor the tests, and the benchmarks never import the test suite (lazy imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            out.append(node.module or "")
    return out


def _offenders(folder: Path, banned: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(ROOT)}: {name}" for path in sorted(folder.rglob("*.py"))
            for name in _imports(path) if name.split(".")[0] in banned]


def test_the_library_imports_neither_devkit_nor_tests() -> None:
    assert _offenders(ROOT / "src" / "shopsearch", ("devkit", "tests")) == []


def test_benchmarks_and_devkit_never_import_the_tests() -> None:
    assert _offenders(ROOT / "benchmarks", ("tests",)) == []
    assert _offenders(ROOT / "devkit", ("tests",)) == []
