"""Reasoning-ratio mixes of a domain's teacher pairs (§2.2) in training order (§3.2, §3.3).

For a ratio ρ a subset X_ρ ⊂ X of prompts gets the teacher's reasoning answer and X \\ X_ρ its
IFT answer, so every prompt contributes exactly one answer style. X_ρ is the first round(ρ·|X|)
prompts of one seeded ranking of the ids, which makes the subsets nested across ratios
(X_.25 ⊂ X_.5 ⊂ X_.75 ⊂ X_1) and keeps the arms comparable: they differ only in which prompts
switched style. The ranking hashes (seed, id), so adding or reordering rows never reshuffles it.

Schedules (§2.2): `sequential` trains all IFT examples, then all reasoning examples (each block
shuffled); `mixed` shuffles both together. Bi-phasic adaptation (§3.3, Figure 5) is a chain of
mixes, one per phase, each trained from the previous phase's checkpoint (see `train.train_phase`).

Truncated teacher answers (finish_reason=length, or an unclosed `<think>`; recorded by the
generate stage) are dropped when `drop_truncated` is set: the prompt is removed from the mix after
X_ρ is chosen, so nesting still holds and the drop is counted in the stats. With
`drop_truncated=False` they are trained as the teacher wrote them. A pair whose IFT answer holds a
trace or whose reasoning answer holds none (the generate stage's mode check: its columns, or the
text of pairs written before them) is left out of every mix, whichever style X_ρ gave it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ponder.errors import PonderError
from ponder.generate import modecheck

SCHEDULES = ("sequential", "mixed")
REQUIRED = ("id", "prompt", "ift", "reasoning")


def _rank_key(seed: int, pid: str) -> int:
    # A keyed hash, not an RNG over row order: the ranking of one id never depends on the others.
    return int.from_bytes(hashlib.blake2b(f"{seed}\x1f{pid}".encode(), digest_size=8).digest())


def reasoning_subset(ids: list[str], ratio: float, seed: int) -> set[str]:
    """X_ρ: the ids that get reasoning answers; nested across ratios for one seed."""
    if not 0.0 <= ratio <= 1.0:
        raise PonderError(f"ratio: {ratio} is outside [0, 1]")
    ranked = sorted(ids, key=lambda i: (_rank_key(seed, i), i))
    return set(ranked[: round(ratio * len(ranked))])


def _truncated(pairs: pd.DataFrame, style: str) -> np.ndarray:
    """Truncation flags of one answer style from whichever columns the pairs carry."""
    flags = np.zeros(len(pairs), dtype=bool)
    if f"{style}_truncated" in pairs:
        flags |= pairs[f"{style}_truncated"].fillna(False).astype(bool).to_numpy()
    if f"{style}_finish" in pairs:
        flags |= (pairs[f"{style}_finish"].astype(str) == "length").to_numpy()
    if style == "reasoning":
        # An opened but never closed thinking block is a truncated trace whatever the flags say.
        text = pairs["reasoning"].astype(str)
        flags |= (
            text.str.contains("<think>", regex=False) & ~text.str.contains("</think>", regex=False)
        ).to_numpy()
    return flags


def _failed(pairs: pd.DataFrame, style: str) -> np.ndarray:
    """Rows whose answer of this style is an error the generate stage recorded."""
    col = f"{style}_error"
    if col not in pairs:
        return np.zeros(len(pairs), dtype=bool)
    return pairs[col].notna().to_numpy() & (pairs[col].astype(str) != "")


def _mode_mismatch(pairs: pd.DataFrame) -> np.ndarray:
    """Pairs where either answer contradicts its mode (an IFT answer with a trace, a reasoning
    answer without one; rejected answers aside), the generate stage's check: such a pair is no
    IFT/reasoning pair and enters no mix."""
    per = modecheck.frame_flags(pairs)
    return np.logical_or(*(np.array(per[c], dtype=bool) for c in modecheck.FLAGS))


def _check_pairs(pairs: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in pairs.columns]
    if missing:
        raise PonderError(f"pairs: missing column(s) {', '.join(missing)}")
    dup = pairs["id"].astype(str).duplicated()
    if dup.any():
        raise PonderError(f"pairs: duplicate id {pairs['id'].astype(str)[dup].iloc[0]!r}")
    for col in ("prompt", "ift", "reasoning"):
        bad = pairs[col].isna()
        if bad.any():
            raise PonderError(f"pairs: id {pairs['id'].astype(str)[bad].iloc[0]!r}: empty {col!r}")


def build_mix(
    pairs: pd.DataFrame,
    ratio: float,
    schedule: str,
    seed: int,
    drop_truncated: bool = True,
) -> tuple[list[dict], dict]:
    """Examples in training order (dicts: id, prompt, completion, style) and the mix's stats.

    stats: n, n_reasoning, n_ift, dropped_truncated, dropped_failed, dropped_mode_mismatch,
    kept_truncated, ratio, schedule, seed, realised_ratio.
    """
    if schedule not in SCHEDULES:
        raise PonderError(f"schedule: {schedule!r} is not one of {', '.join(SCHEDULES)}")
    _check_pairs(pairs)
    ids = pairs["id"].astype(str).tolist()
    chosen = reasoning_subset(ids, ratio, seed)
    is_r = np.array([i in chosen for i in ids], dtype=bool)
    trunc = np.where(is_r, _truncated(pairs, "reasoning"), _truncated(pairs, "ift"))
    # A request the teacher rejected (e.g. a prompt over its context) has no answer to learn.
    failed = np.where(is_r, _failed(pairs, "reasoning"), _failed(pairs, "ift"))
    # Left out of every arm after X_ρ is chosen, so the arms keep one prompt set, still nested.
    mismatch = _mode_mismatch(pairs) & ~failed
    keep = (~trunc if drop_truncated else np.ones(len(ids), dtype=bool)) & ~failed & ~mismatch

    prompts = pairs["prompt"].astype(str).to_numpy()
    ift, reasoning = pairs["ift"].astype(str).to_numpy(), pairs["reasoning"].astype(str).to_numpy()
    blocks: dict[str, list[dict]] = {"ift": [], "reasoning": []}
    for k in np.flatnonzero(keep):
        style = "reasoning" if is_r[k] else "ift"
        completion = reasoning[k] if is_r[k] else ift[k]
        blocks[style].append(
            {"id": ids[k], "prompt": prompts[k], "completion": completion, "style": style}
        )

    # Shuffle with an RNG keyed on the seed (a different stream from the subset ranking).
    rng = np.random.default_rng([seed, 1])
    if schedule == "sequential":
        examples = [blocks["ift"][i] for i in rng.permutation(len(blocks["ift"]))]
        examples += [blocks["reasoning"][i] for i in rng.permutation(len(blocks["reasoning"]))]
    else:
        both = blocks["ift"] + blocks["reasoning"]
        examples = [both[i] for i in rng.permutation(len(both))]

    n_r, n_i = len(blocks["reasoning"]), len(blocks["ift"])
    stats = {
        "n": n_r + n_i,
        "n_reasoning": n_r,
        "n_ift": n_i,
        "dropped_truncated": int((trunc & ~failed & ~mismatch & ~keep).sum()),
        "dropped_failed": int(failed.sum()),
        "dropped_mode_mismatch": int(mismatch.sum()),
        "kept_truncated": int((trunc & keep).sum()),
        "ratio": float(ratio),
        "realised_ratio": n_r / max(1, n_r + n_i),
        "schedule": schedule,
        "seed": int(seed),
    }
    return examples, stats


def mix_format(ratio: float) -> str:
    """The data format a mix counts as for Table 1's learning rates: any reasoning (ρ > 0) counts
    as `reasoning`, because the reasoning examples dominate the tokens even at ρ = .25 (they are
    several times longer than IFT answers) and the paper's LRs were tuned on the pure formats."""
    return "reasoning" if ratio > 0 else "ift"


def mix_frame(examples: list[dict]) -> pd.DataFrame:
    """The examples as a DataFrame with their training position (for a mix artifact on disk)."""
    frame = pd.DataFrame(examples, columns=["id", "prompt", "completion", "style"])
    frame.insert(0, "order", np.arange(len(frame), dtype=np.int64))
    return frame


def examples_from_frame(frame: pd.DataFrame) -> list[dict]:
    """Inverse of `mix_frame`: examples in their recorded training order."""
    need = ["id", "prompt", "completion", "style"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise PonderError(f"mix: missing column(s) {', '.join(missing)}")
    if "order" in frame.columns:
        frame = frame.sort_values("order", kind="stable")
    return frame[need].astype(str).to_dict("records")
