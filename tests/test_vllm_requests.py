"""The vLLM offline backend's request construction, without vLLM: an injected engine records the
`LLM.chat` calls it gets. The real engine runs in scripts/gpu_smoke_vllm.py on a GPU host."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ponder.config import TeacherConfig
from ponder.errors import PonderError
from ponder.lm import make_teacher
from ponder.lm.base import GenRequest, template_kwargs
from ponder.lm.vllm_offline import VLLMOfflineLM, build_calls, sampling_kwargs


class RecordingLLM:
    """Stands in for `vllm.LLM`: answers each conversation with a scripted RequestOutput."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def get_tokenizer(self):  # no chat template here: no end-of-turn stop token
        return SimpleNamespace(chat_template=None)

    def chat(self, messages, sampling_params, use_tqdm, chat_template_kwargs):
        self.calls.append(
            {"messages": messages, "params": sampling_params, "ctk": chat_template_kwargs}
        )
        outs = []
        for conv, p in zip(messages, sampling_params, strict=True):
            q = conv[-1]["content"]
            thinking = (chat_template_kwargs or {}).get("enable_thinking")
            text = f"<think>\nabout {q}\n</think>\n\nA({q})" if thinking else f"A({q})"
            finish = "length" if p["max_tokens"] < 5 else "stop"
            if finish == "length" and thinking:
                text = f"<think>\nabout {q}"
            token_ids = list(range(min(p["max_tokens"], len(text.split()))))
            outs.append(
                SimpleNamespace(
                    prompt_token_ids=[1] * len(q.split()),
                    outputs=[SimpleNamespace(text=text, token_ids=token_ids, finish_reason=finish)],
                )
            )
        return outs


def req(q: str, thinking: bool | None, **kw) -> GenRequest:
    return GenRequest([{"role": "user", "content": q}], thinking=thinking, id=q, **kw)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            req("a", True, temperature=0.6, top_p=0.95),
            {"temperature": 0.6, "top_p": 0.95, "max_tokens": 16384},
        ),
        (
            req("a", False, temperature=0.7, top_p=0.8, max_tokens=512, seed=3),
            {"temperature": 0.7, "top_p": 0.8, "max_tokens": 512, "seed": 3},
        ),
        (
            req("a", None, temperature=0.0, top_p=0.5),
            {"temperature": 0.0, "top_p": 1.0, "max_tokens": 16384},
        ),
        (
            req("a", True, extra={"top_k": 20, "min_p": 0.0}),
            {"temperature": 1.0, "top_p": 1.0, "max_tokens": 16384, "top_k": 20, "min_p": 0.0},
        ),
    ],
)
def test_sampling_params_always_carry_max_tokens(request_, expected):
    assert sampling_kwargs(request_) == expected


def test_calls_are_grouped_by_thinking_toggle():
    reqs = [req("a", False), req("b", True), req("c", False), req("d", None)]
    assert build_calls(reqs) == [
        ({"enable_thinking": False}, [0, 2]),
        ({"enable_thinking": True}, [1]),
        ({}, [3]),
    ]


@pytest.mark.parametrize(
    ("base", "thinking", "own", "expected"),
    [
        ({}, None, {}, {}),
        ({}, True, {}, {"enable_thinking": True}),
        # the request's own arguments come last: a switch spelt another way (DeepSeek-V3.1)
        ({}, None, {"thinking": False}, {"thinking": False}),
        ({"enable_thinking": True}, False, {}, {"enable_thinking": False}),
        ({"x": 1}, True, {"enable_thinking": False}, {"x": 1, "enable_thinking": False}),
    ],
)
def test_template_kwargs_layer_backend_toggle_then_request(base, thinking, own, expected):
    r = GenRequest([{"role": "user", "content": "q"}], thinking=thinking, chat_template_kwargs=own)
    assert template_kwargs(base, r) == expected


def test_calls_are_grouped_by_their_template_arguments():
    reqs = [req("a", None), req("b", None), req("c", None)]
    reqs[0].chat_template_kwargs = {"thinking": True}
    reqs[2].chat_template_kwargs = {"thinking": True}
    assert build_calls(reqs, {"x": 1}) == [({"x": 1, "thinking": True}, [0, 2]), ({"x": 1}, [1])]


def test_generate_returns_normalised_results_in_input_order():
    llm = RecordingLLM()
    lm = VLLMOfflineLM("Qwen/Qwen3-8B", llm=llm, sampling_params=dict)
    reqs = [req("q one", False), req("q two", True), req("q three", True, max_tokens=3)]
    out = lm.generate(reqs)
    assert [r.id for r in out] == ["q one", "q two", "q three"]
    assert out[0].text == "A(q one)" and out[0].reasoning is None
    assert out[1].text == "<think>\nabout q two\n</think>\n\nA(q two)"
    assert (out[2].finish_reason, out[2].text) == ("length", "<think>\nabout q three")
    assert [c["ctk"] for c in llm.calls] == [{"enable_thinking": False}, {"enable_thinking": True}]
    assert out[1].prompt_tokens == 2


def test_teacher_config_reaches_the_engine():
    cfg = TeacherConfig(backend="vllm", model="Qwen/Qwen3-235B-A22B", tensor_parallel_size=8)
    lm = make_teacher(cfg)
    assert lm.engine_kwargs["tensor_parallel_size"] == 8
    assert lm.engine_kwargs["model"] == "Qwen/Qwen3-235B-A22B"


def test_missing_vllm_is_a_clear_error():
    try:
        import vllm  # noqa: F401

        pytest.skip("vLLM is installed here")
    except ImportError:
        pass
    with pytest.raises(PonderError, match="vLLM is not installed"):
        VLLMOfflineLM("m").generate([req("a", True)])
