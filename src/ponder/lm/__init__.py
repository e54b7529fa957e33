"""LM backends behind one interface (`ponder.lm.base.LM`), built by name and imported lazily.

`make_lm("openai" | "vllm" | "hf" | "scripted", model, **options)` builds any backend; only the
chosen backend's heavy dependencies (vLLM, torch/transformers, the openai client) are imported.
`make_teacher(cfg.teacher)` builds the generate stage's teacher from a study config.
"""

from __future__ import annotations

from typing import Any

from ponder.errors import PonderError
from ponder.lm.base import LM, GenRequest, GenResult, join_thinking, split_thinking

BACKENDS = ("scripted", "openai", "vllm", "hf")

__all__ = [
    "BACKENDS",
    "LM",
    "GenRequest",
    "GenResult",
    "join_thinking",
    "make_lm",
    "make_teacher",
    "split_thinking",
]


def make_lm(backend: str, model: str, **options: Any) -> LM:
    """Build a backend. Options by backend:
    openai: base_urls, api_key_env, max_concurrency, max_retries, request_timeout_s;
    vllm: tensor_parallel_size, seed, dtype, max_model_len, gpu_memory_utilization;
    hf: device, dtype, batch_size, chat_template_kwargs (tokenizer for a model object)."""
    if backend == "scripted":
        from ponder.lm.scripted import ScriptedTeacher

        return ScriptedTeacher()
    if backend == "openai":
        from ponder.lm.openai_api import OpenAILM

        return OpenAILM(model, **options)
    if backend == "vllm":
        from ponder.lm.vllm_offline import VLLMOfflineLM

        return VLLMOfflineLM(model, **options)
    if backend == "hf":
        from ponder.lm.hf_local import HFLocalLM

        return HFLocalLM(model, **options)
    raise PonderError(f"backend: unknown {backend!r} (known: {', '.join(BACKENDS)})")


def make_teacher(cfg: Any) -> LM:
    """The teacher of a study (`TeacherConfig`): the backend with its connection options."""
    if cfg.backend == "openai":
        opts = {
            "base_urls": cfg.base_urls,
            "api_key_env": cfg.api_key_env,
            "max_concurrency": cfg.max_concurrency,
            "max_retries": cfg.max_retries,
            "request_timeout_s": cfg.request_timeout_s,
        }
    elif cfg.backend == "vllm":
        opts = {"tensor_parallel_size": cfg.tensor_parallel_size, "seed": cfg.reasoning.seed or 0}
    elif cfg.backend == "hf":
        opts = {"batch_size": cfg.max_concurrency}
    else:
        opts = {}
    return make_lm(cfg.backend, cfg.model, **opts)
