"""Rule scorers against the reference behaviour: math-verify, MC letters, SQuAD/CoQA EM and F1."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml

from ponder.evaluate import scorers as scoring
from ponder.evaluate.benchmarks import load_benchmark

FIX = Path(__file__).parent / "fixtures" / "eval"
CASES = yaml.safe_load((FIX / "scorer_cases.yaml").read_text())
from _paths import DATA  # noqa: E402

MC_OPTIONS = ["one", "two", "four", "eight"]


@pytest.mark.parametrize(("gold", "pred", "ok"), CASES["math"])
def test_math_equal(gold, pred, ok):
    assert scoring.math_equal(gold, pred) is ok


@pytest.mark.parametrize(("gold", "pred", "ok"), CASES["mc"])
def test_mc_equal(gold, pred, ok):
    assert scoring.mc_equal(gold, pred, MC_OPTIONS)[0] is ok


@pytest.mark.parametrize(("golds", "pred", "expected"), CASES["squad"])
def test_squad_scores(golds, pred, expected):
    assert scoring.squad_scores(golds.split(" | "), pred) == pytest.approx(tuple(expected))


@pytest.mark.parametrize(("golds", "pred", "expected"), CASES["coqa"])
def test_coqa_scores(golds, pred, expected):
    assert scoring.coqa_scores(golds.split(" | "), pred) == pytest.approx(tuple(expected))


@pytest.mark.parametrize(("gold", "pred", "ok"), CASES["exact"])
def test_exact_equal(gold, pred, ok):
    assert scoring.exact_equal(gold, pred) is ok


@pytest.mark.parametrize(("gold", "pred", "ok"), CASES["scibench"])
def test_scibench_equal(gold, pred, ok):
    assert scoring.scibench_equal(gold, pred) is ok


def test_math_equal_works_outside_the_main_thread():
    """math-verify's SIGALRM timeout cannot be armed in a worker thread: it must still score."""
    out: dict[str, bool] = {}

    def work():
        out["right"] = scoring.math_equal("\\frac{1}{2}", "0.5")
        out["wrong"] = scoring.math_equal("\\frac{1}{2}", "0.6")

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=120)
    assert out == {"right": True, "wrong": False}


@pytest.mark.realdata
def test_math500_reference_solutions_score_correct():
    bench = load_benchmark("math-500", DATA)
    rows = {
        json.loads(ln)["unique_id"]: json.loads(ln)["solution"]
        for ln in (DATA / "math500" / "test.jsonl").open()
    }
    verdicts = [bench.score(it, rows[it.id])["correct"] for it in bench.items()]
    assert len(verdicts) == 500
    assert sum(verdicts) / len(verdicts) >= 0.99


GSM8K_FORMS = [
    "\\boxed{{{g}}}",
    "The answer is \\boxed{{{g:,}}}.",
    "\\boxed{{{g}.00}}",
    "\\boxed{{\\${g}}}",
    "\\boxed{{{g} dollars}}",
    "$\\boxed{{{g:,}.00}}$",
    "\\boxed{{{g}\\text{{ apples}}}}",
    "<think>first try \\boxed{{{wrong}}}</think>So: \\boxed{{{g}}}",
]


@pytest.mark.realdata
def test_gsm8k_golds_in_varied_forms_right_and_off_by_one_wrong():
    bench = load_benchmark("gsm8k", DATA)
    items = bench.items()
    assert len(items) == 1319
    for i, it in enumerate(items):
        g = int(it.gold)
        form = GSM8K_FORMS[i % len(GSM8K_FORMS)]
        assert bench.score(it, form.format(g=g, wrong=g + 1))["correct"], (it.id, form)
        off = GSM8K_FORMS[(i + 3) % 7].format(g=g + 1, wrong=g)
        assert not bench.score(it, off)["correct"], (it.id, off)
