"""IFEval strict and loose scoring through Google's official instruction checkers.

The checkers are the ones lm-evaluation-harness vendors from google-research
`instruction_following_eval` (`lm_eval.tasks.ifeval`: instructions.py, instructions_registry.py,
and the strict/loose drivers in utils.py), so a verdict here is the reference verdict
(Zhou et al., 2023). Two things make them work offline and reproducibly:
- NLTK's English Punkt model ships inside this package (`ponder/data/nltk`, punkt_tab format) and
  is put first on `nltk.data.path` before the checkers import (their import would download it);
  sentence counting loads that same model instead of the legacy `punkt/english.pickle`, which
  nltk >= 3.9 no longer unpickles;
- langdetect (the `language:response_language` checker) is seeded, since it samples;
- Python's `random` is seeded (0) around each check and restored after: a checker whose kwargs are
  unusable draws a replacement at random (IFEval's `keywords:letter_frequency` given the letter "!"
  or "#" checks a random ASCII letter instead, prompts 19 and 22 of the 541), so without a seed the
  same response scores differently from run to run.

Levels (IFEval §3): prompt-level = all of a prompt's instructions followed; instruction-level =
the fraction of all instructions followed. Loose retries each instruction on 8 variants of the
response (first/last line removed, `*` removed) and counts it followed if any variant passes.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ponder.resources import resource

NLTK_DIR = resource("data", "nltk")
CHECK_SEED = 0


@functools.cache
def _checkers():
    """Import lm-eval's IFEval module once, offline (see module docstring)."""
    import nltk

    path = str(NLTK_DIR)
    if path not in nltk.data.path:
        nltk.data.path.insert(0, path)
    import langdetect

    langdetect.DetectorFactory.seed = 0
    from lm_eval.tasks.ifeval import instructions_util, utils

    punkt = nltk.tokenize.PunktTokenizer("english")
    instructions_util._get_sentence_tokenizer = lambda: punkt  # same WSJ model, pickle-free
    return utils


@dataclass(frozen=True)
class IFEvalResult:
    follow_strict: list[bool]  # one per instruction, in instruction_id_list order
    follow_loose: list[bool]

    @property
    def strict_prompt(self) -> bool:
        return all(self.follow_strict)

    @property
    def loose_prompt(self) -> bool:
        return all(self.follow_loose)


def check(
    prompt: str, instruction_ids: Sequence[str], kwargs: Sequence[dict], response: str
) -> IFEvalResult:
    """Strict and loose verdicts of one response to one IFEval prompt."""
    utils = _checkers()
    inp = utils.InputExample(
        key=0, instruction_id_list=list(instruction_ids), prompt=prompt, kwargs=list(kwargs)
    )
    state = random.getstate()
    try:
        random.seed(CHECK_SEED)
        strict = utils.test_instruction_following_strict(inp, response)
        random.seed(CHECK_SEED)
        loose = utils.test_instruction_following_loose(inp, response)
    finally:
        random.setstate(state)
    return IFEvalResult(list(strict.follow_instruction_list), list(loose.follow_instruction_list))


def aggregate(results: Sequence[IFEvalResult]) -> dict[str, float]:
    """The four IFEval numbers, as percentages: strict/loose at prompt and instruction level."""
    n = len(results)
    if n == 0:
        return {k: 0.0 for k in _KEYS}
    inst_s = [f for r in results for f in r.follow_strict]
    inst_l = [f for r in results for f in r.follow_loose]
    return {
        "strict_prompt": 100.0 * sum(r.strict_prompt for r in results) / n,
        "strict_instruction": 100.0 * sum(inst_s) / max(len(inst_s), 1),
        "loose_prompt": 100.0 * sum(r.loose_prompt for r in results) / n,
        "loose_instruction": 100.0 * sum(inst_l) / max(len(inst_l), 1),
    }


_KEYS = ("strict_prompt", "strict_instruction", "loose_prompt", "loose_instruction")
