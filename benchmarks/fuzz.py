"""Fuzzing at length: the hypothesis properties of tests/hardening/test_properties.py with many
more examples, and schemathesis against the service's OpenAPI schema with many more cases per
operation, on a real server at 127.0.0.1.

    python benchmarks/fuzz.py [--examples 2000] [--api-examples 200]

The baseline in the same run is the CI-sized run (the tests' default counts): both must find
nothing. Writes benchmarks/results/fuzz.json and fuzz.md. Imports the fuzz kit and the service
settings from ``devkit/``: run from the repository root with it on the import path
(``PYTHONPATH=.``, as ``run_all.py`` does).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import ROOT, Run, stopwatch


def properties(examples: int) -> dict:
    env = {**os.environ, "SHOPSEARCH_HYPOTHESIS_EXAMPLES": str(examples)}
    with stopwatch() as sw:
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "tests/hardening/test_properties.py", "--hypothesis-show-statistics"],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    ran = [int(a) + int(b) for a, b in re.findall(r"(\d+) passing, (\d+) failing", p.stdout)]
    names = re.findall(r"test_properties\.py::(\w+):", p.stdout)
    return {"examples_per_property": examples, "properties": len(names), "examples_run": sum(ran),
            "passed": p.returncode == 0, "seconds": round(sw.seconds, 1),
            "tail": p.stdout[-3000:] if p.returncode else ""}


def api(examples: int) -> dict:
    from crash_safety import build_tiny  # same folder

    import shopsearch
    from devkit.fuzzkit import run_fuzz
    from devkit.service import API_KEY, LiveServer, make_settings
    from shopsearch.service import create_app

    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        index = build_tiny(Path(tmp) / "tiny")
        copy = Path(shutil.copytree(index, Path(tmp) / "index"))
        settings = make_settings(copy, Path(tmp) / "data", voice=False)
        with LiveServer(create_app(settings, engine=shopsearch.load(copy))) as server:
            r = run_fuzz(server.url, {"X-API-Key": API_KEY}, examples)
    return {"examples_per_operation_and_mode": examples, "cases": r.cases, "operations": len(r.by_operation),
            "statuses": {str(k): v for k, v in sorted(r.statuses.items())}, "failures": r.failures[:20],
            "seconds": round(r.seconds, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=2000, help="hypothesis examples per property")
    ap.add_argument("--api-examples", type=int, default=200, help="schemathesis cases per operation and mode")
    args = ap.parse_args()
    bench = Run("fuzz", baseline="the CI-sized run (the tests' default counts: 150 examples per property, 15 cases "
                "per operation); both must find nothing")
    out = {"baseline": {"properties": properties(150), "api": api(15)},
           "long": {"properties": properties(args.examples), "api": api(args.api_examples)}}
    rows = ["| run | hypothesis examples | properties passed | schemathesis cases | API failures | statuses |",
            "|---|---|---|---|---|---|"]
    for name, r in out.items():
        rows.append(f"| {name} | {r['properties']['examples_run']} | {r['properties']['passed']} | "
                    f"{r['api']['cases']} | {len(r['api']['failures'])} | {r['api']['statuses']} |")
    md = ["# Fuzzing", "", *rows, ""]
    bench.write(out, md)
    print("\n".join(md))
    ok = all(r["properties"]["passed"] and not r["api"]["failures"] for r in out.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
