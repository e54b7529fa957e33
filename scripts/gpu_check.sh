#!/usr/bin/env bash
# The checks to run when a GPU machine is at hand, in one go; GPU_CHECK_STAGES="mfu-0.5b-flex fsdp"
# runs only the stages named (default: all). Stages, with their time limits:
#   isolation              packed-example isolation on the GPU per attention kernel          90 s
#   mfu-<size>-<kernels>   training MFU (gpu_smoke_train.py): Qwen2.5 0.5B / 1.5B dims, random
#                          init, real 151,936 vocabulary, bf16, packed 16,384-token windows,
#                          4 windows a step, 12 steps; kernels: sdpa, flex (flex_attention),
#                          flex-liger (+ Liger's fused RMSNorm/SwiGLU/RoPE/LM head+CE),
#                          flex-liger-compile (+ torch.compile); peak memory per GPU  240-360 s each
#   fsdp                   the sharded path on one GPU: accelerate launch --config_file fsdp.yaml
#                          (ponder's FSDP2 units, sharded checkpoints, gathered save)         240 s
#   generate, generate-long  the generation benchmark on the machine's spare CPU cores      120 s each
#   hf-backend             the hf backend's tests on the GPU                                   60 s
# At the end a table of every MFU stage's result (also in $GPU_CHECK_RESULTS). All stages take
# ~25 minutes on one H100/H200 (compiling flex ~60 s per stage; 1.5B dims ~2x 0.5B); pick a subset
# when the device time is shorter, e.g. GPU_CHECK_STAGES="mfu-0.5b-flex mfu-0.5b-flex-liger".
#
# GPU_CHECK_DRY=1 runs the training stages on the CPU at tiny dimensions (gpu_smoke_train.py
# --dry: sdpa for flex, no Liger/compile, FSDP over 2 gloo processes with torchrun) and skips the
# rest, so the script is known to run before a GPU is at hand (tests/test_gpu_check.py).
# Python packages the machine lacks travel as wheels in .whl/ (see the device notes); each stage
# has its own time limit so one hang costs only its stage.
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
DRY=${GPU_CHECK_DRY:-0}
RESULTS=${GPU_CHECK_RESULTS:-${OUT:-/tmp}/gpu_check_results.jsonl}
WORK=${GPU_CHECK_WORKDIR:-/tmp}
PY=${PYTHON:-python3}
: > "$RESULTS"
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
$PY -V; nproc
[ "$DRY" = 1 ] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, transformers, accelerate; print('torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__)"
$PY -c "import liger_kernel" 2>/dev/null && echo "liger_kernel: yes" || echo "liger_kernel: no"
$PY -c "import flash_attn" 2>/dev/null && echo "flash_attn: yes" || echo "flash_attn: no"

stage() {  # stage NAME SECONDS CMD...: run with a time limit, say how it ended
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s, at ${SECONDS}s)"
  timeout "$limit" "$@"; echo "=== $name rc=$? at ${SECONDS}s"
}
want() { [[ " ${GPU_CHECK_STAGES:-all} " == *" all "* || " ${GPU_CHECK_STAGES:-} " == *" $1 "* ]]; }
skip_dry() { [ "$DRY" = 1 ] && echo "=== $1 skipped (dry run)"; }
smoke=(scripts/gpu_smoke_train.py --workdir "$WORK" --record "$RESULTS")
[ "$DRY" = 1 ] && smoke+=(--dry)

if want isolation; then
  if [ "$DRY" = 1 ]; then stage isolation 120 $PY scripts/gpu_smoke_train.py --isolation sdpa,eager --device cpu
  else stage isolation 90 $PY scripts/gpu_smoke_train.py --isolation sdpa,flex_attention,eager; fi
fi
for size in 0.5b 1.5b; do
  limit=$([ "$size" = 0.5b ] && echo 240 || echo 360)
  for kernels in sdpa flex flex-liger flex-liger-compile; do
    name=mfu-$size-$kernels
    want "$name" || continue
    args=(--size "$size" --label "$name" --attention sdpa)
    [[ $kernels == flex* ]] && args=(--size "$size" --label "$name" --attention flex_attention)
    [[ $kernels == *liger* ]] && args+=(--liger)
    [[ $kernels == *compile* ]] && args+=(--compile)
    stage "$name" "$limit" $PY "${smoke[@]}" "${args[@]}"
  done
done
if want fsdp; then
  if [ "$DRY" = 1 ]; then
    stage fsdp 240 $PY -m torch.distributed.run --nproc_per_node 2 --master_port 29531 \
      "${smoke[@]}" --size 0.5b --label fsdp --fsdp --steps 6
  else
    stage fsdp 240 $PY -m accelerate.commands.launch \
      --config_file src/ponder/resources/launch/fsdp.yaml --num_processes 1 \
      "${smoke[@]}" --size 0.5b --label fsdp --attention flex_attention --liger --steps 6
  fi
fi
# 16 cores: the loopback server gets 2 processes so that it is not what limits the client
want generate && { skip_dry generate || stage generate 120 $PY bench/bench_generate.py \
  --processes 1,2,4 --server-workers 2 --capacity 16 --fleet-processes 4; }
want generate-long && { skip_dry generate-long || stage generate-long 120 $PY \
  bench/bench_generate.py --requests 24000 --minimal-requests 6000 --processes 2,4 \
  --server-workers 2 --fleet ""; }
want hf-backend && { skip_dry hf-backend || stage hf-backend 60 \
  $PY -m pytest -q -p no:cacheprovider tests/test_hf_local.py; }
echo "=== results ($RESULTS)"
[ -s "$RESULTS" ] && $PY scripts/gpu_smoke_train.py --table "$RESULTS"
exit 0
