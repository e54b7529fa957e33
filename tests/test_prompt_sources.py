"""Prompt sources from their hub schemas: Infinity-Instruct's ShareGPT turns, Llama-Nemotron's
message lists, the released pairs (split reasoning_ift_pairs; an empty answer column is an error),
and a per-mode system prompt for teachers switched by system prompt."""

from __future__ import annotations

import pytest

from _paths import FIXTURES
from ponder.config import load_study
from ponder.errors import PonderError
from ponder.generate.sources import iter_pairs, iter_prompts
from ponder.generate.stream import make_requests

HUB = FIXTURES / "hub"


def _study(source: dict, **extra):
    sets = [f"domains={{general: {{source: {source}}}}}"] + [f"{k}={v}" for k, v in extra.items()]
    return load_study("tiny", sets)


def test_infinity_instruct_conversations_become_chat_turns_up_to_the_last_user_turn():
    src = {
        "kind": "hub",
        "dataset": str(HUB / "BAAI/Infinity-Instruct"),
        "subset": "7M_core",
        "split": "train",
        "column": "conversations",
        "id_column": "id",
    }
    rows = list(iter_prompts(_study(src), "general"))
    assert [r["id"] for r in rows] == ["101", "102", "103"]
    assert rows[0]["messages"] == [{"role": "user", "content": "Name three primary colors."}]
    assert [m["role"] for m in rows[2]["messages"]] == ["user", "assistant", "user"]
    assert rows[2]["prompt"] == "And 12 times 12?"


def test_nemotron_math_input_messages_are_prompts():
    src = {
        "kind": "hub",
        "dataset": str(HUB / "nvidia/Llama-Nemotron-Post-Training-Dataset"),
        "subset": "SFT",
        "split": "math",
        "column": "input",
    }
    rows = list(iter_prompts(_study(src), "general"))
    assert [r["prompt"] for r in rows][0] == "Solve for x: 2x + 3 = 11."


def _pairs(split: str, **kw):
    src = {
        "kind": "paired",
        "split": split,
        "dataset": str(HUB / "When-Does-Reasoning-Matter/general-reasoning-ift-pairs"),
        **kw,
    }
    return list(iter_pairs(_study(src), "general"))


def test_released_pairs_give_both_answers_per_prompt():
    rows = _pairs("reasoning_ift_pairs")
    assert len(rows) == 6 and rows[0]["ift"] == "Red, blue and yellow."
    assert (
        rows[0]["reasoning"].startswith("<think>")
        and rows[0]["reasoning_tokens"] > rows[0]["ift_tokens"]
    )


@pytest.mark.parametrize(("split", "column"), [("reasoning", "ift"), ("ift", "reasoning")])
def test_a_single_mode_split_is_an_error_naming_split_and_column(split, column):
    with pytest.raises(PonderError, match=f"split '{split}': row 0: column '{column}'.*is empty"):
        _pairs(split)


def test_released_answers_are_counted_with_the_student_tokenizer(tmp_path):
    from ponder.tiny.students import build_tokenizer

    tok = build_tokenizer(["red blue yellow bonjour fast rome"] * 10, vocab_size=280)
    tok.save_pretrained(tmp_path)
    rows = _pairs("reasoning_ift_pairs", tokenizer=str(tmp_path))
    assert rows[0]["ift_tokens"] == len(
        tok("Red, blue and yellow.", add_special_tokens=False)["input_ids"]
    )


def test_a_mode_system_prompt_leads_that_modes_messages():
    cfg = load_study("paper-extended")
    row = {"id": "x", "messages": [{"role": "user", "content": "hi"}]}
    ift, reasoning = make_requests(row, cfg)
    assert ift.messages[0] == {"role": "system", "content": "/no_think"}  # Nemotron-Super v1.5
    assert reasoning.messages[0] == {"role": "system", "content": "/think"}
    assert ift.messages[1:] == row["messages"]
