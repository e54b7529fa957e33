"""Shared setup for the training benchmarks: the tiny world's pairs and its largest student.

Pairs come from the world's general-domain prompts answered by the scripted teacher (IFT ≈ 8
tokens, reasoning ≈ 20-40: the skewed lengths the tiny study trains on); the student is a ~2M
parameter Qwen2 built by `ponder.students`, as the tiny study builds it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ponder.config import StudentConfig
from ponder.lm.scripted import ift_answer, reasoning_answer
from ponder.students import build_tokenizer, checkpoint_params, init_student
from ponder.world import solve, train_prompts

LARGEST = StudentConfig(
    name="tiny-2m",
    hidden_size=192,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=768,
    vocab_size=512,
)


def world_pairs(n: int, seed: int = 0) -> pd.DataFrame:
    rows = []
    for item in train_prompts("general", n, seed=seed):
        sol = solve(item["prompt"])
        rows.append(
            {
                "id": item["id"],
                "prompt": item["prompt"],
                "ift": ift_answer(sol),
                "reasoning": reasoning_answer(sol),
            }
        )
    return pd.DataFrame(rows)


def largest_student(tmp: Path, pairs: pd.DataFrame) -> tuple[Path, int]:
    texts = pairs["prompt"].tolist() + pairs["ift"].tolist() + pairs["reasoning"].tolist()
    tok = build_tokenizer(texts, vocab_size=LARGEST.vocab_size)
    path = init_student(LARGEST, tok, tmp / "init", seed=0)
    return path, checkpoint_params(path)
