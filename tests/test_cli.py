"""Every command of `ponder --help`, run for real through the console entry point (a subprocess,
no stage function replaced), on a study small enough to finish in seconds; and the stage commands,
run one after another on a fresh directory, end where `ponder run` ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from _paths import FIXTURES

MINI = str(FIXTURES / "studies" / "mini.yaml")
ENV = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
COMMANDS = [
    "run",
    "validate",
    "generate",
    "mix",
    "train",
    "eval",
    "judge",
    "report",
    "flops",
    "plan",
    "step",
    "estimate",
]


def ponder(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "ponder", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
    )
    if check:
        assert r.returncode == 0, f"ponder {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


def test_help_lists_every_command():
    out = ponder("--help").stdout
    for cmd in COMMANDS:
        assert f" {cmd} " in out, cmd


@pytest.fixture(scope="module")
def chained(tmp_path_factory, mini_run):
    """The stage commands one after another on a fresh directory (and `ponder run` of the same
    study: the session's mini run)."""
    root = tmp_path_factory.mktemp("cli")
    out = {}
    for stage in ("generate", "mix", "train", "eval", "judge", "report"):
        out[stage] = ponder(stage, MINI, "--out", str(root / "stages"))
    return root, out, mini_run[0]


def _tree(run: Path) -> set[str]:
    return {str(p.relative_to(run)) for p in run.rglob("*") if ".steps" not in p.parts}


@pytest.mark.slow
def test_stage_commands_chain_to_the_same_run_directory_as_run(chained):
    root, _, b = chained
    a = root / "stages"
    assert _tree(a) == _tree(b)
    cols = ["model", "benchmark", "accuracy", "n", "mean_tokens", "train_flops", "infer_flops"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / "results.parquet")[cols], pd.read_parquet(b / "results.parquet")[cols]
    )
    assert ponder("run", MINI, "--out", str(a)).stderr.count("▶") == 0  # all done already


@pytest.mark.slow
def test_each_stage_command_runs_its_steps_and_no_later_ones(chained):
    _, out, _ = chained
    started = {
        k: [ln.split("▶ ")[1].split(":")[0] for ln in r.stderr.splitlines() if "▶" in ln]
        for k, r in out.items()
    }
    assert set(started["generate"]) == {"generate"}
    assert set(started["mix"]) == {"mix"}
    assert set(started["train"]) == {"tokenizer", "student", "train"}
    assert set(started["eval"]) == {"eval", "results"}
    assert started["judge"] == []  # no judges in this study: nothing left to do
    assert set(started["report"]) == {"report"}


@pytest.mark.slow
def test_report_also_takes_a_run_directory(chained):
    root, _, _ = chained
    r = ponder("report", str(root / "stages"))
    assert "index.html" in r.stdout


def test_validate_prints_the_grid():
    r = ponder("validate", MINI)
    assert "mini-a_general-r1_sequential" in r.stdout and "train 2" in r.stdout


@pytest.mark.parametrize(
    "args, key",
    [
        (["flops", "forward", "--model", "qwen2.5-0.5b", "--seq-len", "128", "--json"], "flops"),
        (
            [
                "flops",
                "infer",
                "--model",
                "qwen2.5-0.5b",
                "--prompt-tokens",
                "10",
                "--gen-tokens",
                "5",
                "--json",
            ],
            "flops",
        ),
        (["estimate", "paper", "--json"], "gpu_hours"),
        (["plan", "paper", "--json"], "steps"),
    ],
)
def test_json_commands(args, key):
    assert json.loads(ponder(*args).stdout)[key]


def test_step_runs_one_planned_step(tmp_path):
    r = ponder("step", MINI, "generate:general", "--out", str(tmp_path))
    assert "generate:general: ran" in r.stdout
    assert (tmp_path / "pairs" / "general.parquet").is_file()
    assert (
        "generate:general: done"
        in ponder("step", MINI, "generate:general", "--out", str(tmp_path)).stdout
    )


def test_eval_scores_a_responses_file(tmp_path):
    path = tmp_path / "answers.jsonl"
    from ponder.evaluate.benchmarks import load_benchmark

    items = load_benchmark("tiny-math-oe", limit=4).items()
    path.write_text(
        "".join(
            json.dumps({"id": it.id, "response": f"\\boxed{{{it.gold}}}"}) + "\n" for it in items
        )
    )
    r = ponder("eval", "--benchmark", "tiny-math-oe", "--responses", str(path), "--json")
    assert json.loads(r.stdout)["accuracy"] == 100.0
