"""The tiny world's scripted teacher, behind the same interface as a real teacher.

With thinking off it answers IFT style (`\\boxed{…}`); with thinking on it writes the solver's
steps inside `<think> … </think>` and then the boxed answer, like Qwen3's two modes. Like Qwen3's
template it is switched by `enable_thinking` alone (the toggle, or a request's own chat-template
argument): told another switch, it answers IFT style, as a real teacher that ignores it would. It
reads only the prompt text (tiny/solver.py), so a real teacher can take its place by config.
Token counts use a simple word/symbol split (digits one by one), standing in for a tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ponder.lm.base import GenRequest, GenResult, split_thinking, template_kwargs
from ponder.tiny.solver import ift_answer, reasoning_answer, solve

_TOKEN = re.compile(r"\d|[A-Za-z]+|[^\sA-Za-z\d]")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


class ScriptedTeacher:
    """A deterministic teacher for the tiny world; `max_tokens` truncates like a real server."""

    name = "scripted"

    def __init__(self, model: str = "scripted") -> None:
        self.model = model  # the world is the model: the name is only recorded

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        out = []
        for r in requests:
            prompt = r.messages[-1]["content"]
            try:
                sol = solve(prompt)
            except ValueError as e:
                out.append(GenResult(r.id, "", None, "error", count_tokens(prompt), 0, str(e)))
                continue
            # Switched like a Qwen3 template: by `enable_thinking`, the toggle or the request's own
            # chat-template argument; any other switch leaves it answering IFT style.
            think = bool(template_kwargs({}, r).get("enable_thinking"))
            text = reasoning_answer(sol) if think else ift_answer(sol)
            toks = _TOKEN.findall(text)
            finish = "stop"
            if len(toks) > r.max_tokens:  # cut at a token boundary, as a server would
                cut = [m.end() for m in _TOKEN.finditer(text)][r.max_tokens - 1]
                text, finish = text[:cut], "length"
            reasoning, _, _ = split_thinking(text) if think else (None, text, True)
            out.append(
                GenResult(
                    r.id,
                    text,
                    reasoning,
                    finish,
                    count_tokens(prompt),
                    min(len(toks), r.max_tokens),
                )
            )
        return out
