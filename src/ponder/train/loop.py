"""Supervised distillation of one student on one mix: one training phase (Appendix B).

`train_phase` loads any causal LM checkpoint (a tiny random-init Qwen2 or a real Qwen2.5), trains
it for one pass over the mix with token-measured global batches, the WSD schedule and AdamW
(fused on GPU), loss on assistant tokens only, and saves a normal Hugging Face checkpoint. The
same code runs on one CPU process, under `torchrun`, or under `accelerate launch` (DDP, FSDP,
DeepSpeed ZeRO-3: configs in `ponder/launch/`); accelerate owns devices, wrapping, bf16 autocast,
checkpoint state and experiment trackers. Bi-phasic adaptation (§3.3) is two calls: the second
phase's `init_dir` is the first phase's `out_dir`.

Loss normalisation: each step's loss is the sum of token cross-entropies over the answer tokens
of the whole global batch divided by their count (transformers' `num_items_in_batch`), so the
update does not depend on how the step is split into micro-batches or processes.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ponder.config import TrainConfig
from ponder.errors import PonderError
from ponder.flops import ModelDims, train_flops
from ponder.rundir import config_hash
from ponder.train import runtime
from ponder.train.batching import Encoded, collate, encode, plan_steps
from ponder.train.schedule import default_lr, wsd_phases, wsd_scheduler

__all__ = ["default_lr", "train_phase", "prepare_steps"]

WARM = 3  # steps left out of the steady-state speed


def _budget(examples: list[dict], epochs: float) -> list[dict]:
    # Fractional epochs take a prefix of the ordered mix; more than one repeats it in order.
    whole, frac = int(epochs), epochs - int(epochs)
    return examples * whole + examples[: round(frac * len(examples))]


def prepare_steps(tokenizer, examples: list[dict], cfg: TrainConfig, world_size: int = 1):
    """Encode the mix and plan its optimizer steps (after the epochs and max_tokens budgets)."""
    enc = encode(tokenizer, _budget(examples, cfg.epochs), cfg.max_seq_len)
    if cfg.max_tokens is not None:
        keep = max(1, int(np.searchsorted(np.cumsum(enc.lengths), cfg.max_tokens, side="right")))
        enc = Encoded(
            enc.ids[: enc.offsets[keep]],
            enc.offsets[: keep + 1],
            enc.n_prompt[:keep],
            enc.truncated,
        )
    steps = plan_steps(
        enc,
        cfg.global_batch_tokens,
        cfg.micro_batch_size,
        world_size=world_size,
        packing=cfg.packing,
        window=cfg.max_seq_len,
    )
    return enc, steps


@dataclass
class _Run:
    """Everything one training phase holds while it runs."""

    cfg: TrainConfig
    out_dir: Path
    work: Path  # <out_dir>.partial: checkpoints and the log while training
    accelerator: Any
    model: Any
    forward: Any  # the model, or its torch.compile wrapper (shares the parameters)
    optimizer: Any
    scheduler: Any
    tokenizer: Any
    enc: Encoded
    steps: list
    plan_hash: str
    kernel: str
    lr: float
    start: int = 0
    timing: dict = field(default_factory=dict)


def _setup(init_dir: Path, examples: list[dict], out_dir: Path, cfg: TrainConfig, lr: float,
           seed: int) -> _Run:  # fmt: skip
    """Accelerator, model, data plan, optimizer and WSD schedule, then the resume point."""
    import torch
    from accelerate.utils import set_seed

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    work = out_dir.with_name(out_dir.name + ".partial")
    accelerator = runtime.make_accelerator(cfg, work)
    set_seed(seed)
    tokenizer, model = runtime.load_model(init_dir, cfg)
    kernel = model.config._attn_implementation  # before DDP/FSDP wrap the model
    enc, steps = prepare_steps(tokenizer, examples, cfg, world_size=accelerator.num_processes)
    # A checkpoint resumes only the same plan: data, config, LR, seed and starting weights.
    plan_hash = config_hash(
        [enc.lengths.tolist(), int(enc.ids.sum()), cfg.model_dump(), lr, seed, str(init_dir)]
    )
    _check_deepspeed(accelerator, steps)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=lr, betas=(cfg.adam_beta1, cfg.adam_beta2),
        weight_decay=cfg.weight_decay, fused=torch.cuda.is_available(),  # App. B: AdamW_fused
    )  # fmt: skip
    scheduler = wsd_scheduler(
        optimizer, len(steps), cfg.warmup_steps, cfg.decay_steps, cfg.final_lr_ratio
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    forward = torch.compile(model) if cfg.compile else model
    accelerator.register_for_checkpointing(scheduler)
    run = _Run(cfg, out_dir, work, accelerator, model, forward, optimizer, scheduler, tokenizer,
               enc, steps, plan_hash, kernel, lr)  # fmt: skip
    _trackers(run)
    return run


def _check_deepspeed(accelerator, steps) -> None:
    if accelerator.distributed_type == "DEEPSPEED" and any(
        len(s.micro) > accelerator.num_processes for s in steps
    ):
        # DeepSpeed's engine steps the optimizer on every backward unless it owns accumulation,
        # and its accumulation count is fixed while ponder's follows each step's tokens.
        raise PonderError(
            "train.micro_batch_size: under DeepSpeed each rank must run one micro-batch per step; "
            "raise micro_batch_size (or use the FSDP launch config)"
        )


def _trackers(run: _Run) -> None:
    if not run.cfg.report_to:
        return
    # TensorBoard's hparams take only int, float, str and bool (None, lists fail)
    hparams = {**run.cfg.model_dump(), "lr": run.lr}
    hparams = {
        k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in hparams.items()
    }
    run.accelerator.init_trackers(run.out_dir.name, config=hparams)


def _resume(run: _Run) -> Any:
    """Load the newest checkpoint of this plan; return the open log (main process only)."""
    acc = run.accelerator
    run.work.mkdir(parents=True, exist_ok=True)
    log_path = run.work / "train_log.jsonl"
    ckpt, run.start = runtime.latest_checkpoint(run.work / "checkpoints", run.plan_hash)
    lines: list[str] = []
    if ckpt is not None:
        acc.load_state(str(ckpt))
        lines = log_path.read_text().splitlines()[: run.start] if log_path.exists() else []
    acc.wait_for_everyone()
    if not acc.is_main_process:
        return None
    log = open(log_path, "w")  # noqa: SIM115  (closed by _loop)
    log.writelines(line + "\n" for line in lines)
    return log


def _step(run: _Run, k: int, pad_to: int) -> tuple[float, int]:
    """One optimizer step over this rank's micro-batches; (global loss, padded slots)."""
    import torch

    acc, step = run.accelerator, run.steps[k]
    world, rank = acc.num_processes, acc.process_index
    pad_id = run.tokenizer.pad_token_id if run.tokenizer.pad_token_id is not None else 0
    mine = step.micro[rank::world]
    total, slots = torch.zeros((), device=acc.device), 0
    for j, rows in enumerate(mine):
        batch = {n: t.to(acc.device) for n, t in collate(run.enc, rows, pad_id, pad_to).items()}
        slots += batch["input_ids"].numel()
        sync = j == len(mine) - 1
        with contextlib.nullcontext() if sync else acc.no_sync(run.model), acc.autocast():
            out = run.forward(**batch, use_cache=False, num_items_in_batch=step.answer_tokens)
            # DDP averages gradients over ranks; scale so the sum over ranks is the step mean.
            acc.backward(out.loss * world)
        total += out.loss.detach()
    if run.cfg.max_grad_norm > 0:
        acc.clip_grad_norm_(run.model.parameters(), run.cfg.max_grad_norm)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return acc.reduce(total, "sum").item(), slots


