#!/usr/bin/env bash
# Create .venv and install ponder with its test tools. On CPU machines torch is pinned to the
# CPU wheel (torch==2.13.0); a bare `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    .venv/bin/python -m pip install --quiet torch
  else
    .venv/bin/python -m pip install --quiet torch==2.13.0
  fi
fi
.venv/bin/python -m pip install --quiet -e ".[dev]"
