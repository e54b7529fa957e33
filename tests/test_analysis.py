"""Specification of the analysis maths: Pareto frontiers, Appendix E's saturating fit, Fig. 17's
log-linear fit, Appendix F.3's early-stopping arithmetic, and how results.parquet is read."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ponder.errors import PonderError
from ponder.report import analyses as A
from ponder.report import efficiency as E
from ponder.report.fits import (
    SaturatingFit,
    fit_decode_cost,
    fit_loglinear,
    fit_saturating,
    frontier_steps,
    pareto_mask,
)
from ponder.rundir import RunDir

FIXTURE = Path(__file__).parent / "fixtures" / "report" / "run"


@pytest.mark.parametrize(
    "cost, acc, optimal",
    [
        ([5.0], [0.3], [True]),  # a single point is its own frontier
        ([1, 2, 3], [0.1, 0.2, 0.3], [True, True, True]),  # each step buys accuracy
        ([1, 2, 3], [0.3, 0.2, 0.1], [True, False, False]),  # dearer and worse: dominated
        ([1, 1, 2], [0.2, 0.2, 0.3], [True, True, True]),  # exact duplicates both stay
        ([1, 1], [0.2, 0.3], [False, True]),  # same cost, lower accuracy: dominated
        ([1, 2], [0.3, 0.3], [True, False]),  # same accuracy, higher cost: dominated
        ([1, 2, 3, 3, 4], [0.1, 0.3, 0.2, 0.3, 0.5], [True, True, False, False, True]),
    ],
)
def test_pareto_mask(cost, acc, optimal):
    assert pareto_mask(np.array(cost, float), np.array(acc, float)).tolist() == optimal


def test_frontier_staircase_holds_best_accuracy_until_next_optimal_cost():
    xs, ys = frontier_steps(np.array([1.0, 2.0, 4.0, 3.0]), np.array([0.1, 0.3, 0.5, 0.2]))
    assert xs.tolist() == [1, 2, 2, 4, 4]
    assert ys.tolist() == [0.1, 0.1, 0.3, 0.3, 0.5]


@pytest.mark.parametrize(
    "alpha, beta, gamma, delta",
    [(0.10, 0.60, 1e-4, 0.3), (0.25, 0.50, 1e-9, 0.7), (0.05, 0.30, 3e-3, 0.2)],
)
def test_saturating_fit_recovers_noiseless_parameters(alpha, beta, gamma, delta):
    x = np.logspace(11, 18, 10)  # FLOPs of 0.5B–14B students on a benchmark
    y = SaturatingFit(alpha, beta, gamma, delta, 0.0, 1.0, 0)(x)
    f = fit_saturating(x, y, cap=0.9)
    assert f.mae < 1e-8
    np.testing.assert_allclose([f.alpha, f.beta, f.delta], [alpha, beta, delta], rtol=1e-4)
    np.testing.assert_allclose(np.log(f.gamma), np.log(gamma), rtol=1e-4)


@pytest.mark.parametrize("seed, cap", [(0, 1.0), (1, 0.55), (2, 0.4)])
def test_saturating_fit_respects_appendix_e_constraints_on_noisy_data(seed, cap):
    rng = np.random.default_rng(seed)
    x = np.logspace(9, 17, 8)
    y = np.clip(SaturatingFit(0.1, 0.5, 1e-5, 0.4, 0, 1, 0)(x) + rng.normal(0, 0.06, 8), 0, 1)
    f = fit_saturating(x, y, cap=cap)
    assert f.alpha > 0 and f.beta > 0 and f.gamma > 0 and 0 < f.delta <= 1
    assert f.alpha + f.beta <= cap + 1e-12  # teacher accuracy bounds the ceiling
    assert f.mae == pytest.approx(np.mean(np.abs(f(x) - y)), abs=1e-9)
    assert f.mae < np.mean(np.abs(y - np.median(y)))  # beats the best constant under MAE


def test_saturating_fit_rejects_too_few_points():
    with pytest.raises(ValueError, match="at least 2 points"):
        fit_saturating(np.array([1e12]), np.array([0.4]))


@pytest.mark.parametrize("alpha, beta", [(3.0, 1.0), (2.5e3, 1.3), (40.0, 0.5)])
def test_loglinear_fit_recovers_power_law(alpha, beta):
    x = np.array([0.5e9, 1.5e9, 3e9, 7e9, 14e9])  # the paper's Qwen2.5 student sizes
    f = fit_loglinear(x, alpha * x**beta)
    assert f.beta == pytest.approx(beta, rel=1e-9)
    assert f.alpha == pytest.approx(alpha, rel=1e-6)
    assert f.r2 == pytest.approx(1.0)


def test_loglinear_fit_needs_two_sizes():
    with pytest.raises(ValueError, match="2 distinct"):
        fit_loglinear(np.array([1e9, 1e9]), np.array([5.0, 6.0]))


def _fixture_flops():
    path = FIXTURE.parent / "make_fixture.py"
    spec = importlib.util.spec_from_file_location("make_fixture", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_decode_cost_recovers_eq6_cost_at_a_shorter_length():
    mk = _fixture_flops()  # Appendix C Eq. (4)-(6) written out term by term
    size = mk.SIZES[1]
    rng = np.random.default_rng(0)
    p, g = rng.integers(20, 60, 30), rng.integers(5, 90, 30)
    f = np.array([mk.infer_flops(int(a), int(b), size) for a, b in zip(p, g, strict=True)])
    cost = fit_decode_cost(p, g, f)
    cut = np.full(30, 17.0)
    want = np.array([mk.infer_flops(int(a), 17, size) for a in p])
    np.testing.assert_allclose(cost(p, cut), want, rtol=1e-9)


def test_early_stopping_arithmetic():
    # Cost 100 + 10 per generated token; four answers of 10..40 tokens, the second one wrong.
    ev = pd.DataFrame(dict(tokens=[10, 20, 30, 40], prompt_tokens=[5] * 4,
                           correct=[True, False, True, True],
                           infer_flops=[200.0, 300.0, 400.0, 500.0]))  # fmt: skip
    got = E.cut_scores(ev)
    want = pd.DataFrame(
        dict(
            pct=[0, 25, 50, 75, 100],
            cut=[10.0, 10.0, 20.0, 30.0, 40.0],
            # cut 10: only the first answer survives; the others count as wrong, cost 200 each
            accuracy=[0.25, 0.25, 0.25, 0.5, 0.75],
            infer_flops=[800.0, 800.0, 1100.0, 1300.0, 1400.0],
        )  # fmt: skip
    )
    pd.testing.assert_frame_equal(got, want, check_dtype=False, atol=1e-6)


def _write(tmp_path: Path, df: pd.DataFrame) -> Path:
    df.to_parquet(tmp_path / "results.parquet", index=False)
    return tmp_path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.drop(columns=["infer_flops"]), "missing column(s) infer_flops"),
        (lambda d: d.assign(family=["general"] * (len(d) - 1) + ["code"]), "family='code'"),
        (lambda d: d.assign(format="mc"), "row 0: format='mc'"),
        (lambda d: d.assign(accuracy=d["accuracy"] * 100), "accuracy="),
    ],
)
def test_bad_results_name_file_row_and_field(tmp_path, mutate, message):
    df = mutate(pd.read_parquet(FIXTURE / "results.parquet"))
    with pytest.raises(PonderError, match="results.parquet") as e:
        A.load_results(_write(tmp_path, df))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_missing_results_is_one_line_error(tmp_path):
    with pytest.raises(PonderError, match="results.parquet: not found"):
        A.load_results(tmp_path)


def test_seeds_are_averaged_and_endpoint_schedules_merged():
    df = A.load_results(FIXTURE)
    raw = pd.read_parquet(FIXTURE / "results.parquet")
    row = df[(df["student"] == "tiny-2m") & (df["ratio"] == 1.0) & (df["domain"] == "general")
             & (df["benchmark"] == "arith-oe")]  # fmt: skip
    assert len(row) == 1 and row["seeds"].item() == 2
    seeds = raw[
        raw["model"].str.startswith("tiny-2m-general-r1.00") & (raw["benchmark"] == "arith-oe")
    ]
    assert row["accuracy"].item() == pytest.approx(seeds["accuracy"].mean())


def test_optional_columns_default_and_unsupported_analyses_say_why(tmp_path):
    raw = pd.read_parquet(FIXTURE / "results.parquet")
    # An IFT-only study of one size, without the optional columns.
    ift = raw[(raw["ratio"] == 0) & (raw["domain"] == "general") & (raw["student"] == "tiny-2m")]
    ift = ift.drop(columns=list(A.OPTIONAL))
    df = A.load_results(_write(tmp_path, ift))
    reasons = {
        "fig1": A.task_sensitivity(df).skipped, "fig3": A.seq_vs_mixed(df).skipped,
        "fig4": A.ratio_gap(df).skipped, "fig5": A.domain_adaptation(df).skipped,
        "fig8": A.length_by_correctness(df).skipped, "fig6": E.train_pareto(df).skipped,
        "fig15": E.early_stopping(df, RunDir(tmp_path)).skipped, "fig17": E.infer_scaling(df).skipped,
        "headline": E.headline(df).skipped,
    }  # fmt: skip
    assert reasons == {
        "fig1": "no general student size has both ρ=0 and ρ=1 runs",
        "fig3": "needs intermediate ratios under both schedules",
        "fig4": "needs ρ=0 and at least one other sequential ratio per size",
        "fig5": "needs bi-phasic arms and mono-phasic general IFT students",
        "fig8": "needs ρ=1 students with mean_tokens_correct/incorrect",
        "fig6": "needs training FLOPs for at least two sequential ratios",
        "fig15": "no per-item evals with columns ['correct', 'infer_flops', 'prompt_tokens', "
        "'tokens'] for ρ=0/ρ=1 students",
        "fig17": "needs ρ=0/ρ=1 students of at least two sizes",
        "headline": "needs both ρ=0 and ρ=1 mono-phasic students",
    }
    assert A.mono_phasic(df).skipped is None  # IFT alone still draws Fig. 2


HEADLINE = [  # category, largest IFT acc, matching reasoning student, its acc (fixture values)
    ("general-MC", 0.525, "tiny-2m", 0.56),
    ("general-OE", 0.375, "tiny-0.5m", 0.375),  # a tie counts as matching
    ("math-MC", 0.425, "tiny-0.5m", 0.45),
    ("math-OE", 0.2, "tiny-0.5m", 0.2875),
]


def test_headline_smallest_reasoning_student_matching_largest_ift(tmp_path):
    shutil.copy(FIXTURE / "results.parquet", tmp_path / "results.parquet")
    h = E.headline(A.load_results(tmp_path)).table.set_index("category")
    for cat, ift_acc, student, rea_acc in HEADLINE:
        assert h.loc[cat, "largest_ift"] == "tiny-2m"
        assert h.loc[cat, "ift_accuracy"] == pytest.approx(ift_acc)
        assert h.loc[cat, "reasoning_student"] == student
        assert h.loc[cat, "reasoning_accuracy"] == pytest.approx(rea_acc)
