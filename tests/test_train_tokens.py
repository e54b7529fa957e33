"""Token stores (train/tokens.py): a mix tokenised once, on disk, read by every rank.

The specification: the store gives exactly the batches of the in-memory encoding (token ids,
labels, example boundaries, truncation, step plan), in the mix's training order, whether one
process or a pool tokenised it; it is reused for the same mix and tokenizer and rebuilt when
either changes; a build that dies leaves nothing a reader trusts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _train_world import make_pairs, make_student
from ponder.config import TrainConfig
from ponder.errors import PonderError
from ponder.rundir import atomic_write_parquet
from ponder.train import tokens
from ponder.train.batching import collate, encode
from ponder.train.data import prepare_steps
from ponder.train.mix import build_mix, mix_frame

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from transformers import AutoTokenizer

    tmp = tmp_path_factory.mktemp("tokens")
    pairs = make_pairs(160)
    init = make_student(tmp, pairs)
    examples, _ = build_mix(pairs, 0.5, "mixed", seed=0)
    mix = atomic_write_parquet(tmp / "mix.parquet", mix_frame(examples))
    return tmp, init, AutoTokenizer.from_pretrained(init), examples, mix


def _store(world, cache: Path, procs: int = 1, mix: Path | None = None, tok=None) -> Path:
    _, init, tokenizer, _, default_mix = world
    mix, tokenizer = mix or default_mix, tok or tokenizer
    key = tokens.store_key(mix, tokenizer)
    return tokens.ensure_store(mix, tokenizer, init, cache, key, procs)


def _batches(enc, cfg: TrainConfig) -> list[dict]:
    enc, steps = prepare_steps(enc, cfg)
    return [collate(enc, rows, 0) for s in steps for rows in s.micro]


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(global_batch_tokens=1024, micro_batch_size=16, max_seq_len=128),
        TrainConfig(global_batch_tokens=1024, micro_batch_size=4, max_seq_len=256, packing=True),
        # answers cut to the window: the prompt stays, the answer's tail goes
        TrainConfig(global_batch_tokens=512, micro_batch_size=8, max_seq_len=80),
        TrainConfig(
            global_batch_tokens=700,
            micro_batch_size=8,
            max_seq_len=128,
            epochs=1.5,
            max_tokens=9000,
        ),
    ],
    ids=["padded", "packed", "truncated", "epochs+cap"],
)
def test_the_store_gives_the_in_memory_batches(world, tmp_path, cfg):
    _, _, tokenizer, examples, _ = world
    memory = encode(tokenizer, examples, cfg.max_seq_len)
    streamed = tokens.open_store(_store(world, tmp_path), cfg.max_seq_len)
    assert isinstance(streamed.ids, np.memmap)
    np.testing.assert_array_equal(streamed.lengths, memory.lengths)
    np.testing.assert_array_equal(streamed.n_prompt, memory.n_prompt)
    assert streamed.truncated == memory.truncated
    assert (streamed.truncated > 0) == (cfg.max_seq_len == 80)
    a, b = _batches(memory, cfg), _batches(streamed, cfg)
    assert len(a) == len(b) > 3
    for x, y in zip(a, b, strict=True):
        for name in ("input_ids", "labels", "position_ids"):  # position ids = boundaries
            assert x[name].tolist() == y[name].tolist()


@pytest.mark.slow  # spawns two tokenizer processes
def test_a_pool_of_processes_writes_the_same_store(world, tmp_path, monkeypatch):
    monkeypatch.setattr(tokens, "BATCH_ROWS", 24)  # 160 examples: 7 batches over 2 processes
    one = tokens.open_store(_store(world, tmp_path / "one"), 128)
    store = _store(world, tmp_path / "pool", procs=2)
    assert tokens.store_meta(store)["procs"] == 2
    pool = tokens.open_store(store, 128)
    np.testing.assert_array_equal(np.asarray(pool.ids), np.asarray(one.ids))
    np.testing.assert_array_equal(pool.starts, one.starts)


def test_training_order_follows_the_order_column(world, tmp_path):
    tmp, _, tokenizer, examples, _ = world
    shuffled = mix_frame(examples).sample(frac=1.0, random_state=0)  # rows on disk out of order
    mix = atomic_write_parquet(tmp_path / "shuffled.parquet", shuffled)
    enc = tokens.open_store(_store(world, tmp_path / "c", mix=mix), 128)
    memory = encode(tokenizer, examples, 128)
    assert [enc.tokens(i).tolist() for i in range(0, 160, 7)] == [
        memory.tokens(i).tolist() for i in range(0, 160, 7)
    ]


def test_the_store_is_reused_and_rebuilt_when_the_mix_or_tokenizer_changes(
    world, tmp_path, monkeypatch
):
    tmp, init, tokenizer, examples, mix = world
    built = []
    real_build = tokens._build
    monkeypatch.setattr(tokens, "_build", lambda *a: built.append(a[-2]) or real_build(*a))
    first = _store(world, tmp_path)
    assert _store(world, tmp_path) == first and len(built) == 1  # same mix, same tokenizer

    changed = [dict(e) for e in examples]
    changed[5]["completion"] += " (checked)"
    other_mix = atomic_write_parquet(tmp_path / "changed.parquet", mix_frame(changed))
    from transformers import AutoTokenizer

    other_tok = AutoTokenizer.from_pretrained(init)
    other_tok.chat_template = other_tok.chat_template.replace("<|im_start|>", "<|im_start|> ")
    stores = {first, _store(world, tmp_path, mix=other_mix), _store(world, tmp_path, tok=other_tok)}
    assert len(stores) == 3 and len(built) == 3 and all(tokens.is_ready(s) for s in stores)


SLOW_BUILD = """
import sys, time
from pathlib import Path
from transformers import AutoTokenizer
from ponder.train import tokens
init, mix, cache = map(Path, sys.argv[1:4])
tokens.BATCH_ROWS = 8
real = tokens._encode_batch
def slow(cols, tokenizer=None):
    time.sleep(0.3)
    return real(cols, tokenizer)
