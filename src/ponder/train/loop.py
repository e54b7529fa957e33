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
from pathlib import Path

import numpy as np

from ponder.config import TrainConfig
from ponder.errors import PonderError
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

    Resumes from the newest checkpoint in `<out_dir>.partial/checkpoints` when its step plan is
    the same; a finished `out_dir` (with train_summary.json) is returned as is.
    """
    import torch
    from accelerate.utils import set_seed

    from ponder.flops import ModelDims, train_flops

    init_dir, out_dir = Path(init_dir), Path(out_dir)
    if (out_dir / "train_summary.json").is_file():
        return json.loads((out_dir / "train_summary.json").read_text())
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    work = out_dir.with_name(out_dir.name + ".partial")
    ckpt_root = work / "checkpoints"
    accelerator = runtime.make_accelerator(cfg, work)
    world, rank = accelerator.num_processes, accelerator.process_index
    set_seed(seed)

    tokenizer, model = runtime.load_model(init_dir, cfg)
    kernel = model.config._attn_implementation  # before DDP/FSDP wrap the model
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    enc, steps = prepare_steps(tokenizer, examples, cfg, world_size=world)
    plan_hash = config_hash(
        [enc.lengths.tolist(), int(enc.ids.sum()), cfg.model_dump(), lr, seed, str(init_dir)]
    )

    if accelerator.distributed_type == "DEEPSPEED" and any(len(s.micro) > world for s in steps):
        # DeepSpeed's engine steps the optimizer on every backward unless it owns accumulation,
        # and its accumulation count is fixed while ponder's follows each step's tokens.
        raise PonderError(
            "train.micro_batch_size: under DeepSpeed each rank must run one micro-batch per step; "
            "raise micro_batch_size (or use the FSDP launch config)"
        )
    fused = torch.cuda.is_available()  # Appendix B: AdamW_fused
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        weight_decay=cfg.weight_decay,
        fused=fused,
    )
    scheduler = wsd_scheduler(
        optimizer, len(steps), cfg.warmup_steps, cfg.decay_steps, cfg.final_lr_ratio
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    forward = torch.compile(model) if cfg.compile else model  # shares the parameters
    accelerator.register_for_checkpointing(scheduler)
    if cfg.report_to:
        # TensorBoard's hparams take only int, float, str and bool (None, lists fail)
        hparams = {**cfg.model_dump(), "lr": lr}
        hparams = {
            k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in hparams.items()
        }
        accelerator.init_trackers(out_dir.name, config=hparams)

    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "train_log.jsonl"
    ckpt, start = runtime.latest_checkpoint(ckpt_root, plan_hash)
    log_lines: list[str] = []
    if ckpt is not None:
        accelerator.load_state(str(ckpt))
        log_lines = log_path.read_text().splitlines()[:start] if log_path.exists() else []
    accelerator.wait_for_everyone()
    log_file = open(log_path, "w") if accelerator.is_main_process else None  # noqa: SIM115
    if log_file:
        log_file.writelines(line + "\n" for line in log_lines)

    bar = None
    if progress and accelerator.is_main_process:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task(f"train {out_dir.name}", total=len(steps), completed=start)

    model.train()
    # Compiled (or flex attention, compiled per shape) and packed: pad windows to the full
    # window, one shape for every forward.
    compiled = cfg.compile or kernel == "flex_attention"
    pad_to = cfg.max_seq_len if cfg.packing and compiled else 0
    slots = 0
    loss = float("nan")
    t_warm = 0.0  # seconds since t0 when the first WARM steps run here had finished
    t0 = time.perf_counter()
    for k in range(start, len(steps)):
        step = steps[k]
        mine = step.micro[rank::world]
        total = torch.zeros((), device=accelerator.device)
        for j, rows in enumerate(mine):
            batch = collate(enc, rows, pad_id, pad_to=pad_to)
            batch = {n: t.to(accelerator.device) for n, t in batch.items()}
            slots += batch["input_ids"].numel()
            sync = j == len(mine) - 1
            with (
                contextlib.nullcontext() if sync else accelerator.no_sync(model),
                accelerator.autocast(),
            ):
                out = forward(**batch, use_cache=False, num_items_in_batch=step.answer_tokens)
                # DDP averages gradients over ranks; scale so the sum over ranks is the step mean.
                accelerator.backward(out.loss * world)
            total += out.loss.detach()
        if cfg.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        lr_now = scheduler.get_last_lr()[0]
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss = accelerator.reduce(total, "sum").item()
        elapsed = time.perf_counter() - t0
        if k - start == WARM - 1:
            t_warm = elapsed
        record = {
            "step": k + 1,
            "loss": loss,
            "lr": lr_now,
            "tokens": step.tokens,
            "elapsed_s": round(elapsed, 4),  # since this process started
        }
        if log_file:
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
        if cfg.report_to:
            accelerator.log(record, step=k + 1)
        if bar:
            bar.update(task, advance=1, description=f"train {out_dir.name} loss {loss:.3f}")
        if cfg.save_every and (k + 1) % cfg.save_every == 0 and k + 1 < len(steps):
            runtime.save_checkpoint(accelerator, ckpt_root, k + 1, plan_hash)
    wall = time.perf_counter() - t0
    if bar:
        bar.stop()
    if log_file:
        log_file.close()

    dims = ModelDims.from_hf_config(accelerator.unwrap_model(model).config)
    lens = enc.lengths
    run_lens = np.concatenate([lens[s.examples] for s in steps[start:]] or [lens[:0]])
    real = accelerator.reduce(torch.tensor(float(slots), device=accelerator.device), "sum").item()
    summary = {
        "steps": len(steps),
        "resumed_from_step": start,
        "examples": int(len(lens)),
        "tokens": int(lens.sum()),
        "answer_tokens": int(enc.answer_lengths.sum()),
        "truncated_examples": enc.truncated,
        "seq_lens": "seq_lens.npy",
        "seq_len_sum": int(lens.sum()),
        "seq_len_sq_sum": int((lens.astype(np.float64) ** 2).sum()),
        "train_flops": train_flops(dims, lens, "paper"),
        "train_flops_exact": train_flops(dims, lens, "exact"),
        "tokens_per_s": float(run_lens.sum() / wall) if wall > 0 and len(run_lens) else None,
        "packing_efficiency": float(run_lens.sum() / real) if real else None,
        "final_loss": loss,
        "lr": lr,
        "wsd_phases": list(wsd_phases(len(steps), cfg.warmup_steps, cfg.decay_steps)),
        "micro_batches_per_step": float(np.mean([len(s.micro) for s in steps])) / world,
        "world_size": world,
        "distributed": accelerator.distributed_type.value,  # NO, MULTI_CPU, MULTI_GPU, FSDP, ...
        "precision": accelerator.mixed_precision,
        "attention": kernel,
        "device": str(accelerator.device),
        "wall_s": wall,
    }
    # Steady state: the steps after the first WARM run here (kernel choice, compiling, cache
    # warm-up); on one H100 a flex-attention run spent 60 of its 65 s in the first steps.
    steady = steps[start + WARM :]
    if len(steady) >= 2:
        span = elapsed - t_warm  # last step end - WARM-th step end
        steady_lens = np.concatenate([lens[st.examples] for st in steady])
        summary["steady_tokens_per_s"] = float(steady_lens.sum() / span)
    if torch.cuda.is_available() and wall > 0 and len(run_lens):
        peak = runtime.gpu_peak(torch.cuda.get_device_name())
        achieved = train_flops(dims, run_lens, "exact") / wall
        summary["mfu"] = achieved / (peak * world) if peak else None
        if peak and len(steady) >= 2:
            achieved = train_flops(dims, steady_lens, "exact") / span
            summary["steady_mfu"] = achieved / (peak * world)
    runtime.finalize(accelerator, model, tokenizer, work, out_dir, summary, lens)
    return summary
