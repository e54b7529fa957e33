"""Offline vLLM generation (`vllm.LLM.chat`, or `LLM.generate` for raw prompts), for teachers and
students on local GPUs.

vLLM is an optional dependency (`pip install ponder[gpu]`), imported only when this backend
generates. The thinking toggle reaches the chat template as `chat_template_kwargs`
(`enable_thinking`, §2.2); since that argument is per call, requests are grouped by toggle and
sampling settings travel per request as `SamplingParams`. `max_tokens` is always set (vLLM's own
default is 16 new tokens) and so is the engine seed. Qwen3 writes its thinking inline, so the
output is normalised like a server's inline `<think>…</think>` (openai_api.normalise).

A request with `extra["raw_prompt"]` (a base model's few-shot text, evaluate/fewshot.py) goes to
`LLM.generate` as that exact text, never through the chat template. Chat requests stop at the
template's end-of-turn token (`stop_token_ids`: vLLM matches `stop` strings on detokenized text,
which skips special tokens such as `<|im_end|>`); a request's `stop` strings become `stop`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ponder.errors import PonderError
from ponder.lm.base import GenRequest, GenResult, template_kwargs
from ponder.lm.openai_api import normalise


def sampling_kwargs(req: GenRequest, stop_token_ids: list[int] | None = None) -> dict[str, Any]:
    """`SamplingParams` arguments of one request (temperature 0 is greedy in vLLM)."""
    kw: dict[str, Any] = {
        "temperature": req.temperature,
        "top_p": req.top_p if req.temperature > 0 else 1.0,
        "max_tokens": req.max_tokens,
    }
    if req.stop:
        kw["stop"] = list(req.stop)
    if stop_token_ids:
        kw["stop_token_ids"] = list(stop_token_ids)
    if req.seed is not None:
        kw["seed"] = req.seed
    for key in ("top_k", "min_p", "presence_penalty", "repetition_penalty"):
        if key in req.extra:
            kw[key] = req.extra[key]
    return kw


def build_calls(
    requests: Sequence[GenRequest], base_kwargs: dict | None = None
) -> list[tuple[dict, list[int]]]:
    """Group chat requests into `LLM.chat` calls: [(chat_template_kwargs, request indices)], one
    call per distinct set of template arguments (the thinking toggle and the request's own), in
    first-seen order (raw-prompt requests are not chat calls)."""
    groups: dict[str, tuple[dict, list[int]]] = {}
    for i, r in enumerate(requests):
        if r.extra.get("raw_prompt") is None:
            ctk = template_kwargs(base_kwargs or {}, r)
            key = json.dumps(ctk, sort_keys=True, default=str)
            groups.setdefault(key, (ctk, []))[1].append(i)
    return list(groups.values())


class VLLMOfflineLM:
    """`vllm.LLM` behind the `LM` interface. `llm` and `sampling_params` may be injected (tests)."""

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        seed: int = 0,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        chat_template_kwargs: dict | None = None,
        llm: Any = None,
        sampling_params: Callable[..., Any] | None = None,
    ) -> None:
        self.name = str(model)
        self.engine_kwargs: dict[str, Any] = {
            "model": str(model),
            "tensor_parallel_size": tensor_parallel_size,
            "seed": seed,
            "dtype": dtype,
            "gpu_memory_utilization": gpu_memory_utilization,
        }
        if max_model_len:
            self.engine_kwargs["max_model_len"] = max_model_len
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self._llm = llm
        self._sampling = sampling_params

    def _engine(self) -> tuple[Any, Callable[..., Any]]:
        if self._llm is None or self._sampling is None:
            try:
                import vllm
            except ImportError:
                raise PonderError(
                    "backend vllm: vLLM is not installed (pip install 'ponder[gpu]' on a GPU host)"
                ) from None
            self._llm = self._llm or vllm.LLM(**self.engine_kwargs)
            self._sampling = self._sampling or vllm.SamplingParams
        return self._llm, self._sampling

    def _end_of_turn_ids(self, llm) -> list[int]:
        from ponder.lm.hf_local import end_of_turn

        tok = llm.get_tokenizer()
        eot = end_of_turn(tok)
        return [] if eot is None else [tok.convert_tokens_to_ids(eot)]

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        llm, make_params = self._engine()
        out: list[GenResult | None] = [None] * len(requests)
        raw = [i for i, r in enumerate(requests) if r.extra.get("raw_prompt") is not None]
        if raw:  # base models' few-shot text: exactly that text, no chat template
            params = [make_params(**sampling_kwargs(requests[i])) for i in raw]
            prompts = [requests[i].extra["raw_prompt"] for i in raw]
            for i, res in zip(
                raw, llm.generate(prompts, sampling_params=params, use_tqdm=False), strict=True
            ):
                out[i] = self._result(requests[i], res)
        calls = build_calls(requests, self.chat_template_kwargs)
        eot = self._end_of_turn_ids(llm) if calls else []
        for ctk, idx in calls:
            convs = [requests[i].messages for i in idx]
            params = [make_params(**sampling_kwargs(requests[i], eot)) for i in idx]
            results = llm.chat(
                convs,
                sampling_params=params,
                use_tqdm=False,
                chat_template_kwargs=ctk or None,
            )
            for i, res in zip(idx, results, strict=True):
                out[i] = self._result(requests[i], res)
        return out  # type: ignore[return-value]

    @staticmethod
    def _result(req: GenRequest, res: Any) -> GenResult:
        o = res.outputs[0]
        text, reasoning = normalise(o.text, None)
        return GenResult(
            id=req.id,
            text=text,
            reasoning=reasoning,
            finish_reason=o.finish_reason or "stop",
            prompt_tokens=len(res.prompt_token_ids or []),
            completion_tokens=len(o.token_ids),
        )
