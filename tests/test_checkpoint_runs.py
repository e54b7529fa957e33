"""Checkpoint arms end to end on the tiny world, through the real CLI: a study of another study's
trained models (the mini study of conftest.py, run once per session) evaluates and reports them as
that study did, trains nothing, and says which figure it cannot draw; a study mixing trained arms
with checkpoints runs through `ponder run` and sits beside its reference; one hybrid model asked
in two modes is an IFT/reasoning pair; a hub checkpoint is read from the local cache offline; a
mislabelled checkpoint is refused with one line before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import MINI, ponder_cli

OFFLINE = {"HF_HUB_OFFLINE": "1"}  # no test asks the hub
MINI_CFG = yaml.safe_load(Path(MINI).read_text())
MODELS = {0: "mini-a_general-r0_sequential", 1: "mini-a_general-r1_sequential"}
# Columns that depend on where a model was trained, not on how it answers.
ORIGIN = ["train_flops", "checkpoint"]


def arm(name: str, path: Path | str, ratio: float, **labels) -> dict:
    where = {"name": name, "path": str(path)}
    return {**where, "student": "mini-a", "domain": "general", "ratio": ratio, **labels}


def write_study(tmp_path: Path, name: str, arms: list[dict], **sections) -> Path:
    """The mini study's world, teacher and evaluation with `arms` as checkpoints (no grid unless
    `sections` gives one)."""
    data = {k: MINI_CFG[k] for k in ("seed", "world", "teacher", "eval")}
    data |= {"name": name, "checkpoints": arms, **sections}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def results(run: Path) -> pd.DataFrame:
    df = pd.read_parquet(run / "results.parquet")
    return df.sort_values(["model", "benchmark"]).reset_index(drop=True)


def report(run: Path) -> dict:
    numbers = json.loads((run / "report" / "numbers.json").read_text())
    return {k: v for k, v in numbers.items() if not k.startswith("_")}


@pytest.mark.slow
def test_the_trained_models_as_checkpoints_are_evaluated_and_reported_as_trained(
    mini_run, tmp_path
):
    a = mini_run[0]
    arms = [arm(MODELS[r], a / "models" / MODELS[r], r) for r in (0, 1)]
    b = tmp_path / "run"
    ponder_cli("run", str(write_study(tmp_path, "mini-arms", arms)), "--out", str(b), env=OFFLINE)
    made = sorted(p.name for p in b.iterdir())  # nothing trained, generated or mixed
    assert made == [".steps", "evals", "manifest.json", "report", "results.parquet", "study.yaml"]
    got, want = results(b), results(a)
    pd.testing.assert_frame_equal(got.drop(columns=ORIGIN), want.drop(columns=ORIGIN))
    ckpt = got[got["kind"] == "student"]
    assert ckpt["train_flops"].isna().all() and set(ckpt["checkpoint"]) == {
        str(a / "models" / m) for m in MODELS.values()
    }
    drawn_a, drawn_b = report(a), report(b)
    # B also has no teacher pairs of its own to state (the mode check's section)
    assert {k for k, v in drawn_b.items() if v["skipped"]} == {
        k for k, v in drawn_a.items() if v["skipped"]
    } | {"fig6", "pairs"}
    assert drawn_b["pairs"]["skipped"] == "no teacher pairs in this run directory"
    assert drawn_b["fig6"]["skipped"] == (
        "needs training FLOPs of every student: checkpoint arm(s) mini-a_general-r0_sequential "
        "and mini-a_general-r1_sequential give no `trained_tokens` and `trained_sequences`"
    )
    pngs = {p.name for p in (a / "report").glob("*.png")} - {"fig6_training_pareto.png"}
    assert {p.name for p in (b / "report").glob("*.png")} == pngs


@pytest.mark.slow
def test_a_mixed_study_trains_its_own_arm_beside_checkpoints_and_its_reference(mini_run, tmp_path):
    a = mini_run[0]
    summary = json.loads((a / "models" / MODELS[0] / "train_summary.json").read_text())
    tokens = {"trained_tokens": summary["tokens"], "trained_sequences": summary["examples"]}
    arms = [arm("released-r0", a / "models" / MODELS[0], 0, **tokens)]
    arms.append(arm("released-r1", a / "models" / MODELS[1], 1))
    grid = [{"students": ["mini-a"], "domains": ["general"], "ratios": [0.5]}]
    sections = {k: MINI_CFG[k] for k in ("domains", "students", "train")}
    sections["eval"] = {**MINI_CFG["eval"], "benchmarks": ["tiny-general-oe", "tiny-math-oe"]}
    study = write_study(
        tmp_path, "mixed", arms, grid=grid, report={"compare_to": str(a)}, **sections
    )
    run = tmp_path / "run"
    r = ponder_cli("run", str(study), "--out", str(run), env=OFFLINE)
    assert "▶ train:mini-a_general-r0.5_sequential" in r.stderr
    assert "train:released" not in r.stderr  # the checkpoints are evaluated only
    res = results(run).drop_duplicates("model").set_index("model")
    assert list(res["kind"]) == ["student"] * 3 + ["teacher"] and list(res.index[:3]) == [
        "mini-a_general-r0.5_sequential",
        "released-r0",
        "released-r1",
    ]
    assert list(res["ratio"][:3]) == [0.5, 0.0, 1.0]
    # Appendix C from the token counts: sum l^2 at the mean length is a lower bound of the real one
    assert 0.9 * summary["train_flops"] <= res.loc["released-r0", "train_flops"]
    assert res.loc["released-r0", "train_flops"] <= summary["train_flops"]
    assert pd.isna(res.loc["released-r1", "train_flops"])
    numbers = report(run)
    no_tokens = "checkpoint arm(s) released-r1 give no `trained_tokens` and `trained_sequences`"
    assert numbers["fig6"]["skipped"].endswith(no_tokens)
    assert numbers["fig4"]["skipped"] is None  # the gap to IFT across ρ 0, .5, 1
    beside = pd.DataFrame(numbers["compare"]["table"])  # the same weights: no difference
    assert set(beside["arm"]) == {"mini-a general ρ=0", "mini-a general ρ=1"}
    assert (beside["diff"] == 0).all() and beside["paired"].all()
    assert (run / "report" / "compare_reference.png").exists()


# Qwen3's switch (§2.2): with thinking off, the answer starts after an empty think block.
THINKING_OFF = (
    "{%- if enable_thinking is defined and not enable_thinking -%}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif -%}"
)


@pytest.mark.slow
def test_one_hybrid_model_in_two_modes_is_an_ift_reasoning_pair(mini_run, tmp_path):
    hybrid = tmp_path / "hybrid"
    shutil.copytree(mini_run[0] / "models" / MODELS[1], hybrid)
    prompt = "{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
    template = (hybrid / "chat_template.jinja").read_text()
    assert template.endswith(prompt)
    template = template.removesuffix("{%- endif -%}") + THINKING_OFF + "{%- endif -%}"
    (hybrid / "chat_template.jinja").write_text(template)
    modes = [
        arm("hybrid-ift", hybrid, 0, eval={"chat_template_kwargs": {"enable_thinking": False}}),
        arm("hybrid-rea", hybrid, 1, eval={"chat_template_kwargs": {"enable_thinking": True}}),
    ]
    ev = {"eval": {**MINI_CFG["eval"], "benchmarks": ["tiny-math-oe"], "include_teacher": False}}
    run = tmp_path / "run"
    study = write_study(tmp_path, "hybrid", modes, **ev)
    ponder_cli("run", str(study), "--out", str(run), env=OFFLINE)
    ift, rea = (
        pd.read_parquet(run / "evals" / m / "tiny-math-oe.parquet")
        for m in ("hybrid-ift", "hybrid-rea")
    )
    assert (ift["prompt_tokens"] > rea["prompt_tokens"]).all()  # the empty think block
    res = results(run).set_index("model")
    assert res.loc["hybrid-ift", "ratio"] == 0 and res.loc["hybrid-rea", "ratio"] == 1
    assert report(run)["fig2"]["skipped"] is None


@pytest.mark.slow
def test_a_hub_checkpoint_is_evaluated_from_the_local_cache_offline(mini_run, tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "models--ponder-test--mini-r1"
    shutil.copytree(mini_run[0] / "models" / MODELS[1], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = {**OFFLINE, "HF_HUB_CACHE": str(tmp_path / "hf")}
    ev = {"eval": {**MINI_CFG["eval"], "benchmarks": ["tiny-math-oe"], "include_teacher": False}}
    study = write_study(tmp_path, "hub", [arm(MODELS[1], "ponder-test/mini-r1", 1)], **ev)
    run = tmp_path / "run"
    assert "note:" not in ponder_cli("run", str(study), "--out", str(run), env=env).stderr
    got = results(run).iloc[0]
    want = results(mini_run[0]).set_index(["model", "benchmark"]).loc[(MODELS[1], "tiny-math-oe")]
    for col in ("accuracy", "mean_tokens", "infer_flops", "params", "n"):
        assert got[col] == want[col], col
    assert got["checkpoint"] == "ponder-test/mini-r1"


@pytest.mark.slow
def test_a_mislabelled_checkpoint_is_refused_with_one_line(mini_run, tmp_path):
    # labelled as Qwen2.5-1.5B: the same label the paper-students study gives a released student
    arms = [arm(MODELS[r], mini_run[0] / "models" / MODELS[r], r) for r in (0, 1)]
    out = tmp_path / "run"
    study = str(write_study(tmp_path, "bad", arms))
    label = "checkpoints.1.student=qwen2.5-1.5b"
    r = ponder_cli("run", study, "--out", str(out), "--set", label, check=False, env=OFFLINE)
    words = "checkpoints.1.student: qwen2.5-1.5b says 1,543,656,960 parameters, its config.json"
    assert r.returncode == 2 and r.stderr.startswith(f"error: {words}")
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()
