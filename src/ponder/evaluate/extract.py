"""Final-answer extraction from a model's response, the first step of every rule scorer.

Order (paper §2.3, Appendix D.2: every Table 4 prompt asks for the answer "inside \\boxed{}"):
1. the thinking block is removed (`<think>…</think>`; an unclosed `<think>` means the answer was
   truncated inside its reasoning, so nothing is left to score);
2. the LAST `\\boxed{…}` / `\\fbox{…}` with nested braces, or the brace-less `\\boxed X`, is
   taken;
3. without a box, the final answer text (an "answer is …" / "Answer: …" tail, else the last
   non-empty line) is used and `boxed=False` is recorded so analyses can count format failures.

Multiple-choice answers are then mapped to an option letter by `normalize_mc`, which accepts the
many ways models write a letter and maps an option's own text to its letter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

LETTERS = "ABCDEFGHIJ"  # MMLU-Pro has up to 10 options (Wang et al., 2024b)


@dataclass(frozen=True)
class Extraction:
    answer: str  # extracted final answer text ('' if none)
    boxed: bool  # True when it came from \boxed / \fbox


_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)
_BOX_START = re.compile(r"\\(?:boxed|fbox)\b")
_ANSWER_TAIL = re.compile(
    r"(?:final answer|answer is|answer:|answer =)\s*[:=]?\s*(.+)$", re.IGNORECASE | re.DOTALL
)


def strip_think(text: str) -> str:
    """Remove `<think>…</think>` blocks and an unclosed `<think>…` tail.

    A bare `</think>` without its opening tag (chat templates that put `<think>` in the prompt)
    keeps only what follows it.
    """
    text = _THINK_BLOCK.sub("", text)
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        text = text.split("<think>", 1)[0]
    return text.strip()


def _braced(text: str, start: int) -> str | None:
    """Content of the balanced `{…}` opening at `start` (which must be '{'), or None if unclosed.

    Hand-written because regular expressions cannot match nested braces (\\frac{a}{b} in a box).
    """
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            continue  # an escaped brace \{ or \} is content, not structure
        if ch == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last well-formed `\\boxed{…}`, `\\fbox{…}` or `\\boxed X` in `text`."""
    for m in reversed(list(_BOX_START.finditer(text))):
        rest = m.end()
        while rest < len(text) and text[rest] == " ":
            rest += 1
        if rest < len(text) and text[rest] == "{":
            inner = _braced(text, rest)
            if inner is not None:
                return inner.strip()
            continue  # unclosed box (truncated output): try an earlier one
        if rest > m.end() and text[m.start() : m.end()] == "\\boxed":
            # `\boxed 5` form: the token up to whitespace, `$` or end of line
            tok = re.match(r"[^\s$]+", text[rest:])
            if tok:
                return tok.group(0).rstrip(".,;")
    return None


def _final_text(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    m = _ANSWER_TAIL.search(lines[-1]) or _ANSWER_TAIL.search(text.strip())
    ans = m.group(1) if m else lines[-1]
    ans = ans.strip().strip("*").strip()
    return ans.rstrip(".").strip() if ans.count(".") == 1 and ans.endswith(".") else ans


def extract_answer(text: str) -> Extraction:
    """The final answer of a response: the last box after the thinking block, else its tail."""
    body = strip_think(text or "")
    boxed = last_boxed(body)
    if boxed is not None:
        return Extraction(boxed, True)
    return Extraction(_final_text(body), False)


_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|texttt|textit|mbox)\s*\{([^{}]*)\}")
_LETTER_ALONE = re.compile(r"^\(?\s*([A-Ja-j])\s*\)?[.:)]?$")
_LETTER_LEAD = re.compile(r"^(?:option|choice|answer)?\s*[:\-]?\s*\(?([A-J])\s*[).:\]]\s*(.+)$")
_LETTER_WORD = re.compile(
    r"^(?:the\s+)?(?:correct\s+)?(?:option|choice|answer)(?:\s+is)?"
    r"\s*[:\-]?\s*\(?([A-J])\)?[.:)]?$",
    re.IGNORECASE,
)


def _clean(s: str) -> str:
    prev = None
    while prev != s:  # unwrap nested \text{\textbf{B}} from the inside out
        prev, s = s, _WRAPPERS.sub(r"\1", s)
    s = s.replace("$", "").replace("**", "").replace("\\(", "").replace("\\)", "")
    return s.strip().strip("`'\"").strip()


def _norm_text(s: str) -> str:
    s = _clean(s).lower()
    s = re.sub(r"[\s\u00a0]+", " ", s)
    return s.strip(" .;:,!")


def normalize_mc(answer: str, options: Sequence[str]) -> str:
    """Map an extracted MC answer to its option letter ('A'..'J'), or '' when it maps to none.

    Accepts `B`, `(B)`, `B)`, `B.`, `\\text{B}`, `Option B`, `answer is (B)`, `B) its text`, and the
    option's own text (case- and spacing-insensitive), e.g. "Dun & Bradstreet, Inc." -> its letter.
    """
    valid = LETTERS[: len(options)] if options else LETTERS
    s = _clean(answer)
    if not s:
        return ""
    for pat in (_LETTER_ALONE, _LETTER_WORD):
        m = pat.match(s)
        if m and m.group(1).upper() in valid:
            return m.group(1).upper()
    norm = _norm_text(s)
    texts = [_norm_text(o) for o in options]
    if norm in texts and texts.count(norm) == 1:
        return valid[texts.index(norm)]
    m = _LETTER_LEAD.match(s)
    if m and m.group(1) in valid:
        # "B) its text": trust the letter unless the text names a different option
        tail = _norm_text(m.group(2))
        if tail in texts and valid[texts.index(tail)] != m.group(1):
            return valid[texts.index(tail)]
        return m.group(1)
    return ""
