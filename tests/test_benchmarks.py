"""Benchmarks as data: every definition is complete, loads from a data dir, and fails clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ponder.errors import PonderError
from ponder.evaluate.benchmarks import BenchItem, list_benchmarks, load_benchmark
from ponder.evaluate.scorers import SCORERS
from ponder.evaluate.spec import load_spec

FIX = Path(__file__).parent / "fixtures" / "eval"
from _paths import DATA  # noqa: E402

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
EXTENDED_6 = [
    "mmlu-pro-law",
    "consumer-qa",
    "mmlu-pro-code",
    "c-code-summarization",
    "mmlu-pro-physics",
    "scibench",
]
TINY = ["tiny-general-mc", "tiny-general-oe", "tiny-math-mc", "tiny-math-oe"]
from _paths import RESOURCES  # noqa: E402

DEFS = RESOURCES / "benchmarks"
pytestmark = pytest.mark.filterwarnings("ignore:.*the definition expects:UserWarning")
TABLE4 = yaml.safe_load((DEFS.parent / "prompts" / "table4.yaml").read_text())


def test_registry_lists_the_paper_suite_the_extended_suite_and_the_tiny_families():
    assert set(PAPER_12 + EXTENDED_6 + TINY) == set(list_benchmarks())


@pytest.mark.parametrize("name", PAPER_12 + EXTENDED_6)
def test_every_definition_validates_and_names_its_suite(name):
    spec = load_spec(name)  # pydantic BenchmarkSpec: scorer, reader, instruction all exist
    assert spec.name == name
    assert spec.suite == ("paper" if name in PAPER_12 else "extended")
    assert spec.judge_prompt == ("ifeval" if name == "ifeval" else "default")
    assert spec.instruction in TABLE4[spec.suite]
    assert spec.scorer in SCORERS and spec.fewshot is not None


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"scorer": "bleu"}, "(top level): Value error, scorer 'bleu' is not one of math, mc"),
        ({"suite": "bonus"}, "suite: Input should be 'paper' or 'extended'"),
        ({"reader": "nope"}, "reader 'nope' is not one of"),
        ({"test": {}}, "test: Value error, needs `hub`, `local` or `builtin`"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_a_bad_definition_is_one_error_naming_the_file_and_field(
    tmp_path, monkeypatch, patch, message
):
    from ponder.evaluate import spec as spec_mod

    bad = yaml.safe_load((DEFS / "gsm8k.yaml").read_text()) | patch | {"name": "bad"}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    monkeypatch.setattr(spec_mod, "_DEFS", tmp_path)
    spec_mod.load_spec.cache_clear()
    try:
        with pytest.raises(PonderError, match=re.escape(message)) as e:
            spec_mod.load_spec("bad")
        assert str(e.value).startswith("benchmark definition bad.yaml: ") and "\n" not in str(
            e.value
        )
    finally:
        spec_mod.load_spec.cache_clear()


def test_option_letters_are_defined_once():
    from ponder.evaluate import extract, readers

    assert extract.LETTERS == "ABCDEFGHIJ" and readers.LETTERS is extract.LETTERS


BOXED = "Make sure to put the answer (and only answer) inside \\boxed{}."
# Table 4 of the paper (Appendix D.2), transcribed by hand: the instruction of each benchmark.
PAPER_TABLE4 = {
    "gsm8k": f"Solve the following math problem. {BOXED}",
    "winogrande": "Given a sentence with a blank (...) and two possible options, choose the option "
    f"that correctly fills the blank so that the sentence makes the most logical sense. {BOXED}",
    "openbookqa": "Select the option that best completes the scenario based on everyday reasoning "
    f"about cause and effect. {BOXED}",
    "squad": "Read the passage and answer the question by selecting the text span from the passage "
    f"that best answers it. {BOXED}",
    "mmlu_misc": "Answer the following multiple-choice question by selecting the option that best "
    f"fits the correct knowledge. {BOXED}",
    "ifeval": "Answer the following instruction.",
}


@pytest.mark.parametrize(("key", "text"), sorted(PAPER_TABLE4.items()))
def test_table4_data_file_holds_the_papers_instructions(key, text):
    assert TABLE4["paper"][key] == text


def test_missing_data_names_the_download_command_and_the_release_file(tmp_path):
    with pytest.raises(PonderError) as e:
        load_benchmark("coqa", tmp_path)
    msg = str(e.value)
    assert "ponder data download coqa" in msg and "stanfordnlp/coqa" in msg
    assert "coqa/coqa-dev-v1.0.json" in msg and "\n" not in msg


def test_unknown_benchmark_is_a_one_line_error():
    with pytest.raises(PonderError, match="unknown benchmark 'gsm9k'"):
        load_benchmark("gsm9k", FIX / "data")


def test_fixture_gsm8k_items_prompts_and_golds():
    items = load_benchmark("gsm8k", FIX / "data").items()
    assert [it.id for it in items] == ["gsm8k-0", "gsm8k-1", "gsm8k-2"]
    assert [it.gold for it in items] == ["7", "2500", "6"]  # "#### 2,500" loses its separator
    assert items[0].prompt.startswith("Solve the following math problem. Make sure to put")
    assert items[0].prompt.endswith(items[0].question)


def test_mc_prompt_lists_options_and_fewshot_comes_from_dev():
    bench = load_benchmark("mmlu-misc", FIX / "data")
    it = bench.items()[1]
    assert it.question == "What is the capital of France, the country?"
    assert it.options == ("Paris", "Rome", "Berlin", "Madrid") and it.gold == "A"
    assert it.prompt.endswith("A. Paris\nB. Rome\nC. Berlin\nD. Madrid")
    [shot] = bench.fewshot(1)  # the fixture's dev file holds one question
    assert "red planet" in shot.prompt and shot.answer == "\\boxed{B}"
    with pytest.raises(PonderError, match="mmlu-misc: 1 few-shot examples available, 3 asked"):
        bench.fewshot(3)


def test_a_short_data_file_warns_with_the_expected_count():
    with pytest.warns(UserWarning, match="gsm8k: 3 items, the definition expects 1319"):
        load_benchmark("gsm8k", FIX / "data")


def test_limit_is_a_seeded_subsample_in_file_order():
    a = [it.id for it in load_benchmark("gsm8k", FIX / "data", limit=2, seed=1).items()]
    b = [it.id for it in load_benchmark("gsm8k", FIX / "data", limit=2, seed=1).items()]
    assert a == b and len(a) == 2 and a == sorted(a)


def test_tiny_families_are_benchmarks(monkeypatch):
    from ponder.tiny import world

    def fake_items(family, n, seed):
        mc = family.endswith("mc")
        return [
            {
                "id": f"{family}-{seed}-{i}",
                "question": f"What is {i}+1?",
                "prompt": f"Solve.\nWhat is {i}+1?",
                "gold": "B" if mc else str(i + 1),
                "options": [str(i), str(i + 1)] if mc else [],
            }
            for i in range(n)
        ]

    monkeypatch.setattr(world, "test_items", fake_items)
    oe = load_benchmark("tiny-math-oe", limit=5, seed=3)
    assert len(oe.items()) == 5 and oe.format == "OE" and oe.family == "math"
    assert oe.score(oe.items()[2], "so \\boxed{03}")["correct"] is True  # integers as integers
    mc = load_benchmark("tiny-general-mc", limit=4)
    item = mc.items()[0]
    assert isinstance(item, BenchItem) and item.options == ("0", "1")
    assert mc.score(item, "\\boxed{1}")["correct"] and not mc.score(item, "\\boxed{A}")["correct"]


EXPECTED = {
    "winogrande": 1267,
    "openbookqa": 500,
    "mmlu-misc": 783,
    "squad": 10570,
    "ifeval": 541,
    "aqua-rat": 254,
    "mmlu-math": 1064,
    "mmlu-pro-math": 1351,
    "gsm8k": 1319,
    "math-500": 500,
    "aime": 60,
    "mmlu-pro-law": 1101,
    "mmlu-pro-code": 410,
    "mmlu-pro-physics": 1299,
    "scibench": 580,
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_benchmark_loads_with_its_expected_count_and_unique_ids(name):
    items = load_benchmark(name, DATA).items()
    assert len(items) == EXPECTED[name]
    assert len({it.id for it in items}) == len(items)
    assert all(it.gold or name == "ifeval" for it in items)
    if items[0].options:
        assert all(it.gold in "ABCDEFGHIJ"[: len(it.options)] for it in items)
    if name == "squad":  # multi-gold answers stay lists
        assert all(isinstance(it.meta["answers"], list) for it in items if "answers" in it.meta)


# Few-shot from the release files users may hold (others come from `ponder data download`).
LOCAL_FEWSHOT = ["mmlu-misc", "mmlu-math", "scibench", "ifeval"]


@pytest.mark.realdata
@pytest.mark.parametrize("name", LOCAL_FEWSHOT)
def test_real_fewshot_examples_never_repeat_a_test_question(name):
    bench = load_benchmark(name, DATA)
    questions = {it.prompt for it in bench.items()}
    shots = bench.fewshot(3)
    assert len(shots) == 3 and not {s.prompt for s in shots} & questions