def _loop(run: _Run, progress: bool) -> tuple[float, int]:
    """Train from `run.start` to the end; returns (final loss, padded slots used here)."""
    acc, cfg = run.accelerator, run.cfg
    log = _resume(run)
    bar = _bar(run) if progress and acc.is_main_process else None
    # Compiled (or flex attention, compiled per shape) and packed: pad windows to the full
    # window, one shape for every forward.
    pad_to = (
        cfg.max_seq_len if cfg.packing and (cfg.compile or run.kernel == "flex_attention") else 0
    )
    run.model.train()
    loss, slots, t0 = float("nan"), 0, time.perf_counter()
    for k in range(run.start, len(run.steps)):
        lr_now = run.scheduler.get_last_lr()[0]
        loss, used = _step(run, k, pad_to)
        slots += used
        elapsed = time.perf_counter() - t0
        if k - run.start == WARM - 1:
            run.timing["warm"] = elapsed
        record = {"step": k + 1, "loss": loss, "lr": lr_now, "tokens": run.steps[k].tokens,
                  "elapsed_s": round(elapsed, 4)}  # since this process started  # fmt: skip
        if log:
            log.write(json.dumps(record) + "\n")
            log.flush()
        if cfg.report_to:
            acc.log(record, step=k + 1)
        if bar:
            bar[0].update(
                bar[1], advance=1, description=f"train {run.out_dir.name} loss {loss:.3f}"
            )
        if cfg.save_every and (k + 1) % cfg.save_every == 0 and k + 1 < len(run.steps):
            runtime.save_checkpoint(acc, run.work / "checkpoints", k + 1, run.plan_hash)
    run.timing["wall"] = time.perf_counter() - t0
    if bar:
        bar[0].stop()
    if log:
        log.close()
    return loss, slots


