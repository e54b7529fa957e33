"""Where and how a training phase runs: devices, kernels, checkpoints (Appendix B, §2.2).

accelerate's `Accelerator` owns devices, process groups, bf16 autocast and trackers (DDP through
`prepare`; sharded students through `sharding.py`); `attention_kernel` picks the attention
implementation that keeps packed examples apart on this machine; `load_model` loads any causal LM
in fp32 master weights, with Liger's fused kernels when asked; checkpoints are accelerate's state
(plus the sharded model and optimizer under FSDP), written under a temporary name and renamed
(resumable after a kill); `finalize` writes the finished Hugging Face checkpoint the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ponder.config import TrainConfig
from ponder.errors import PonderError
from ponder.rundir import atomic_write_json
from ponder.train import sharding

# Dense bf16 peak FLOP/s per GPU for MFU (vendor datasheets, no sparsity).
GPU_PEAK_BF16 = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def gpu_peak(name: str) -> float | None:
    return next((v for k, v in GPU_PEAK_BF16.items() if k in name), None)


def make_accelerator(cfg: TrainConfig, project_dir: Path):
    import torch
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and torch.cuda.is_available())
    # Trackers write under <work>/tracking; finalize moves it into the checkpoint (work is
    # deleted), so local TensorBoard / MLflow logs survive the run.
    project = ProjectConfiguration(str(project_dir), logging_dir=str(project_dir / "tracking"))
    return Accelerator(
        cpu=not torch.cuda.is_available(),  # accelerate only forms a gloo group (torchrun) if told
        mixed_precision="bf16" if bf16 else "no",
        log_with=cfg.report_to or None,
        project_config=project,
    )


# Steady-state training MFU measured on one H100 (Qwen2.5-0.5B dims, bf16, packed 4,096-token
# windows, flex attention; docs/training.md): the default `ponder estimate` prices training with.
MEASURED_TRAIN_MFU = 0.21


def latest_checkpoint(ckpt_root: Path, plan_hash: str) -> tuple[Path | None, int]:
    best: tuple[Path | None, int] = (None, 0)
    for d in ckpt_root.glob("step-*"):
        meta = d / "ponder_state.json"
        if meta.is_file() and json.loads(meta.read_text()).get("plan_hash") == plan_hash:
            step = int(d.name.split("-")[1])
            best = max(best, (d, step), key=lambda x: x[1])
    return best


def save_checkpoint(accelerator, ckpt_root: Path, step: int, plan_hash: str, shards=None) -> None:
    """accelerate's state (model, optimizer, scheduler, RNG) under step-N, atomically; with
    `shards` = (model, optimizer) of a sharded student, those go in `sharded/`, one file a rank."""
    tmp = ckpt_root / f".tmp-step-{step:07d}"
    accelerator.save_state(str(tmp))
    if shards is not None:
        sharding.save(*shards, tmp / "sharded")
    accelerator.wait_for_everyone()  # every rank's files are in before the rename
    if accelerator.is_main_process:
        (tmp / "ponder_state.json").write_text(json.dumps({"step": step, "plan_hash": plan_hash}))
        final = ckpt_root / f"step-{step:07d}"
        os.replace(tmp, final)
        for old in ckpt_root.glob("step-*"):  # keep the newest only
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator, ckpt: Path, shards=None) -> None:
    accelerator.load_state(str(ckpt))
    if shards is not None:
        sharding.load(*shards, ckpt / "sharded")


def attention_kernel(cfg: TrainConfig) -> str:
    """The attention kernel for `cfg.attention`; refuse ones that would break packed isolation."""
    import torch
    import transformers.masking_utils as masking

    attn = cfg.attention
    if attn == "auto":
        attn = "sdpa"
        if torch.cuda.is_available():
            # flex skips the masked blocks of packed windows: on one H100 (Qwen2.5-0.5B dims,
            # bf16, 4,096-token windows) 72k tokens/s steady (21% MFU) vs sdpa's 30k (8.6%), after
            # ~60 s of compiling; it compiles per shape, so only packed windows (one shape) use it
            if cfg.packing:
                attn = "flex_attention"
            with contextlib.suppress(ImportError):
                import flash_attn  # noqa: F401  (varlen kernel over per-example position ids)

                attn = "flash_attention_2"
    if attn == "flex_attention" and not torch.cuda.is_available():
        raise PonderError(
            "train.attention: flex_attention has no CPU backward in this torch; use sdpa on CPU"
        )
    # sdpa/eager/flex isolate packed examples only through transformers' packed-sequence
    # detection from position ids (transformers >= 4.54 with torch >= 2.6); older versions
    # would silently let examples attend to each other.
    if cfg.packing and attn != "flash_attention_2":
        ok = hasattr(masking, "find_packed_sequence_indices") and getattr(
            masking, "_is_torch_greater_or_equal_than_2_6", True
        )
        if not ok:
            raise PonderError(
                "train.packing: this transformers/torch cannot isolate packed examples "
                "(needs transformers>=4.54, torch>=2.6); upgrade or set train.packing=false"
            )
    return attn


def load_model(init_dir: Path, cfg: TrainConfig):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(init_dir)
    model = AutoModelForCausalLM.from_pretrained(
        init_dir, dtype=torch.float32, attn_implementation=attention_kernel(cfg)
    )
    if cfg.liger:
        apply_liger(model)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model.config.use_cache = False  # packed position ids isolate examples only without a cache
    return tokenizer, model


def apply_liger(model) -> None:
    """Liger's Triton kernels in place of RMSNorm, SwiGLU, RoPE and the LM head + cross-entropy
    (fused: the 151,936-wide logits of a Qwen2.5 student are never materialised)."""
    import torch

    if not torch.cuda.is_available():
        raise PonderError(
            "train.liger: Liger kernels are Triton GPU kernels; set train.liger=false"
        )
    try:
        from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN
    except ImportError as e:
        raise PonderError(
            "train.liger: liger-kernel is not installed (pip install 'ponder[gpu]')"
        ) from e
    apply = MODEL_TYPE_TO_APPLY_LIGER_FN.get(model.config.model_type)
    if apply is None:
        raise PonderError(f"train.liger: Liger has no kernels for {model.config.model_type!r}")
    apply(model=model)


def finalize(
    accelerator, model, tokenizer, work: Path, out_dir: Path, summary, lens, sharded: bool = False
) -> None:
    """Write model + tokenizer + log + summary into a temp dir and rename it onto `out_dir`."""
    # Both gather the full weights (a collective: every rank calls it)
    state = sharding.full_state_dict(model) if sharded else accelerator.get_state_dict(model)
    # Flush and close the trackers before their files move. Not accelerator.end_training(): it
    # also destroys the process group, which the next training step of `ponder run` needs.
    for tracker in accelerator.trackers:
        tracker.finish()
    if accelerator.is_main_process:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        try:
            accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state)
            tokenizer.save_pretrained(tmp)
            np.save(tmp / "seq_lens.npy", lens.astype(np.int32))
            shutil.copy(work / "train_log.jsonl", tmp / "train_log.jsonl")
            if (work / "tracking").is_dir():
                shutil.copytree(work / "tracking", tmp / "tracking")
            atomic_write_json(tmp / "train_summary.json", summary)
            if out_dir.exists():  # an unfinished earlier output (no summary): replace it
                shutil.rmtree(out_dir)
            os.replace(tmp, out_dir)
            shutil.rmtree(work, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
