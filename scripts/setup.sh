#!/usr/bin/env bash
# Create .venv in the repository root and install HARE into it (editable).
#   bash scripts/setup.sh            core: `.venv/bin/hare` works
#   bash scripts/setup.sh dev        plus the test tools
#   bash scripts/setup.sh serve,dev  any extras of pyproject.toml, comma-separated
# torch goes in first, pinned: 2.13.0 is the CPU wheel our machines carry; letting pip pick torch
# while resolving the package would pull a multi-GB CUDA build instead, and scripts/constraints.txt
# keeps it pinned while the extras resolve (GPTQModel would otherwise upgrade it).
# llama-cpp-python (extra `gguf`) compiles llama.cpp (~12 min on 2 cores). A native build
# (-march=native) dies with SIGILL on CPUs that advertise features they trap (AMX on our VMs), so it
# is built for a portable AVX2 baseline unless CMAKE_ARGS is already set.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" torch==2.13.0
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
"${PIP[@]}" -c scripts/constraints.txt -e ".${1:+[$1]}"
echo "HARE installed in .venv (extras: ${1:-none}); the CLI is .venv/bin/hare"
