"""Fully sharded training (FSDP2) for students too large to replicate on every GPU.

ponder shards the student itself with torch's `fully_shard`, one unit per decoder layer (the
classes a transformers model lists in `_no_split_modules`) plus the root, and never hands the model
to `accelerator.prepare`: accelerate still forms the process group, places the device and runs
autocast, but its FSDP integration cannot run without a GPU (accelerate 1.15 turns a CPU FSDP
launch into DDP, `PartialState._prepare_backend`), so the code that shards, checkpoints and
gathers would otherwise run for the first time on the cluster. Owning it here means the same
lines run under `torchrun` with 2 gloo processes on a CPU (tests/test_train_ddp.py) and under
`accelerate launch --config_file fsdp.yaml` on GPUs.

Sharding is requested by `train.fsdp: true` or by an accelerate FSDP launch (accelerate sets
`ACCELERATE_USE_FSDP=true`). Parameters stay fp32 masters; with bf16 the all-gathers and the
forward run in bf16 and gradients are reduced in fp32 (`MixedPrecisionPolicy`). Checkpoints are
sharded (torch.distributed.checkpoint: one file per rank plus metadata); the final Hugging Face
checkpoint is the full state gathered to rank 0 on the CPU.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ponder.config import TrainConfig
from ponder.errors import PonderError


def requested(cfg: TrainConfig) -> bool:
    return cfg.fsdp or os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"


def shard(model, bf16: bool):
    """Shard `model` in place over all ranks: each decoder layer, then the root (embeddings,
    final norm and the LM head, which share one unit when tied)."""
    import torch
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    if not torch.distributed.is_initialized():
        raise PonderError(
            "train.fsdp: sharding needs a process group; launch with torchrun or accelerate"
        )
    policy = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if bf16
        else MixedPrecisionPolicy()
    )
    # The mesh is on the current device (accelerate has set it); sharding layer by layer keeps
    # at most one unsharded layer there at a time.
    blocks = set(getattr(model, "_no_split_modules", None) or [])
    for module in model.modules():
        if type(module).__name__ in blocks:
            fully_shard(module, mp_policy=policy)
    fully_shard(model, mp_policy=policy)  # moves what it shards to the mesh's device
    return model


@contextlib.contextmanager
def no_sync(model):
    """Accumulate gradients locally (no reduce-scatter) inside the block."""
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def clip_grad_norm(model, max_norm: float) -> None:
    import torch

    # Gradients are DTensor shards: torch's clip computes the global norm across ranks.
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)


def save(model, optimizer, path: Path) -> None:
    """Model and optimizer state, sharded: every rank writes its own shard (collective)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    msd, osd = get_state_dict(model, optimizer)
    dcp.save({"model": msd, "optim": osd}, checkpoint_id=str(path))


def load(model, optimizer, path: Path) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    # get_state_dict initialises the optimizer's state, so its shapes are there to be filled
    msd, osd = get_state_dict(model, optimizer)
    state = {"model": msd, "optim": osd}
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(
        model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"]
    )


def full_state_dict(model) -> dict:
    """The whole model's weights on rank 0's CPU (empty elsewhere); a collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    state = get_model_state_dict(model, options=opts)
    # Tied weights (a Qwen2.5 student's embeddings and LM head) arrive as two gathered copies,
    # which save_pretrained cannot recognise as one: keep the first name of each parameter.
    first: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if first.setdefault(id(param), name) != name:
            state.pop(name, None)
    return state
