"""Shared setup for the training benchmarks: the tiny world's pairs and its largest student.

Pairs come from the world's general-domain prompts answered by the scripted teacher (IFT a few
tokens, reasoning ≈ 13-35: the skewed lengths the tiny study trains on); the student is the
built-in tiny study's largest (tiny-0.6m), a Qwen2 built by `ponder.tiny.students`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ponder.config import load_study
from ponder.tiny.solver import ift_answer, reasoning_answer, solve
from ponder.tiny.students import build_tokenizer, checkpoint_params, init_student
from ponder.tiny.world import INSTRUCTION_PHRASES, train_prompts
from ponder.train.mix import build_mix

_TINY = load_study("tiny")
LARGEST = _TINY.students[-1]


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
    tok = build_tokenizer(texts, vocab_size=LARGEST.vocab_size, phrases=INSTRUCTION_PHRASES)
    path = init_student(LARGEST, tok, tmp / "init", seed=0)
    return path, checkpoint_params(path)


def setup(prefix: str, n_examples: int, ratio: float) -> tuple[Path, Path, int, list[dict]]:
    """A temp dir, the largest student saved in it, its parameter count, and a mixed ρ-mix."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    pairs = world_pairs(n_examples)
    init, params = largest_student(tmp, pairs)
    examples, _ = build_mix(pairs, ratio, "mixed", seed=0)
    return tmp, init, params, examples