tokens._encode_batch = slow
tok = AutoTokenizer.from_pretrained(init)
tokens.ensure_store(mix, tok, init, cache, tokens.store_key(mix, tok), 1)
"""


@pytest.mark.slow  # a build in a subprocess, killed
def test_a_killed_build_leaves_nothing_trusted(world, tmp_path):
    _, init, _, _, mix = world
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, str(init), str(mix), str(cache)], env=env
    )
    deadline = time.time() + 120
    while not any(p.stat().st_size for p in cache.glob(".*/tokens.bin")):
        assert proc.poll() is None and time.time() < deadline, "the build ended before the kill"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert [p for p in cache.iterdir() if not p.name.startswith(".")] == []  # no store to read
    assert any(p.is_dir() for p in cache.glob(".*"))  # the half-written one, hidden
    store = _store(world, cache)  # the next builder removes it and builds a whole one
    assert tokens.is_ready(store) and not any(p.is_dir() for p in cache.glob(".*"))


@pytest.mark.parametrize(
    ("mix", "error"),
    [
        (pd.DataFrame({"id": ["a"], "prompt": ["p"]}), r"mix: .*: missing column\(s\) completion"),
        (b"id,prompt,completion\na,p,c\n", r"mix: .*: not a readable Parquet file"),
        (None, r"mix: .*: no such file"),
    ],
    ids=["missing-column", "csv", "absent"],
)
def test_a_bad_mix_is_named_and_leaves_nothing(world, tmp_path, mix, error):
    path = tmp_path / "mix.parquet"
    if isinstance(mix, pd.DataFrame):
        atomic_write_parquet(path, mix)
    elif mix is not None:
        path.write_bytes(mix)
    with pytest.raises(PonderError, match=error):
        _store(world, tmp_path / "c", mix=path)
    assert not (tmp_path / "c").exists() or [p.name for p in (tmp_path / "c").iterdir()] == [
        ".lock"
    ]


def test_a_prompt_longer_than_the_window_names_its_example(world, tmp_path):
    store = _store(world, tmp_path)
    with pytest.raises(PonderError, match=r"example q\d+: prompt of \d+ tokens leaves no room"):
        tokens.open_store(store, 10)
