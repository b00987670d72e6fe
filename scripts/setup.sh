#!/usr/bin/env bash
# Create .venv in the repository root and install HARE into it (editable).
#   bash scripts/setup.sh            core: `.venv/bin/hare` works
#   bash scripts/setup.sh dev        plus the test tools
#   bash scripts/setup.sh serve,dev  any extras of pyproject.toml, comma-separated
# torch goes in first, pinned: 2.13.0 is the CPU wheel our machines carry; letting pip pick torch
# while resolving the package would pull a multi-GB CUDA build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e ".${1:+[$1]}"
echo "HARE installed in .venv (extras: ${1:-none}); the CLI is .venv/bin/hare"