def _bar(run: _Run):
    from rich.progress import Progress

    bar = Progress(transient=True)
    bar.start()
    return bar, bar.add_task(f"train {run.out_dir.name}", total=len(run.steps), completed=run.start)


def _speed(run: _Run, summary: dict, dims: ModelDims, run_lens: np.ndarray, slots: int) -> None:
    """Tokens/s, packing efficiency and MFU; steady state leaves out the first WARM steps
    (kernel choice, compiling, cache warm-up: on one H100 a flex-attention run spent 60 of its
    65 s in them)."""
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
    peak = runtime.gpu_peak(torch.cuda.get_device_name()) if torch.cuda.is_available() else None
    if peak and wall > 0 and len(run_lens):
        world = acc.num_processes
        summary["mfu"] = train_flops(dims, run_lens, "exact") / wall / (peak * world)
        if len(steady) >= 2:
            summary["steady_mfu"] = train_flops(dims, steady_lens, "exact") / span / (peak * world)


def _summary(run: _Run, loss: float, slots: int) -> dict:
    acc, lens, steps = run.accelerator, run.enc.lengths, run.steps
    dims = ModelDims.from_hf_config(acc.unwrap_model(run.model).config)
    run_lens = np.concatenate([lens[s.examples] for s in steps[run.start :]] or [lens[:0]])
    summary = {
        "steps": len(steps), "resumed_from_step": run.start, "examples": int(len(lens)),
        "tokens": int(lens.sum()), "answer_tokens": int(run.enc.answer_lengths.sum()),
        "truncated_examples": run.enc.truncated, "seq_lens": "seq_lens.npy",
        "seq_len_sum": int(lens.sum()), "seq_len_sq_sum": int((lens.astype(np.float64) ** 2).sum()),
        "train_flops": train_flops(dims, lens, "paper"),
        "train_flops_exact": train_flops(dims, lens, "exact"),
        "final_loss": loss, "lr": run.lr,
        "wsd_phases": list(wsd_phases(len(steps), run.cfg.warmup_steps, run.cfg.decay_steps)),
        "micro_batches_per_step": float(np.mean([len(s.micro) for s in steps])) / acc.num_processes,
        "world_size": acc.num_processes,
        "distributed": acc.distributed_type.value,  # NO, MULTI_CPU, MULTI_GPU, FSDP, ...
        "precision": acc.mixed_precision, "attention": run.kernel, "device": str(acc.device),
        "wall_s": run.timing["wall"],
    }  # fmt: skip
    _speed(run, summary, dims, run_lens, slots)
    return summary


def train_phase(
    init_dir: Path,
    examples: list[dict],
    out_dir: Path,
    cfg: TrainConfig,
    *,
    lr: float,
    seed: int,
    progress: bool = True,
) -> dict:
    """Train one phase from `init_dir` on `examples` (in order); save a HF checkpoint at `out_dir`.

    Resumes from the newest checkpoint in `<out_dir>.partial/checkpoints` when its plan (data,
    config, LR, seed, starting weights) is the same; whatever else is at `out_dir` is replaced.
    """
    run = _setup(Path(init_dir), examples, Path(out_dir), cfg, lr, seed)
    loss, slots = _loop(run, progress)
    summary = _summary(run, loss, slots)
    runtime.finalize(run.accelerator, run.model, run.tokenizer, run.work, run.out_dir, summary,
                     run.enc.lengths)  # fmt: skip
    return summary
