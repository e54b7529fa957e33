"""LM backends behind one interface (`ponder.lm.base.LM`), in one table, imported lazily.

`BACKENDS` maps a backend name to where its class lives and how each role configures it: as the
teacher (from `TeacherConfig`), as the model under evaluation (from `EvalConfig`), as a judge
(from `JudgeModel`). Adding a backend is one module in this folder and one entry here; the config
accepts any name in the table. Only the chosen backend's heavy dependencies (vLLM,
torch/transformers, the openai client) are imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ponder.errors import PonderError
from ponder.lm.base import LM, GenRequest, GenResult, join_thinking, split_thinking

__all__ = [
    "BACKENDS",
    "LM",
    "GenRequest",
    "GenResult",
    "join_thinking",
    "make_lm",
    "make_teacher",
    "teacher_modes",
    "make_evaluated",
    "make_judge",
    "split_thinking",
]


def _none(_: Any) -> dict:
    return {}


def _fleet(c: Any) -> dict:
    """A server fleet's connection settings, from any config section that has them."""
    opts = {"base_urls": c.base_urls, "api_key_env": c.api_key_env}
    for key in ("max_concurrency", "max_retries", "request_timeout_s"):
        if hasattr(c, key):
            opts[key] = getattr(c, key)
    return opts


@dataclass(frozen=True)
class Backend:
    module: str  # ponder.lm.<module>
    cls: str
    teacher: Callable[[Any], dict] = _none  # TeacherConfig -> constructor options
    evaluated: Callable[[Any], dict] = _none  # EvalConfig -> options
    judge: Callable[[Any], dict] = _none  # JudgeModel -> options


BACKENDS: dict[str, Backend] = {
    "scripted": Backend("scripted", "ScriptedTeacher"),
    "openai": Backend("openai_api", "OpenAILM", teacher=_fleet, judge=_fleet),
    "vllm": Backend(
        "vllm_offline",
        "VLLMOfflineLM",
        teacher=lambda t: {
            "tensor_parallel_size": t.tensor_parallel_size,
            "seed": t.reasoning.seed or 0,
        },
    ),
    "hf": Backend(
        "hf_local",
        "HFLocalLM",
        teacher=lambda t: {"batch_size": t.max_concurrency},
        evaluated=lambda e: {"batch_size": e.batch_size},
    ),
}


def make_lm(backend: str, model: str, **options: Any) -> LM:
    """Build a backend by name with its constructor options."""
    if backend not in BACKENDS:
        raise PonderError(f"backend: unknown {backend!r} (known: {', '.join(BACKENDS)})")
    entry = BACKENDS[backend]
    cls = getattr(importlib.import_module(f"ponder.lm.{entry.module}"), entry.cls)
    return cls(model, **options)


def teacher_modes(cfg: Any, modes: tuple[str, ...] = ("ift", "reasoning")) -> dict[str, LM]:
    """The backend answering each teacher mode (`TeacherConfig`): one instance per distinct model
    and servers, so the two modes of a hybrid teacher share a fleet or a loaded checkpoint."""
    from ponder.lm.recipe import teacher_lms

    return teacher_lms(cfg, make_lm, BACKENDS[cfg.backend].teacher(cfg), modes)


def make_teacher(cfg: Any, mode: str = "reasoning") -> LM:
    """The teacher answering as one mode, its recipe applied to every request: evaluating the
    teacher asks its reasoning mode (thinking on, §2.3)."""
    from ponder.lm.recipe import RecipeLM

    return RecipeLM(teacher_modes(cfg, (mode,))[mode], getattr(cfg, mode), mode)


def make_evaluated(cfg: Any, path: str) -> LM:
    """A checkpoint under evaluation (`EvalConfig` names the backend)."""
    return make_lm(cfg.backend, path, **BACKENDS[cfg.backend].evaluated(cfg))


def make_judge(j: Any) -> LM:
    """One judge of the panel (`JudgeModel`), named as the config names it."""
    lm = make_lm(j.backend, j.model, **BACKENDS[j.backend].judge(j))
    lm.name = j.name
    return lm
