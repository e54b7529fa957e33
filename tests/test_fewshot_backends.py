"""Base models get 3 solved examples before the question on every paper benchmark, as the same
text in every backend; students stop at their chat template's end-of-turn token in every backend.

The Qwen2.5 chat template in fixtures/chat_templates/qwen2.5.jinja is the public template of the
Qwen/Qwen2.5-*-Instruct tokenizers (tokenizer_config.json `chat_template`), written out as a file.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pytest
import torch

from _paths import FIXTURES
from ponder.config import load_study
from ponder.evaluate import fewshot as fs
from ponder.evaluate.benchmarks import load_benchmark
from ponder.evaluate.download import download
from ponder.evaluate.run import build_requests
from ponder.lm.base import GenRequest
from ponder.lm.hf_local import HFLocalLM, end_of_turn
from ponder.lm.openai_api import OpenAILM
from ponder.lm.vllm_offline import VLLMOfflineLM
from ponder.records import Evaluated, ModelKind

PAPER_12 = [
    "winogrande",
    "openbookqa",
    "mmlu-misc",
    "squad",
    "coqa",
    "ifeval",
    "aqua-rat",
    "mmlu-math",
    "mmlu-pro-math",
    "gsm8k",
    "math-500",
    "aime",
]
QWEN25_TEMPLATE = (FIXTURES / "chat_templates" / "qwen2.5.jinja").read_text()
BASE = Evaluated("qwen2.5-0.5b_base", ModelKind.BASE, student="qwen2.5-0.5b")
STUDENT = Evaluated("qwen2.5-0.5b_general-r1", ModelKind.STUDENT, student="qwen2.5-0.5b")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    out = tmp_path_factory.mktemp("cache")
    download(PAPER_12, out, FIXTURES / "hub", check_counts=False)
    return out


class FakeVLLM:
    """Stands in for `vllm.LLM`: records `generate` (raw prompts) and `chat` calls."""

    def __init__(self, tokenizer=None):
        self.tokenizer, self.prompts, self.chats = tokenizer, [], []

    def get_tokenizer(self):
        return self.tokenizer

    def _out(self, n):
        return [
            SimpleNamespace(
                prompt_token_ids=[1],
                outputs=[
                    SimpleNamespace(text="\\boxed{B}", token_ids=[1, 2], finish_reason="stop")
                ],
            )
            for _ in range(n)
        ]

    def generate(self, prompts, sampling_params, use_tqdm):
        self.prompts += list(zip(prompts, sampling_params, strict=True))
        return self._out(len(prompts))

    def chat(self, messages, sampling_params, use_tqdm, chat_template_kwargs):
        self.chats += list(zip(messages, sampling_params, strict=True))
        return self._out(len(messages))


@pytest.mark.parametrize("name", PAPER_12)
def test_a_base_model_sees_three_solved_examples_then_the_question_in_every_backend(cache, name):
    cfg = load_study("tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bench = load_benchmark(name, cache)
    reqs = build_requests(cfg, bench, BASE)
    item, req = bench.items()[0], reqs[0]
    raw = req.extra["raw_prompt"]
    blocks = raw.split("\n\n" + fs.QUESTION)
    assert raw.startswith(fs.QUESTION) and raw.endswith(f"{item.prompt}\n{fs.ANSWER}")
    assert raw == fs.render(bench.fewshot(3), item.prompt) and len(bench.fewshot(3)) == 3
    for shot in bench.fewshot(3):  # solved, and never a test item
        assert f"{shot.prompt}\n{fs.ANSWER} {shot.answer}" in raw
        assert shot.prompt not in {it.prompt for it in bench.items()}
    assert len(blocks) >= 4 and req.stop == fs.STOP
    # hf: the raw text, no template
    assert HFLocalLM.render(SimpleNamespace(), req) == raw
    # vllm: LLM.generate on the raw text, not LLM.chat
    llm = FakeVLLM()
    VLLMOfflineLM("m", llm=llm, sampling_params=dict).generate([req])
    assert [p for p, _ in llm.prompts] == [raw] and llm.chats == []
    assert llm.prompts[0][1]["stop"] == list(fs.STOP)
    # openai: /completions with `prompt`
    body = OpenAILM._body(SimpleNamespace(model="m"), req)
    assert OpenAILM.endpoint(req) == "/completions" and body["prompt"] == raw
    assert body["stop"] == list(fs.STOP)


@pytest.fixture(scope="module")
def qwen_tokenizer():
    """The tiny students' tokenizer carrying Qwen2.5's real chat template."""
    from ponder.tiny.students import build_tokenizer

    words = ["what is two plus two", "the answer is 4", "5 5 5 5 stop", "hi there"] * 20
    tok = build_tokenizer(words, vocab_size=300)
    tok.chat_template = QWEN25_TEMPLATE
    return tok


def test_end_of_turn_is_read_from_the_chat_template(qwen_tokenizer):
    assert end_of_turn(qwen_tokenizer) == "<|im_end|>"
    plain = SimpleNamespace(chat_template=None)
    assert end_of_turn(plain) is None


def test_students_requests_stop_at_end_of_turn_in_vllm_and_openai(qwen_tokenizer):
    req = GenRequest([{"role": "user", "content": "hi"}], stop=("<|im_end|>",), id="q")
    llm = FakeVLLM(qwen_tokenizer)
    VLLMOfflineLM("m", llm=llm, sampling_params=dict).generate([req])
    eot = qwen_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert llm.chats[0][1]["stop_token_ids"] == [eot]
    assert OpenAILM._body(SimpleNamespace(model="m"), req)["stop"] == ["<|im_end|>"]


def test_a_student_served_by_an_openai_compatible_server_gets_stop_token_ids(qwen_tokenizer):
    """vLLM matches `stop` strings on text with special tokens removed: only ids stop it."""
    cfg = load_study("tiny", ["eval.backend=openai"])
    bench = load_benchmark("tiny-math-oe", limit=2)
    eot = qwen_tokenizer.convert_tokens_to_ids("<|im_end|>")
    req = build_requests(cfg, bench, STUDENT, ("<|im_end|>",), [eot])[0]
    body = OpenAILM._body(SimpleNamespace(model="m"), req)
    assert body["stop"] == ["<|im_end|>"] and body["stop_token_ids"] == [eot]


@pytest.fixture(scope="module")
def chatty_student(qwen_tokenizer):
    """A tiny Qwen2 trained to answer '4<|im_end|>' and then ramble on: a student whose base
    checkpoint's generation config lists only <|endoftext|>, as Qwen2.5 base checkpoints do."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tok = qwen_tokenizer
    conv = [{"role": "user", "content": "what is two plus two"}]
    prompt = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    ids = tok(prompt + "4<|im_end|>5 5 5 5 5 5", add_special_tokens=False, return_tensors="pt")[
        "input_ids"
    ]
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
    )
    model = Qwen2ForCausalLM(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    endoftext = tok.convert_tokens_to_ids("<|endoftext|>")
    model.generation_config = GenerationConfig(eos_token_id=endoftext, pad_token_id=endoftext)
    tok.eos_token = "<|endoftext|>"  # as in Qwen2.5 base checkpoints
    return model.eval(), tok, conv


def test_hf_student_stops_at_im_end_though_its_eos_is_endoftext(chatty_student):
    model, tok, conv = chatty_student
    lm = HFLocalLM(model, tok, device="cpu")
    (out,) = lm.generate([GenRequest(conv, temperature=0.0, max_tokens=12, id="q")])
    assert (out.text, out.finish_reason, out.completion_tokens) == ("4", "stop", 2)
    # without the end-of-turn stop the trained student runs on past its answer
    lm._eos = [tok.convert_tokens_to_ids("<|endoftext|>")]
    (run_on,) = lm.generate([GenRequest(conv, temperature=0.0, max_tokens=12, id="q")])
    assert run_on.text.startswith("4") and "5" in run_on.text and run_on.finish_reason == "length"
