"""One training phase's data: the mix's token store on every rank, the budgets, the step plan.

A phase trains on a mix file (the pipeline's `mixes/*.parquet`) or on examples in memory (tests,
benchmarks), which are first written to `<out>.partial/mix.parquet` so that both take one path.
One process per node builds the token store (train/tokens.py) under a file lock, the others wait
for it on the filesystem (a collective would time out on a long build) and memory-map it: a rank
holds an index of a few bytes per example, never the mix's text or token lists. The budgets
(`epochs`, `max_tokens`) and `batching.plan_steps` then read lengths from the index only, so the
step plan is the one the in-memory encoding gives for the same data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ponder.config import TrainConfig
from ponder.rundir import atomic_write_parquet
from ponder.train import tokens
from ponder.train.batching import Encoded, plan_steps
from ponder.train.mix import mix_frame

MAX_TOKENIZE_PROCS = 16


def budget_index(n: int, epochs: float) -> np.ndarray | slice:
    """Examples of `epochs` passes over n: whole passes repeat the mix in order, a fraction takes
    a prefix of it."""
    whole, frac = int(epochs), epochs - int(epochs)
    if whole == 1 and round(frac * n) == 0:
        return slice(None)  # one epoch: a view, nothing copied
    return np.concatenate([np.tile(np.arange(n), whole), np.arange(round(frac * n))])


def prepare_steps(enc: Encoded, cfg: TrainConfig, world_size: int = 1):
    """The trained examples (after the epochs and max_tokens budgets) and their optimizer steps."""
    enc = enc.take(budget_index(len(enc.lengths), cfg.epochs))
    if cfg.max_tokens is not None:
        keep = max(1, int(np.searchsorted(np.cumsum(enc.lengths), cfg.max_tokens, side="right")))
        enc = enc.take(slice(0, keep))
    steps = plan_steps(
        enc,
        cfg.global_batch_tokens,
        cfg.micro_batch_size,
        world_size=world_size,
        packing=cfg.packing,
        window=cfg.max_seq_len,
    )
    return enc, steps


def tokenize_procs(cfg: TrainConfig) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cfg.tokenize_procs or min(cores or 1, MAX_TOKENIZE_PROCS)


def load(
    accelerator,
    mix: Path | Sequence[dict],
    tokenizer,
    tokenizer_dir: Path,
    cache: Path,
    work: Path,
    cfg: TrainConfig,
) -> tuple[Encoded, str]:
    """(the mix as an `Encoded` view of its token store, the store's key) on every rank."""
    from accelerate.utils import broadcast_object_list

    acc = accelerator
    if not isinstance(mix, str | Path):  # examples in memory: one file, like the pipeline's
        path = work / "mix.parquet"
        if acc.is_main_process:
            atomic_write_parquet(path, mix_frame(list(mix)))
        acc.wait_for_everyone()
        mix = path
    mix = Path(mix)
    # The key hashes the mix's bytes: one process reads them and tells the others.
    key = [tokens.store_key(mix, tokenizer) if acc.is_main_process else None]
    key = broadcast_object_list(key)[0]
    if acc.is_local_main_process:  # one builder per node; the lock serialises shared folders
        tokens.ensure_store(mix, tokenizer, tokenizer_dir, cache, key, tokenize_procs(cfg))
    else:
        tokens.wait_for_store(cache / key)
    return tokens.open_store(cache / key, cfg.max_seq_len), key
