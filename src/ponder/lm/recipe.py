"""Each teacher mode's request recipe applied to requests, and the teacher's models per mode.

The paper's teacher answers every prompt twice (§2.2): thinking off (IFT) and on (reasoning).
A mode's recipe (`TeacherConfig.ift` / `.reasoning`, read here by duck typing) says how: its
system prompt leads the messages; its `chat_template_kwargs` replace Qwen3's `enable_thinking`
toggle when set (DeepSeek-V3.1's `{thinking: false}`, `{}` for none), else the toggle is off for
IFT and on for reasoning; its `extra_body` fields go into the request body (openai backend). The
recipe never touches sampling: that is the caller's (generation uses the mode's, evaluation its
own). A mode may name its own model and servers (Qwen3-2507 ships the modes as two models);
modes served by the same model and servers share one backend instance (one fleet, one loaded
checkpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ponder.errors import PonderError
from ponder.lm.base import GenRequest, GenResult

MODES = ("ift", "reasoning")


def apply_recipe(req: GenRequest, recipe: Any, mode: str) -> GenRequest:
    """`req` as `mode` sends it: the recipe's system prompt, switch and body fields over it."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    messages = req.messages
    if recipe.system_prompt is not None:
        messages = [{"role": "system", "content": recipe.system_prompt}, *messages]
    own = recipe.chat_template_kwargs
    extra = dict(req.extra)
    if recipe.extra_body:
        extra["extra_body"] = {**recipe.extra_body, **(extra.get("extra_body") or {})}
    return replace(
        req,
        messages=messages,
        thinking=(mode == "reasoning") if own is None else None,
        chat_template_kwargs={**(own or {}), **req.chat_template_kwargs},
        extra=extra,
    )


class RecipeLM:
    """A backend answering as one teacher mode: every request gets the mode's recipe. Other
    attributes are the backend's; `agenerate` exists when the backend streams."""

    def __init__(self, lm: Any, recipe: Any, mode: str) -> None:
        self.lm, self.recipe, self.mode = lm, recipe, mode
        self.name = lm.name
        if hasattr(lm, "agenerate"):
            self.agenerate = self._agenerate

    def __getattr__(self, name: str) -> Any:  # only for what this class does not define
        return getattr(self.__dict__["lm"], name)

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        return self.lm.generate([apply_recipe(r, self.recipe, self.mode) for r in requests])

    async def _agenerate(self, req: GenRequest) -> GenResult:
        return await self.lm.agenerate(apply_recipe(req, self.recipe, self.mode))


def check_servers(teacher: Any, mode: str) -> None:
    """A mode of an openai teacher has servers; else one line naming the mode."""
    if teacher.backend == "openai" and not teacher.mode_urls(mode):
        raise PonderError(
            f"teacher.{mode}.base_urls: no server answers the {mode} mode "
            f"({teacher.mode_model(mode)}); set teacher.base_urls, or each mode's base_urls for "
            "a pair of models"
        )


def check_pair(teacher: Any) -> None:
    """Before a run: an openai teacher whose modes are two models names each mode's servers (a
    cluster plan serves `teacher.model` alone, so an empty list cannot mean "serve both")."""
    models = {teacher.mode_model(m) for m in MODES}
    if teacher.backend != "openai" or len(models) == 1:
        return
    for mode in MODES:
        if not teacher.mode_urls(mode):
            raise PonderError(
                f"teacher.{mode}.base_urls: the {mode} mode is its own model "
                f"({teacher.mode_model(mode)}) and no server is named for it; give each mode of "
                "a pair of models its servers (or teacher.base_urls: a gateway serving both)"
            )


def teacher_lms(teacher: Any, make_lm, options: dict, modes=MODES) -> dict[str, Any]:
    """The backend answering each of `modes` (unwrapped: generation builds complete requests),
    one instance per distinct (model, servers). `options` are the backend's teacher options."""
    built: dict[tuple, Any] = {}
    out = {}
    for mode in modes:
        model, urls = teacher.mode_model(mode), teacher.mode_urls(mode)
        key = (model, tuple(urls))
        if key not in built:
            opts = dict(options)
            if "base_urls" in opts:
                if not urls:
                    check_servers(teacher, mode)
                opts["base_urls"] = urls
            built[key] = make_lm(teacher.backend, model, **opts)
        out[mode] = built[key]
    return out
