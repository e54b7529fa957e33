"""Shared fixtures for the mix/train tests: synthetic teacher pairs and a tiny Qwen2 student.

The task is the tiny world's `(a+b)*c-d`: a short IFT answer and a ~4x longer reasoning answer per
prompt, the length skew the tiny study has. Students come from `ponder.tiny.students` (the tiny
study's own builder), so the tests train exactly what the study trains.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from ponder.config import StudentConfig
from ponder.tiny.students import build_tokenizer, init_student


def make_pairs(n: int, seed: int = 0, truncated: tuple[str, ...] = ()) -> pd.DataFrame:
    """n teacher pairs; ids listed in `truncated` get a reasoning answer cut at max tokens."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        a, b, c, d = (rng.randint(1, 9) for _ in range(4))
        s, p = a + b, (a + b) * c
        ans = p - d
        pid = f"q{k:05d}"
        cut = pid in truncated
        reasoning = f"<think> {a}+{b}={s} ; {s}*{c}={p} ; {p}-{d}={ans} </think> \\boxed{{{ans}}}"
        rows.append(
            {
                "id": pid,
                "prompt": f"Solve. Put the answer inside \\boxed{{}}. ({a}+{b})*{c}-{d}",
                "ift": f"The answer is \\boxed{{{ans}}}.",
                "reasoning": reasoning.split(" ;")[0] if cut else reasoning,
                "ift_finish": "stop",
                "reasoning_finish": "length" if cut else "stop",
                "family": "math-oe",
                "gold": str(ans),
            }
        )
    return pd.DataFrame(rows)


def make_student(tmp: Path, pairs: pd.DataFrame, seed: int = 0, **dims) -> Path:
    """A random-init Qwen2 student + BPE tokenizer trained on the pairs' text, saved under tmp."""
    texts = pairs["prompt"].tolist() + pairs["ift"].tolist() + pairs["reasoning"].tolist()
    tok = build_tokenizer(texts, vocab_size=dims.pop("vocab_size", 160))
    cfg = StudentConfig(
        name="s",
        hidden_size=dims.pop("hidden_size", 32),
        num_hidden_layers=dims.pop("num_hidden_layers", 2),
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=dims.pop("intermediate_size", 64),
        max_position_embeddings=256,
    )
    return init_student(cfg, tok, tmp / "init", seed=seed)
