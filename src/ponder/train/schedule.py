"""The paper's learning-rate schedule and peak learning rates (Appendix B).

WSD (Warmup-Stable-Decay, Shen et al. 2024): 150 linear warm-up steps from 0 to the peak, a
constant plateau, then 300 linear decay steps to 10% of the peak. A run with fewer steps than
warm-up + decay keeps the shape by scaling both phases proportionally and dropping the plateau:
warm-up = round(T · 150/450), decay = T − warm-up (so 90 steps → 30 warm-up + 60 decay).

Peak learning rates come from Table 1 (by Qwen2.5 student size and data format), unless the
student declares its own or the study sets `train.lr`.
"""

from __future__ import annotations

import math
from functools import cache

import yaml

from ponder.errors import PonderError
from ponder.resources import resource


def wsd_phases(total_steps: int, warmup: int, decay: int) -> tuple[int, int, int]:
    """(warm-up, stable, decay) step counts for a run of `total_steps` optimizer steps."""
    if total_steps <= 0:
        return 0, 0, 0
    if warmup + decay <= total_steps:
        return warmup, total_steps - warmup - decay, decay
    # Short run: the same warm-up:decay proportion (150:300 by default), no plateau.
    w = round(total_steps * warmup / (warmup + decay)) if warmup + decay else 0
    return w, 0, total_steps - w


def wsd_factor(step: int, phases: tuple[int, int, int], final_ratio: float) -> float:
    """LR multiplier applied by optimizer update `step` (0-based).

    Hand-written because transformers' `get_wsd_schedule` starts the warm-up at `min_lr_ratio`
    (10% of peak here) and spends its first update at that floor; Appendix B warms up from 0.
    Update k of the warm-up uses (k+1)/w, so the last warm-up update reaches the peak; update j of
    the decay uses 1 − (1−r)(j+1)/d, so the run's last update is exactly r · peak.
    """
    w, s, d = phases
    if step < w:
        return (step + 1) / w
    if step < w + s:
        return 1.0
    j = min(step - w - s, d - 1)
    return 1.0 - (1.0 - final_ratio) * (j + 1) / d if d else 1.0


def wsd_scheduler(optimizer, total_steps: int, warmup: int, decay: int, final_ratio: float):
    """A torch LambdaLR implementing `wsd_factor` for this run's step count."""
    from torch.optim.lr_scheduler import LambdaLR

    phases = wsd_phases(total_steps, warmup, decay)
    return LambdaLR(optimizer, lambda k: wsd_factor(k, phases, final_ratio))


@cache
def lr_table() -> dict[str, dict]:
    """Table 1 (`src/ponder/data/lr_table.yaml`): model -> params, reasoning LR, IFT LR."""
    text = resource("data", "lr_table.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["models"]


def table_lr(student_params: int, fmt: str) -> tuple[str, float]:
    """Table 1's peak LR for the Qwen2.5 size nearest (in log parameters) to the student."""
    if fmt not in ("ift", "reasoning"):
        raise PonderError(f"format: {fmt!r} is not 'ift' or 'reasoning'")
    if student_params <= 0:
        raise PonderError(f"student_params: {student_params} must be positive")
    table = lr_table()
    name = min(table, key=lambda m: abs(math.log(table[m]["params"] / student_params)))
    return name, float(table[name][fmt])


def default_lr(
    student_params: int, fmt: str, student_lr: dict | None, cfg_lr: float | None
) -> float:
    """Peak LR: the student's own per-format LR > the study's `train.lr` > Table 1.

    `fmt` is 'ift' or 'reasoning'; a mix with any reasoning (ρ > 0) counts as reasoning
    (`mix.mix_format`), like the paper's reasoning LRs for its reasoning-heavy arms.
    """
    if fmt not in ("ift", "reasoning"):
        raise PonderError(f"format: {fmt!r} is not 'ift' or 'reasoning'")
    if student_lr and fmt in student_lr:
        return float(student_lr[fmt])
    if cfg_lr is not None:
        return float(cfg_lr)
    return table_lr(student_params, fmt)[1]
