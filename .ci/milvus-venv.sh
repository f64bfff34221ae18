#!/usr/bin/env bash
# The Milvus standalone test server (PyPI `milvus`, 2.3.x) in its own virtual environment: its
# Python wrapper pins an old pymilvus and needs marshmallow<3.20, which must not meet the
# project's current pymilvus. Idempotent: an existing, complete environment is kept.
# Usage: .ci/milvus-venv.sh [DIR]   (default .ci-cache/milvus-venv); prints the milvus-server path.
set -euo pipefail
DIR="${1:-.ci-cache/milvus-venv}"
PYTHON="${PYTHON:-python3}"
if [[ ! -f "$DIR/.complete" ]]; then
    rm -rf "$DIR"
    "$PYTHON" -m venv "$DIR"
    "$DIR/bin/python" -m pip install --quiet --disable-pip-version-check "milvus==2.3.5" "marshmallow<3.20"
    # unpack the server binaries once (the test fixture links them into each data folder)
    "$DIR/bin/python" -c "import sys, milvus; milvus._initialize_data_files(sys.argv[1])" "$DIR/milvus-bin"
    touch "$DIR/.complete"
fi
echo "$(cd "$DIR" && pwd)/bin/milvus-server"
