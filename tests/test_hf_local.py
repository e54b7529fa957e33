"""HFLocalLM: batched transformers generation through a Qwen-style chat template.

A tiny random Qwen2 model and a word-level tokenizer are built here, as the students are: nothing
is downloaded.
"""

from __future__ import annotations

import pytest
import torch

from ponder.lm.base import GenRequest
from ponder.lm.hf_local import HFLocalLM

# Qwen3's switch: with thinking off the template pre-fills an empty think block.
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)
WORDS = [
    "what",
    "is",
    "two",
    "plus",
    "three",
    "the",
    "answer",
    "boxed",
    "think",
    "a",
    "b",
    "c",
    "d",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "0",
    "+",
    "*",
    "(",
    ")",
    "?",
]


@pytest.fixture(scope="module")
def tiny():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    # <|im_end|> (eos) is id 0: a model whose logits are all equal then picks it greedily.
    specials = ["<|im_end|>", "<|endoftext|>", "<|im_start|>", "<think>", "</think>", "<unk>"]
    vocab = {w: i for i, w in enumerate(specials + WORDS + ["\n", "user", "assistant"])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split("\n", "isolated"), pre_tokenizers.WhitespaceSplit()]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>"
    )
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tok.chat_template = TEMPLATE
    cfg = Qwen2Config(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    return model, tok


def req(text: str, **kw) -> GenRequest:
    kw.setdefault("temperature", 0.0)
    return GenRequest(messages=[{"role": "user", "content": text}], **kw)


PROMPTS = [
    "what is 2 + 3 ?",
    "what is ( 1 + 2 ) * 3 - 4 ? the answer boxed",
    "a",
    "what is two plus three the answer a b c d 1 2 3 4 5",
]


def test_batched_greedy_matches_one_by_one_and_keeps_input_order(tiny):
    model, tok = tiny
    lm = HFLocalLM(model, tok, device="cpu", batch_size=3)
    reqs = [req(p, id=f"q{i}", max_tokens=6) for i, p in enumerate(PROMPTS)]
    batched = lm.generate(reqs)
    single = [HFLocalLM(model, tok, device="cpu", batch_size=1).generate([r])[0] for r in reqs]
    assert [r.id for r in batched] == ["q0", "q1", "q2", "q3"]
    assert [r.text for r in batched] == [r.text for r in single]
    for r, p in zip(batched, PROMPTS, strict=True):
        assert r.prompt_tokens == len(tok(lm.render(req(p)), add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize(
    ("thinking", "expected_tail"),
    [
        (None, "<|im_start|>assistant\n"),
        (True, "<|im_start|>assistant\n"),
        (False, "<|im_start|>assistant\n<think>\n\n</think>\n\n"),
    ],
)
def test_thinking_toggle_reaches_the_chat_template(tiny, thinking, expected_tail):
    lm = HFLocalLM(*tiny, device="cpu")
    assert lm.render(req("what is 2 + 3 ?", thinking=thinking)).endswith(expected_tail)


def test_raw_prompt_bypasses_the_template(tiny):
    lm = HFLocalLM(*tiny, device="cpu")
    r = req("ignored", max_tokens=4, extra={"raw_prompt": "what is 2 + 3 ? the answer"})
    assert lm.render(r) == "what is 2 + 3 ? the answer"
    (out,) = lm.generate([r])
    assert out.prompt_tokens == 8  # what is 2 + 3 ? the answer


def _copy(model):
    clone = type(model)(model.config)
    clone.load_state_dict(model.state_dict())
    return clone


def test_max_tokens_without_eos_is_length(tiny):
    model, tok = tiny
    never_eos = _copy(model)
    with torch.no_grad():  # eos logit 0 while the others are scaled up: it never wins
        never_eos.lm_head.weight[tok.eos_token_id] = 0.0
        never_eos.model.norm.weight.fill_(50.0)
    lm = HFLocalLM(never_eos, tok, device="cpu")
    (out,) = lm.generate([req("what is 2 + 3 ?", max_tokens=5)])
    assert (out.finish_reason, out.completion_tokens) == ("length", 5)


def test_eos_stops_generation_and_is_counted(tiny):
    model, tok = tiny
    forced = _copy(model)
    with torch.no_grad():  # all logits equal: greedy picks id 0, which is <|im_end|>
        forced.model.norm.weight.zero_()
    lm = HFLocalLM(forced, tok, device="cpu")
    out = lm.generate([req("what is 2 + 3 ?", max_tokens=8, temperature=0.0)])[0]
    assert (out.text, out.finish_reason) == ("", "stop")
    assert out.completion_tokens == 1


def test_seeded_sampling_is_reproducible(tiny):
    lm = HFLocalLM(*tiny, device="cpu", batch_size=2)
    reqs = [req(p, temperature=1.0, top_p=1.0, seed=7, max_tokens=8) for p in PROMPTS]
    a, b = lm.generate(reqs), lm.generate(reqs)
    assert [r.text for r in a] == [r.text for r in b]


def test_prompt_longer_than_context_is_a_row_error(tiny):
    lm = HFLocalLM(*tiny, device="cpu")
    (out,) = lm.generate([req(" ".join(["a"] * 200), max_tokens=4)])
    assert out.finish_reason == "error"
    assert "context" in out.error
