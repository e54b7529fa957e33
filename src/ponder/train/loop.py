"""Supervised distillation of one student on one mix: one training phase (Appendix B).

`train_phase` loads any causal LM checkpoint (a tiny random-init Qwen2 or a real Qwen2.5), trains
it for one pass over the mix with token-measured global batches, the WSD schedule and AdamW
(fused on GPU), loss on assistant tokens only, and saves a normal Hugging Face checkpoint. The
mix is read from its token store, built once and memory-mapped by every rank (train/data.py,
train/tokens.py). The same code runs on one CPU process, under `torchrun`, or under
`accelerate launch` (DDP, or FSDP2 sharding: configs in `resources/launch/`); accelerate owns
devices, bf16 autocast, checkpoint state and experiment trackers, `sharding.py` the FSDP2 units.
Bi-phasic adaptation (§3.3) is two calls: the second phase's `init_dir` is the first's `out_dir`.

Loss normalisation: each step's loss is the sum of token cross-entropies over the answer tokens
of the whole global batch divided by their count (transformers' `num_items_in_batch`), so the
update does not depend on how the step is split into micro-batches or processes.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.config import TrainConfig
from ponder.rundir import config_hash
from ponder.train import data, runtime, sharding
from ponder.train.batching import Encoded, collate
from ponder.train.data import prepare_steps
from ponder.train.schedule import default_lr, wsd_scheduler
from ponder.train.summary import WARM, summarize

__all__ = ["default_lr", "train_phase", "prepare_steps"]


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
    store_key: str
    kernel: str
    lr: float
    sharded: bool
    start: int = 0
    timing: dict = field(default_factory=dict)


def _setup(
    init_dir: Path, mix, out_dir: Path, cfg: TrainConfig, lr: float, seed: int, cache: Path | None
) -> _Run:
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
    enc, key = data.load(accelerator, mix, tokenizer, init_dir, cache or work / "tokens", work, cfg)
    enc, steps = prepare_steps(enc, cfg, world_size=accelerator.num_processes)
    # A checkpoint resumes only the same plan: data (mix and tokenizer), config, LR, seed and
    # starting weights (how many processes tokenised the mix does not matter).
    plan = [key, cfg.model_dump(exclude={"tokenize_procs"}), lr, seed, str(init_dir)]
    plan_hash = config_hash(plan)
    sharded = sharding.requested(cfg)
    if sharded:  # FSDP2: ponder's units (sharding.py); the optimizer sees the sharded parameters
        model = sharding.shard(model, bf16=accelerator.mixed_precision == "bf16")
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        weight_decay=cfg.weight_decay,
        fused=torch.cuda.is_available(),  # App. B: AdamW_fused
    )
    scheduler = wsd_scheduler(
        optimizer, len(steps), cfg.warmup_steps, cfg.decay_steps, cfg.final_lr_ratio
    )
    if not sharded:
        model, optimizer = accelerator.prepare(model, optimizer)
    forward = torch.compile(model) if cfg.compile else model
    accelerator.register_for_checkpointing(scheduler)
    run = _Run(
        cfg,
        out_dir,
        work,
        accelerator,
        model,
        forward,
        optimizer,
        scheduler,
        tokenizer,
        enc,
        steps,
        plan_hash,
        key,
        kernel,
        lr,
        sharded,
    )
    _trackers(run)
    return run


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
        runtime.load_checkpoint(acc, ckpt, _shards(run))
        lines = log_path.read_text().splitlines()[: run.start] if log_path.exists() else []
    acc.wait_for_everyone()
    if not acc.is_main_process:
        return None
    log = open(log_path, "w")  # noqa: SIM115  (closed by _loop)
    log.writelines(line + "\n" for line in lines)
    return log


def _shards(run: _Run):
    return (run.model, run.optimizer) if run.sharded else None


def _accumulating(run: _Run):
    """No gradient reduction inside: every micro-batch of a step but the last."""
    return sharding.no_sync(run.model) if run.sharded else run.accelerator.no_sync(run.model)


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
        with contextlib.nullcontext() if sync else _accumulating(run), acc.autocast():
            out = run.forward(**batch, use_cache=False, num_items_in_batch=step.answer_tokens)
            # DDP averages gradients over ranks; scale so the sum over ranks is the step mean.
            acc.backward(out.loss * world)
        total += out.loss.detach()
    if run.cfg.max_grad_norm > 0 and run.sharded:
        sharding.clip_grad_norm(run.model, run.cfg.max_grad_norm)
    elif run.cfg.max_grad_norm > 0:
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
    run.timing["wall"] = 0.0
    for k in range(run.start, len(run.steps)):
        lr_now = run.scheduler.get_last_lr()[0]
        loss, used = _step(run, k, pad_to)
        slots += used
        elapsed = time.perf_counter() - t0
        run.timing["wall"] = elapsed  # the loop's clock stops at the last step's end, as the log's
        if k - run.start == WARM - 1:
            run.timing["warm"] = elapsed
        record = {
            "step": k + 1,
            "loss": loss,
            "lr": lr_now,
            "tokens": run.steps[k].tokens,
            "elapsed_s": round(elapsed, 4),
        }  # since this process started
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
            runtime.save_checkpoint(
                acc, run.work / "checkpoints", k + 1, run.plan_hash, _shards(run)
            )
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


def train_phase(
    init_dir: Path,
    mix: Path | Sequence[dict],
    out_dir: Path,
    cfg: TrainConfig,
    *,
    lr: float,
    seed: int,
    progress: bool = True,
    cache: Path | None = None,
) -> dict:
    """Train one phase from `init_dir` on `mix` (a mix Parquet file, or examples in memory, in
    training order); save a HF checkpoint at `out_dir`.

    The mix's token store goes under `cache` (the pipeline passes `RunDir.mix_tokens`, shared by
    every phase on that mix), else under `<out_dir>.partial/tokens`. Resumes from the newest
    checkpoint in `<out_dir>.partial/checkpoints` when its plan (data, config, LR, seed,
    starting weights) is the same; whatever else is at `out_dir` is replaced.
    """
    run = _setup(Path(init_dir), mix, Path(out_dir), cfg, lr, seed, cache)
    loss, slots = _loop(run, progress)
    summary = summarize(run, loss, slots)
    runtime.finalize(
        run.accelerator,
        run.model,
        run.tokenizer,
        run.work,
        run.out_dir,
        summary,
        run.enc.lengths,
        sharded=run.sharded,
    )
    return summary
