"""Few-shot prompts for base models (§2.3: "we evaluate them in a three-shot setting").

The examples come from the benchmark's own train/dev split (its definition's `fewshot` part),
never from its test items: a candidate whose question text is also a test question is dropped
(SciBench's worked examples repeat a few test problems). The k examples are a seeded sample,
fixed for the whole benchmark, and kept in source order. Benchmarks without a train/dev split
use documented stand-ins, named in their definitions: AIME 2022-2023 problems for AIME, the
MATH train split for MATH-500, and hand-written demonstrations for IFEval, whose release has no
reference responses (each demonstration passes the IFEval checker; tests/test_fewshot.py).

Every backend receives the same text (`extra["raw_prompt"]`): hf tokenizes it as is, vLLM calls
`LLM.generate` on it, OpenAI-compatible servers get it on `/completions`. Each example is the
item's full user prompt (Table 4 instruction + question + options) followed by a solved answer
`\\boxed{gold}`; `STOP` ends a base model's answer before it starts writing a next question.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

QUESTION, ANSWER = "Question: ", "Answer:"
STOP = ("\nQuestion:",)  # a base model continuing the pattern starts the next example here


@dataclass(frozen=True)
class Shot:
    prompt: str  # the example's user prompt, formatted like a test item's
    answer: str  # its solved answer: `\boxed{gold}`, or a demonstration's full response


def choose(candidates: list, k: int, seed: int, exclude_questions: set[str]) -> list:
    """k candidates (items with `.question`), seeded and fixed, none sharing a test question."""
    pool = [c for c in candidates if c.question.strip() not in exclude_questions]
    if k <= 0 or not pool:
        return []
    if len(pool) <= k:
        return pool
    keep = sorted(random.Random(seed).sample(range(len(pool)), k))
    return [pool[i] for i in keep]


def solved(gold: str, demonstration: bool) -> str:
    """The answer an example shows: a demonstration's own text, else the boxed gold."""
    return gold if demonstration else f"\\boxed{{{gold}}}"


def render(shots: list[Shot], prompt: str) -> str:
    """The raw text a base model continues: the solved examples, then the item, then `Answer:`."""
    blocks = [f"{QUESTION}{s.prompt}\n{ANSWER} {s.answer}" for s in shots]
    return "\n\n".join([*blocks, f"{QUESTION}{prompt}\n{ANSWER}"])
