"""What a finished training phase reports (`train_summary.json`): its data, FLOPs and speed.

Tokens and FLOPs (Appendix C, `paper` and `exact`) count every trained example; speed counts the
examples trained by this process run (a resumed run leaves out the steps before its checkpoint).
Steady state leaves out the first `WARM` steps: kernel choice, compiling and cache warm-up (on one
H100 a flex-attention run spent 60 of its 65 s in them). MFU is exact FLOPs ÷ wall time ÷ the
GPUs' dense bf16 peak; peak GPU memory is the largest any rank allocated.
"""

from __future__ import annotations

import numpy as np

from ponder.flops import ModelDims, train_flops
from ponder.train import runtime
from ponder.train.schedule import wsd_phases

WARM = 3  # steps left out of the steady-state speed


def _speed(run, summary: dict, dims: ModelDims, run_lens: np.ndarray, slots: int) -> None:
    """Tokens/s, packing efficiency, MFU and peak GPU memory."""
    import torch

    acc, wall, lens = run.accelerator, run.timing["wall"], run.enc.lengths
    real = acc.reduce(torch.tensor(float(slots), device=acc.device), "sum").item()
    summary["tokens_per_s"] = float(run_lens.sum() / wall) if wall > 0 and len(run_lens) else None
    summary["packing_efficiency"] = float(run_lens.sum() / real) if real else None
    steady = run.steps[run.start + WARM :]
    span = wall - run.timing.get("warm", 0.0)  # last step end - WARM-th step end
    steady_lens = np.concatenate([lens[s.examples] for s in steady]) if steady else lens[:0]
    if len(steady) >= 2:
        summary["steady_tokens_per_s"] = float(steady_lens.sum() / span)
    if not torch.cuda.is_available():
        return
    mem = torch.tensor(float(torch.cuda.max_memory_allocated()), device=acc.device)
    summary["peak_gpu_mem_gb"] = acc.reduce(mem, "max").item() / 2**30
    peak = runtime.gpu_peak(torch.cuda.get_device_name())
    if peak and wall > 0 and len(run_lens):
        world = acc.num_processes
        summary["mfu"] = train_flops(dims, run_lens, "exact") / wall / (peak * world)
        if len(steady) >= 2:
            summary["steady_mfu"] = train_flops(dims, steady_lens, "exact") / span / (peak * world)


def summarize(run, loss: float, slots: int) -> dict:
    acc, lens, steps, enc = run.accelerator, run.enc.lengths, run.steps, run.enc
    dims = ModelDims.from_hf_config(acc.unwrap_model(run.model).config)
    run_lens = np.concatenate([lens[s.examples] for s in steps[run.start :]] or [lens[:0]])
    summary = {
        "steps": len(steps),
        "resumed_from_step": run.start,
        "examples": int(len(lens)),
        "tokens": int(lens.sum()),
        "answer_tokens": int(enc.answer_lengths.sum()),
        "truncated_examples": enc.truncated,
        "seq_lens": "seq_lens.npy",
        "seq_len_sum": int(lens.sum()),
        "seq_len_sq_sum": int((lens.astype(np.float64) ** 2).sum()),
        "train_flops": train_flops(dims, lens, "paper"),
        "train_flops_exact": train_flops(dims, lens, "exact"),
        "final_loss": loss,
        "lr": run.lr,
        "wsd_phases": list(wsd_phases(len(steps), run.cfg.warmup_steps, run.cfg.decay_steps)),
        "micro_batches_per_step": float(np.mean([len(s.micro) for s in steps])) / acc.num_processes,
        "world_size": acc.num_processes,
        "distributed": acc.distributed_type.value,  # NO, MULTI_CPU, MULTI_GPU, FSDP, ...
        "sharding": "fsdp2" if run.sharded else "none",
        "precision": acc.mixed_precision,
        "attention": run.kernel,
        "liger": run.cfg.liger,
        "device": str(acc.device),
        "token_store": run.store_key,
        "wall_s": run.timing["wall"],
    }
    _speed(run, summary, dims, run_lens, slots)
    return summary
