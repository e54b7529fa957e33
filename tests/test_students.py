"""Students: a local tokenizer with a chat template, and Qwen2 checkpoints built from config."""

import pytest

from ponder.config import StudentConfig
from ponder.tiny import solver, students


@pytest.fixture(scope="module")
def tok():
    return students.build_tokenizer(solver.corpus(0, 100), 384)


def test_digits_are_single_tokens_and_text_round_trips(tok):
    text = "<think> 12+34=46 ; 46*7=322 </think> \\boxed{322}"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pieces = [tok.decode([i]) for i in ids]
    assert all(len(p) == 1 for p in pieces if any(c.isdigit() for c in p))
    assert tok.decode(ids) == text
    assert "<think>" in pieces and "</think>" in pieces


def test_chat_template_marks_exactly_the_assistant_answer(tok):
    answer = "The answer is \\boxed{42}."
    msgs = [
        {"role": "user", "content": "Compute (5+1)*7-0."},
        {"role": "assistant", "content": answer},
    ]
    enc = tok.apply_chat_template(msgs, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = enc["input_ids"], enc["assistant_masks"]
    trained = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert trained == answer + "<|im_end|>"
    prompt = tok.apply_chat_template(msgs[:1], add_generation_prompt=True, return_dict=True)
    prompt = list(prompt["input_ids"])
    assert ids[: len(prompt)] == prompt  # the prompt is a prefix: no merge at the boundary


@pytest.mark.parametrize("dims, lo, hi", [((48, 2, 192), 5e4, 2e5), ((128, 6, 512), 1e6, 3e6)])
def test_sizes_and_saved_checkpoint_loads(tmp_path, tok, dims, lo, hi):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    s = StudentConfig(
        name="s", hidden_size=dims[0], num_hidden_layers=dims[1], intermediate_size=dims[2]
    )
    n = students.count_parameters(s, tok)
    assert lo < n < hi
    path = students.init_student(s, tok, tmp_path / "s", seed=1)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == n == students.checkpoint_params(path)
    assert AutoTokenizer.from_pretrained(path).chat_template == students.CHAT_TEMPLATE


def test_saved_student_tokenizer_encodes_identically_after_reload(tmp_path, tok):
    # transformers loads a qwen2 checkpoint's tokenizer as Qwen2Tokenizer whatever was saved:
    # the trained pipeline must survive that.
    from transformers import AutoTokenizer

    s = StudentConfig(name="s", hidden_size=32, num_hidden_layers=1, intermediate_size=64)
    path = students.init_student(s, tok, tmp_path / "s")
    again = AutoTokenizer.from_pretrained(path)
    for text in solver.corpus(5, 20)[:30]:
        msgs = [{"role": "user", "content": text}, {"role": "assistant", "content": text}]
        a = tok.apply_chat_template(msgs, return_dict=True)["input_ids"]
        b = again.apply_chat_template(msgs, return_dict=True)["input_ids"]
        assert list(a) == list(b)
    assert again.eos_token == "<|im_end|>" and again.pad_token == "<|endoftext|>"
    assert again.decode(again("<think> x </think>")["input_ids"]) == "<think> x </think>"
