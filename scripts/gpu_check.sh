#!/usr/bin/env bash
# The checks to run when a GPU machine is at hand, in one go (about 8 minutes on one H100);
# GPU_CHECK_STAGES="train-flex generate" runs only the stages named:
#   1. packed-example isolation on the GPU for each attention kernel (gpu_smoke_train --isolation)
#   2. a real-scale training step (Qwen2.5-0.5B dims, bf16, packed 4,096-token windows) per kernel
#   3. the generation benchmark on the machine's spare CPU cores (1, 2 and 4 client processes;
#      then 24,000 requests, where start-up and the final merge weigh less)
#   4. the hf backend's tests on the GPU
#   5. the compiled training arm, with whatever time is left
# Python packages the machine lacks travel as wheels in .whl/ (see the device notes); each stage
# has its own time limit so one hang costs only its stage.
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
python3 -V; nproc; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, accelerate, openai, pydantic; print('torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__, 'openai', openai.__version__)"
python3 -c "import flash_attn" 2>/dev/null && echo "flash_attn: yes" || echo "flash_attn: no"

stage() {  # stage NAME SECONDS CMD...: run with a time limit, say how it ended
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s, at ${SECONDS}s)"
  timeout "$limit" "$@"; echo "=== $name rc=$? at ${SECONDS}s"
}
want() { [[ " ${GPU_CHECK_STAGES:-all} " == *" all "* || " ${GPU_CHECK_STAGES:-} " == *" $1 "* ]]; }
want isolation && stage isolation 90 \
  python3 scripts/gpu_smoke_train.py --isolation sdpa,flex_attention,eager
want train-sdpa && stage train-sdpa 120 python3 scripts/gpu_smoke_train.py --attention sdpa
want train-flex && stage train-flex 150 \
  python3 scripts/gpu_smoke_train.py --attention flex_attention
# 16 cores: the loopback server gets 2 processes so that it is not what limits the client
want generate && stage generate 120 python3 benchmarks/bench_generate.py \
  --processes 1,2,4 --server-workers 2 --capacity 16 --fleet-processes 4
want generate-long && stage generate-long 120 python3 benchmarks/bench_generate.py \
  --requests 24000 --minimal-requests 6000 --processes 2,4 --server-workers 2 --fleet ""
want hf-backend && stage hf-backend 60 \
  python3 -m pytest -q -p no:cacheprovider tests/test_hf_local.py
left=$((${GPU_CHECK_BUDGET:-500} - SECONDS))
want train-compile && [ "$left" -gt 60 ] && stage train-sdpa-compile "$left" \
  python3 scripts/gpu_smoke_train.py --attention sdpa --compile
exit 0
