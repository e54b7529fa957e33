"""The `paper-released` preset: the paper's grid trained on the authors' released pairs, with no
generation. Its code path runs end to end on hub-shaped copies of both released datasets (a few
rows each, tests/fixtures/hub/When-Does-Reasoning-Matter) with a tiny student."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from _paths import FIXTURES

HUB = FIXTURES / "hub" / "When-Does-Reasoning-Matter"
ENV = {**os.environ, "COLUMNS": "200"}
TINY = [
    "--set",
    "students=[{name: mini-a, hidden_size: 32, num_hidden_layers: 1, "
    "num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 64, vocab_size: 512}]",
    "--set",
    "grid=[{students: [mini-a], domains: [general], ratios: [0, 1]}, "
    "{students: [mini-a], phases: [{domain: general, ratios: [1]}, {domain: math, ratios: [1]}]}]",
    "--set",
    f"domains.general.source.dataset={HUB / 'general-reasoning-ift-pairs'}",
    "--set",
    f"domains.math.source.dataset={HUB / 'math-reasoning-ift-pairs'}",
    # scratch students have no tokenizer before training: answers are counted by word/symbol
    "--set",
    "domains.general.source.tokenizer=null",
    "--set",
    "domains.math.source.tokenizer=null",
    "--set",
    "train={global_batch_tokens: 1024, micro_batch_size: 8, max_seq_len: 256, "
    "warmup_steps: 1, decay_steps: 1}",
    "--set",
    "eval={benchmarks: [tiny-general-oe, tiny-math-oe], max_new_tokens: 16, "
    "include_teacher: false}",
    "--set",
    "world.n_test=8",
    "--set",
    "judge.enabled=false",
]


def ponder(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "ponder", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
    )
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    return r


def test_the_preset_validates_and_plans_no_teacher():
    # validate checks that benchmark data is present (none is downloaded here): tiny ones need none
    ponder("validate", "paper-released", "--set", "eval.benchmarks=[tiny-math-oe]")
    plan = json.loads(ponder("plan", "paper-released", "--json").stdout)
    gens = [s for s in plan["steps"] if s["kind"] == "generate"]
    assert {s["id"] for s in gens} == {"generate:general", "generate:math"}  # no shards
    assert all(s["resources"]["gpus"] == 0 and not s["resources"]["server"] for s in gens)


@pytest.mark.slow
def test_the_released_pairs_train_and_evaluate_tiny_students(tmp_path):
    r = ponder("run", "paper-released", "--out", str(tmp_path), *TINY)
    assert "▶ generate:general" in r.stderr  # copies the released answers: no teacher request
    for domain in ("general", "math"):
        pairs = pd.read_parquet(tmp_path / "pairs" / f"{domain}.parquet")
        assert len(pairs) == {"general": 6, "math": 4}[domain] and pairs["id"].is_unique
        assert (pairs["ift"].str.len() > 0).all() and (pairs["reasoning"].str.len() > 0).all()
        assert (pairs["reasoning_tokens"] > pairs["ift_tokens"]).all()
    res = pd.read_parquet(tmp_path / "results.parquet")
    assert set(res["model"]) == {
        "mini-a_general-r0_sequential",
        "mini-a_general-r1_sequential",
        "mini-a_general-r1+math-r1_sequential",
    }
    assert (res["train_flops"] > 0).all() and len(res) == 3 * 2
