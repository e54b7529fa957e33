"""Reading a tiny-world prompt back into its answer and steps, and the teacher's two answer styles.

The scripted teacher (lm/scripted.py) answers from the prompt text alone through `solve`, as a
real teacher would; `ift_answer` and `reasoning_answer` are its thinking-off and thinking-on texts
(Qwen3's two modes in miniature), and `corpus` is what the tiny students' tokenizer is trained on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ponder.tiny.world import CATEGORIES, COLOURS, FAMILIES, PARITY, draw_items, term_value


@dataclass(frozen=True)
class Solution:
    answer: str  # the gold answer (a letter for MC)
    steps: tuple[str, ...]  # the reasoning steps a careful solver writes down


def ift_answer(sol: Solution) -> str:
    """Thinking off: the answer alone (a one-token-per-digit box; math reasoning is ≥3×
    longer)."""
    return f"\\boxed{{{sol.answer}}}"


def reasoning_answer(sol: Solution) -> str:
    """Thinking on: the solver's steps inside `<think> … </think>`, then the boxed answer."""
    return f"<think> {' ; '.join(sol.steps)} </think> \\boxed{{{sol.answer}}}"


_RE = {
    "math-oe": re.compile(
        r"(?:compute|calculate|evaluate|work out) \((\d)\+(\d)\)\*(\d)-(\d)\.", re.IGNORECASE
    ),
    "math-mc": re.compile(r"Which of these is (even|odd)\? (.*)$"),
    "general-mc": re.compile(r"Which of these is an? (\w+)\? (.*)$"),
    "general-oe": re.compile(r"colour (?:is|of) the (\w+)[?.]"),
}
_OPT = re.compile(r"([A-D])\) (\d[+*]\d|\w+)")
_CATEGORY_OF = {w: c for c, ws in CATEGORIES.items() for w in ws}


def family_of(prompt: str) -> str | None:
    for fam in ("math-oe", "math-mc", "general-mc", "general-oe"):
        if _RE[fam].search(prompt):
            return fam
    return None


def _arithmetic(a: int, b: int, c: int, d: int) -> tuple[int, tuple[str, ...]]:
    s, p = a + b, (a + b) * c
    return p - d, (f"{a}+{b}={s}", f"{s}*{c}={p}", f"{p}-{d}={p - d}")


def _scan(options: list[tuple[str, str]], fits, prefix: str = "") -> Solution:
    """Read the options in order, writing each down (with `fits`' note) until one fits: each
    step copies the option after a letter and states one fact, so the letter never has to be
    found by searching the list for a value."""
    steps = []
    for letter, text in options:
        ok, note = fits(text)
        steps.append(f"{prefix}{letter}) {text}{note}")
        if ok:
            return Solution(letter, tuple(steps))
    raise ValueError("no option fits")


def solve(prompt: str) -> Solution:
    """Answer a world prompt from its text; raises ValueError for text outside the world."""
    fam = family_of(prompt)
    if fam is None:
        raise ValueError("not a tiny-world prompt")
    m = _RE[fam].search(prompt)
    assert m is not None
    if fam == "math-oe":
        n, steps = _arithmetic(*map(int, m.groups()))
        return Solution(str(n), steps)
    if fam == "math-mc":
        want = PARITY.index(m.group(1))

        def fits(term: str) -> tuple[bool, str]:
            v = term_value(term)
            return v % 2 == want, f"={v} {PARITY[v % 2]}"

        return _scan(_OPT.findall(m.group(2)), fits)
    if fam == "general-oe":
        # A one-step look-up has nothing to decompose: the trace states no intermediate fact (not
        # even the asked thing, which would hand the student a copy path IFT lacks), so this
        # family is the negative control.
        return Solution(COLOURS[m.group(1)], ("a single fact to recall",))
    cat = m.group(1)
    return _scan(
        _OPT.findall(m.group(2)),
        lambda t: (_CATEGORY_OF.get(t) == cat, f": {_CATEGORY_OF.get(t, 'unknown')}"),
    )


def corpus(seed: int = 0, n: int = 400) -> list[str]:
    """Text for training the tiny tokenizer: prompts and both answer styles of every family."""
    texts = []
    for fam in FAMILIES:
        for it in draw_items(fam, n, seed + 1, set(), "corpus"):
            sol = solve(it["prompt"])
            texts += [it["prompt"], ift_answer(sol), reasoning_answer(sol)]
    return texts
