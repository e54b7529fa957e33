"""`ponder estimate`: Appendix C arithmetic per stage, pairs statistics when they exist, and the
--json contract."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from _cli import run_cli
from ponder.config import StudyConfig, load_study
from ponder.pipeline.estimate import (
    DEFAULT_LENGTHS,
    GENERAL_BYTES_PER_TOKEN,
    MATH_BYTES_PER_TOKEN,
    Assumptions,
    estimate,
)
from ponder.rundir import RunDir

# Qwen2.5-0.5B: V=151936, d=896, d_ff=4864, h=14, N_l=24. Qwen3-235B-A22B (active): V=151936,
# d=4096, d_ff=8x1536, h=64, N_l=94.
Q05 = (151936, 896, 4864, 14, 24)
Q235 = (151936, 4096, 12288, 64, 94)


def eq1(V, d, ff, h, n, ln):  # Appendix C, Eq. (1), typed out independently of ponder.flops
    attn = 6 * ln * d**2 + 2 * ln**2 * d + 3 * ln**2 * h + 2 * ln**2 * d + 2 * ln * d**2
    return 2 * ln * V * d + attn * n + 4 * ln * d * ff * n + 2 * ln * d * V


def eq6(V, d, ff, h, n, lp, lg):  # Eqs. (4) + sum of (5), as a literal loop
    prefill = eq1(V, d, ff, h, n, lp) - 2 * lp * d * V + 2 * d * V
    steps = sum(
        2 * d * V + (8 * d**2 + 4 * (lp + i) * d + 3 * (lp + i) * h) * n for i in range(1, lg + 1)
    )
    return prefill + steps


def small_study(**eval_kw) -> StudyConfig:
    return StudyConfig.model_validate(
        {
            "name": "est",
            "teacher": {"backend": "openai", "model": "Qwen/Qwen3-235B-A22B"},
            "domains": {"general": {"source": {"kind": "hub", "dataset": "x", "limit": 1000}}},
            "students": [{"name": "s", "init": "pretrained", "path": "Qwen/Qwen2.5-0.5B"}],
            "grid": [{"students": ["s"], "domains": ["general"], "ratios": [0.0, 1.0]}],
            "eval": {"benchmarks": ["gsm8k"], "include_teacher": False, **eval_kw},
        }
    )


# Lengths: prompt 100, IFT 400, reasoning 2000 tokens; no spread, no template overhead.
FLAT = Assumptions(
    lengths={"general": {"prompt": 100, "ift": 400, "reasoning": 2000}},
    length_cv=0.0,
    chat_overhead=0,
)
GSM8K_ITEMS = 1319  # math OE: assumed 400 (IFT) and 2,800 (reasoning) generated tokens


def _stage(result, name):
    return next(r for r in result["stages"] if r["stage"] == name)


HAND = [
    # (stage, FLOPs by hand from Appendix C)
    ("generate", 1000 * (eq6(*Q235, 100, 400) + eq6(*Q235, 100, 2000))),
    ("train", 3 * 1000 * (eq1(*Q05, 500) + eq1(*Q05, 2100))),  # the ρ=0 run + the ρ=1 run
    ("eval", GSM8K_ITEMS * (eq6(*Q05, 250, 400) + eq6(*Q05, 250, 2800))),
]


@pytest.mark.parametrize("stage,expected", HAND)
def test_stage_flops_match_hand_computed_appendix_c(stage, expected):
    row = _stage(estimate(small_study(), None, FLAT), stage)
    assert row["flops"] == pytest.approx(expected, rel=1e-9)
    # GPU-hours = FLOPs / (989 TFLOP/s H100 bf16 peak x MFU) / 3600
    assert row["gpu_hours"] == pytest.approx(expected / (989e12 * FLAT.mfu[stage]) / 3600)


def test_length_spread_adds_the_quadratic_attention_term():
    flat = _stage(estimate(small_study(), None, FLAT), "train")["flops"]
    spread = FLAT.model_copy(update={"length_cv": 1.0})
    wide = _stage(estimate(small_study(), None, spread), "train")["flops"]
    # E[l^2] doubles at cv=1: the l^2 terms of Eq. (1) are counted twice, the linear ones once.
    l2 = 2 * Q05[1] * 2 + 3 * Q05[3]  # per layer, per l^2: 2ld + 2ld (QK^T, AV) + 3h (softmax)
    extra = 3 * 1000 * l2 * Q05[4] * (500**2 + 2100**2)
    assert wide - flat == pytest.approx(extra, rel=1e-9)


def test_measured_pair_lengths_replace_assumptions(tmp_path):
    pairs = pd.DataFrame({"ift_tokens": [300, 500] * 500, "reasoning_tokens": [1000, 3000] * 500})
    (tmp_path / "pairs").mkdir()
    pairs.to_parquet(tmp_path / "pairs" / "general.parquet")
    result = estimate(small_study(), RunDir(tmp_path), FLAT)
    assert result["lengths"]["general"]["source"].endswith("general.parquet")
    assert result["lengths"]["general"]["reasoning"] == 2000
    by_hand = 3 * 500 * (eq1(*Q05, 400) + eq1(*Q05, 600) + eq1(*Q05, 1100) + eq1(*Q05, 3100))
    assert _stage(result, "train")["flops"] == pytest.approx(by_hand, rel=1e-9)


def test_default_lengths_follow_the_published_evidence():
    # Released general pairs, dataset card `dataset_info`: bytes per split over 990,098 examples.
    n = 990_098
    pairs, reasoning, ift = 12_536_466_590, 10_814_569_775, 2_274_571_843  # P+R+I, P+R, P+I
    per_example = {
        "prompt": (reasoning + ift - pairs) / n,
        "ift": (pairs - reasoning) / n,
        "reasoning": (pairs - ift) / n,
    }
    assert per_example == pytest.approx(
        {"prompt": 558.2, "ift": 1739.1, "reasoning": 10364.5}, abs=0.1
    )
    for part, nbytes in per_example.items():
        assert DEFAULT_LENGTHS["general"][part] == round(nbytes / GENERAL_BYTES_PER_TOKEN)
    # Math: the mean characters of Appendix D Table 3's two examples, per style's bytes/token.
    table3 = {"ift": (1417 + 2806) / 2, "reasoning": (11225 + 26747) / 2}
    for style, chars in table3.items():
        assert DEFAULT_LENGTHS["math"][style] == round(chars / MATH_BYTES_PER_TOKEN[style])
    assert Assumptions().lengths == DEFAULT_LENGTHS


def test_generation_mfu_follows_the_vllm_measurement():
    # ~830 output tok/s for Qwen3-235B-A22B (22B active) on 8 x A100 (312 TFLOP/s bf16 each).
    assert Assumptions().mfu["generate"] == pytest.approx(2 * 22e9 * 830 / (8 * 312e12), abs=1e-3)


def test_paper_study_prices_every_stage():
    result = estimate(load_study("paper"))
    rows = {r["stage"]: r for r in result["stages"]}
    assert (rows["train"]["steps"], rows["eval"]["steps"], rows["judge"]["steps"]) == (70, 912, 912)
    assert result["gpu_hours"] == pytest.approx(sum(r["gpu_hours"] for r in rows.values()))
    assert all(r["gpu_hours"] > 0 for r in rows.values())


def _cli(monkeypatch, capsys, *args):
    return run_cli(monkeypatch, capsys, "plan_cmd", *args)


def test_estimate_json_contract(monkeypatch, capsys):
    code, out, _ = _cli(
        monkeypatch, capsys, "estimate", "paper", "--json", "--assume", "mfu.train=0.6"
    )
    record = json.loads(out)
    assert code == 0 and record["assumptions"]["mfu"]["train"] == 0.6
    assert [r["stage"] for r in record["stages"]] == ["generate", "train", "eval", "judge"]
    assert record["gpu_hours"] == pytest.approx(sum(r["gpu_hours"] for r in record["stages"]))


@pytest.mark.parametrize(
    "args,words",
    [
        (["estimate", "paper", "--assume", "peak_flops=-1"], "--assume peak_flops"),
        (["estimate", "paper", "--method", "guess"], "method"),
    ],
)
def test_estimate_bad_input_exits_2(monkeypatch, capsys, args, words):
    code, _, err = _cli(monkeypatch, capsys, *args)
    assert code == 2 and err.startswith("error:") and words in err.replace("\n", "")


@pytest.mark.parametrize(
    "assume, words",
    [
        ("mfu.train=0", "--assume mfu.train: Input should be greater than 0"),  # was Infinity
        ("mfu.train=-1", "--assume mfu.train: Input should be greater than 0"),  # was negative
        ("mfu.train=2", "--assume mfu.train: Input should be less than or equal to 1"),
        (
            "mfu.trian=0.4",
            "--assume mfu.trian: Input should be 'generate', 'train', 'eval' or 'judge'",
        ),
        ("mfu={train: 0.4}", "--assume mfu: Value error, no MFU for stage 'generate'"),
        ("peak_flops=0", "--assume peak_flops: Input should be greater than 0"),
        ("peak_flops=.inf", "--assume peak_flops: Input should be a finite number"),
        ("lengths.general.ift=0", "--assume lengths.general.ift: Input should be greater than 0"),
        ("lengths.science.ift=100", "--assume lengths: science: no 'prompt' length"),
        ("length_cv=.nan", "--assume length_cv: Input should be a finite number"),
        ("eval_prompt_tokens=-5", "--assume eval_prompt_tokens: Input should be greater than 0"),
        ("mfu.train", "--assume 'mfu.train': expected key=value"),
    ],
)
def test_assumptions_out_of_range_name_the_key(monkeypatch, capsys, assume, words):
    code, out, err = _cli(monkeypatch, capsys, "estimate", "paper", "--json", "--assume", assume)
    assert code == 2 and out == "" and err.strip().splitlines() == [f"error: {err.strip()[7:]}"]
    assert words.replace("Value error, ", "") in err


def test_estimate_json_is_finite_for_an_empty_pairs_file(tmp_path):
    (tmp_path / "pairs").mkdir()
    pd.DataFrame({"ift_tokens": [], "reasoning_tokens": []}).to_parquet(
        tmp_path / "pairs" / "general.parquet"
    )
    result = estimate(small_study(), RunDir(tmp_path), FLAT)
    assert result["lengths"]["general"]["source"] == "assumed"
    json.dumps(result, allow_nan=False)
