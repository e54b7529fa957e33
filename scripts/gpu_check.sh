#!/usr/bin/env bash
# The GPU checks to run when a GPU machine is at hand: a real-scale training step (bf16, packing).
# Wheels for pure-Python deps can be carried in .gpu_wheels/ for machines without a registry.
set -x
python -V; nvidia-smi --query-gpu=name,memory.total --format=csv
python -c "import pydantic, yaml" 2>/dev/null || python -m pip install -q --no-index --find-links .gpu_wheels pydantic pyyaml 2>&1 | tail -2
python -c "import torch, transformers; print(torch.__version__, transformers.__version__)"
export PYTHONPATH=$PWD/src
timeout 400 python scripts/gpu_smoke_train.py --steps 8 2>&1 | tail -30
