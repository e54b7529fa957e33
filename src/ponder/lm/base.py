"""One generation interface for teachers, students and judges.

Every backend (scripted, hf, vllm, openai) takes a batch of `GenRequest`s and returns one
`GenResult` per request, in order. Reasoning output is normalised to one form whatever the backend
spells it as: `text` holds `<think>{reasoning}</think>{answer}` when there was thinking, and
`reasoning` holds the thinking alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass
class GenRequest:
    messages: list[dict]  # chat messages [{"role": "user", "content": ...}]
    thinking: bool | None = None  # enable_thinking toggle (None: the backend's default)
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16384
    seed: int | None = None
    id: str = ""
    # Strings that end the answer besides the model's EOS (a student's end-of-turn token).
    stop: tuple[str, ...] = ()
    # Chat-template arguments of this request, applied over the backend's own and after the
    # thinking toggle (a teacher switched by another key, e.g. DeepSeek-V3.1's `thinking`).
    chat_template_kwargs: dict = field(default_factory=dict)
    # Backend extras: `raw_prompt` (a base model's few-shot text, sent without a chat template),
    # `extra_body` (openai), sampling knobs such as `top_k` (vllm).
    extra: dict = field(default_factory=dict)


@dataclass
class GenResult:
    id: str
    text: str  # the answer; with thinking, normalised to "<think>…</think>answer"
    reasoning: str | None
    finish_reason: str  # "stop" | "length" | "error"
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None


@runtime_checkable
class LM(Protocol):
    name: str

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]: ...


_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)
_BLOCK = re.compile(r"<think>(.*?)(?:</think>|\Z)", re.DOTALL)


def template_kwargs(base: dict, req: GenRequest) -> dict:
    """The chat-template arguments one request is rendered with: the backend's own, then the
    thinking toggle as `enable_thinking` (Qwen3's switch, §2.2), then the request's own."""
    kwargs = dict(base)
    if req.thinking is not None:
        kwargs["enable_thinking"] = req.thinking
    return kwargs | req.chat_template_kwargs


def join_thinking(reasoning: str | None, answer: str) -> str:
    """The normalised text form: `<think>reasoning</think>answer` (the answer alone without
    thinking)."""
    if reasoning is None:
        return answer
    return f"<think>{reasoning}</think>{answer}"


def split_thinking(text: str) -> tuple[str | None, str, bool]:
    """Split inline thinking: (reasoning or None, answer, closed). An unclosed `<think>` means the
    whole text is reasoning and `closed` is False (a truncated trace)."""
    m = _THINK.match(text)
    if m:
        return m.group(1), text[m.end() :], True
    stripped = text.lstrip()
    if stripped.startswith("<think>"):
        return stripped[len("<think>") :], "", False
    return None, text, True


def has_trace(text: str) -> bool:
    """Whether a stored answer carries a reasoning trace: a `<think>` block with content, closed or
    cut off (a truncated trace is still a trace), or text before a lone `</think>` (a template that
    pre-filled `<think>`). An empty `<think></think>` (Qwen3's IFT pre-fill) is no trace."""
    if any(block.strip() for block in _BLOCK.findall(text)):
        return True
    head, closing, _ = text.partition("</think>")
    return bool(closing) and "<think>" not in head and bool(head.strip())


def mode_mismatch(mode: str, text: str) -> bool:
    """An answer that contradicts its mode (§2.2's premise): an IFT answer with a trace, or a
    reasoning answer without one. The one check of every stored answer, whatever its source."""
    return has_trace(text) != (mode == "reasoning")
