"""End to end: the mini study through every stage (the session's `ponder run`, conftest.py), its
run directory, a re-run that does nothing, a killed run that resumes, and bad input."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import MINI, ponder_cli

PONDER = [sys.executable, "-m", "ponder"]
# A longer training than the mini study's, so that a kill lands between two checkpoints.
LONG = [
    MINI,
    "--set",
    "domains.general.source.n=600",
    "--set",
    "train.global_batch_tokens=512",
    "--set",
    "train.save_every=2",
    "--set",
    "eval.benchmarks=[tiny-math-oe]",
    "--set",
    "report=false",
]


@pytest.mark.slow
def test_run_directory_contract(mini_run):
    out, first = mini_run
    pairs = pd.read_parquet(out / "pairs" / "general.parquet")
    assert len(pairs) == 300 and pairs["id"].is_unique
    for col in (
        "id",
        "prompt",
        "ift",
        "reasoning",
        "ift_tokens",
        "reasoning_tokens",
        "ift_finish",
        "reasoning_finish",
    ):
        assert col in pairs.columns
    assert pairs["reasoning"].str.startswith("<think>").all()
    assert pairs["ift"].str.contains(r"\\boxed\{", regex=True).all()
    res = pd.read_parquet(out / "results.parquet")
    for col in (
        "model",
        "student",
        "params",
        "domain",
        "ratio",
        "schedule",
        "benchmark",
        "family",
        "format",
        "accuracy",
        "n",
        "mean_tokens",
        "train_flops",
        "infer_flops",
        "seed",
    ):
        assert col in res.columns
    students = res[res["kind"] == "student"]
    assert len(students) == 2 * 3 and (students["n"] == 16).all()
    assert (students["train_flops"] > 0).all() and (students["infer_flops"] > 0).all()
    assert set(students["ratio"]) == {0.0, 1.0}
    teacher = res[res["kind"] == "teacher"]
    assert (teacher["accuracy"] == 1.0).all()  # the scripted teacher is always right
    ev = pd.read_parquet(out / "evals" / "mini-a_general-r1_sequential" / "tiny-math-oe.parquet")
    for col in ("id", "response", "tokens", "extracted", "correct", "infer_flops"):
        assert col in ev.columns
    assert (out / "report" / "index.html").exists()
    assert list((out / "report").glob("*.png"))
    assert (out / "models" / "mini-a_general-r1_sequential" / "config.json").exists()
    assert "run directory:" in first.stdout and "math-oe" in first.stdout


@pytest.mark.slow
def test_rerun_of_a_finished_study_does_no_work(mini_run, mini_copy):
    _, first = mini_run
    again = ponder_cli("run", MINI, "--out", str(mini_copy))
    assert "▶" not in again.stderr  # no step started
    table = lambda s: s[s.index("accuracy %") : s.index("wall time")]  # noqa: E731
    assert table(again.stdout) == table(first.stdout)


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_finished_steps(tmp_path):
    out = tmp_path / "killed"
    log = open(tmp_path / "log.txt", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [*PONDER, "run", "--out", str(out), *LONG], stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.time() + 300
    while not list(out.glob("models/*.partial/checkpoints/step-*")):  # mid-training
        assert proc.poll() is None and time.time() < deadline, "no checkpoint seen"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    log.close()
    assert not (out / "results.parquet").exists()
    resumed = ponder_cli("run", "--out", str(out), *LONG)
    assert "▶ generate:general" not in resumed.stderr  # finished before the kill: not redone
    assert "▶ train:" in resumed.stderr
    summaries = [json.loads(p.read_text()) for p in out.glob("models/*/train_summary.json")]
    assert any(s["resumed_from_step"] > 0 for s in summaries)  # picked up its checkpoint
    assert pd.read_parquet(out / "results.parquet")["n"].min() == 16


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "grid.0.ratios=[0, 2]"], "grid.0.ratios: ratio 2.0 is outside [0, 1]"),
        (["--set", "train.nope=1"], "train.nope: unknown key"),
        (["no-such-study"], "unknown built-in study 'no-such-study'"),
        (["missing.yaml"], "study file not found: missing.yaml"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "never"
    r = ponder_cli("run", *args, "--out", str(out), check=False)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {message}" or message in r.stderr.strip().splitlines()[0]
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not Path(out).exists()
