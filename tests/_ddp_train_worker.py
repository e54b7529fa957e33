"""Run by `torchrun --nproc_per_node 2` from test_train_ddp.py: one train_phase over gloo.

    _ddp_train_worker.py INIT_DIR OUT_DIR TRAIN_CONFIG_JSON [DIE_AFTER_CHECKPOINT_STEP]

With a step, every rank raises KeyboardInterrupt right after that step's checkpoint is saved:
a run killed mid-phase, to be resumed by the next launch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch.distributed as dist

from _train_world import make_pairs
from ponder.config import TrainConfig
from ponder.train import runtime
from ponder.train.loop import train_phase
from ponder.train.mix import build_mix


def _die_after(step: int) -> None:
    real_save = runtime.save_checkpoint

    def save_then_die(acc, root, k, plan_hash, shards=None):
        real_save(acc, root, k, plan_hash, shards)
        if k == step:
            raise KeyboardInterrupt

    runtime.save_checkpoint = save_then_die


if __name__ == "__main__":
    init_dir, out_dir, cfg_json = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    if len(sys.argv) > 4:
        _die_after(int(sys.argv[4]))
    examples, _ = build_mix(make_pairs(160), 0.5, "sequential", seed=0)
    cfg = TrainConfig.model_validate_json(cfg_json)
    train_phase(init_dir, examples, out_dir, cfg, lr=3e-3, seed=0, progress=False)
    if dist.is_initialized():
        dist.barrier()  # without it, one run in three aborted in destroy
        dist.destroy_process_group()
