"""A cluster, simulated: every step `ponder plan` emits runs through `ponder step` in its own
process, or through the sbatch scripts `ponder plan --slurm` writes, and the study ends exactly
where `ponder run` of the same config ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from _paths import FIXTURES, TESTS
from ponder.config import builtin_studies, load_study
from ponder.pipeline.cluster import load_cluster
from ponder.pipeline.plan import plan
from ponder.pipeline.stages import STAGES

MINI = str(FIXTURES / "studies" / "mini.yaml")
ENV = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
ENV["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{ENV['PATH']}"  # `ponder` of this venv
# Columns that must match between a local run and the simulated cluster.
SAME = ["model", "benchmark", "accuracy", "n", "mean_tokens", "train_flops", "infer_flops"]
# The mini study with one benchmark, no teacher and no report: fewer processes to start. Its
# evaluations are the mini run's own (a benchmark list selects evaluations, it does not
# change them).
SLIM = [
    "--set",
    "eval.benchmarks=[tiny-math-oe]",
    "--set",
    "eval.include_teacher=false",
    "--set",
    "report=false",
]


def ponder(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "ponder", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=900,
    )
    assert r.returncode == 0, f"ponder {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


def cluster_file(tmp_path: Path) -> Path:
    """The default cluster profile, with 100-prompt generation steps and no site setup."""
    data = yaml.safe_load(
        (TESTS.parent / "src/ponder/resources/templates/slurm/cluster.yaml").read_text()
    )
    data |= {"setup": [], "generate_rows_per_step": 100, "steps_per_task": {"eval": 2}}
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def results(run: Path) -> pd.DataFrame:
    """The students' rows on tiny-math-oe (the rows a SLIM study has)."""
    df = pd.read_parquet(run / "results.parquet")
    df = df[(df["kind"] == "student") & (df["benchmark"] == "tiny-math-oe")][SAME]
    return df.sort_values(["model", "benchmark"]).reset_index(drop=True)


@pytest.mark.parametrize("study", builtin_studies())
def test_every_planned_step_kind_has_a_stage_that_runs_it(study):
    steps = plan(load_study(study), load_cluster())
    assert {s.step.kind for s in steps} <= set(STAGES)


@pytest.mark.slow
def test_every_step_in_its_own_process_ends_where_ponder_run_ends(tmp_path, mini_run):
    cluster = cluster_file(tmp_path)
    record = json.loads(ponder("plan", MINI, "--json", "--cluster", str(cluster), *SLIM).stdout)
    ids = [s["id"] for s in record["steps"]]
    assert sum(i.startswith("generate:general@") for i in ids) == 3  # 300 prompts / 100
    for sid in ids:  # plan order is a dependency order; one process per step, as an array task
        ponder(
            "step", MINI, sid, "--out", str(tmp_path / "cluster"), "--cluster", str(cluster), *SLIM
        )
    pd.testing.assert_frame_equal(results(tmp_path / "cluster"), results(mini_run[0]))
    again = ponder("step", MINI, ids[-1], "--out", str(tmp_path / "cluster"), *SLIM)
    assert ": done" in again.stdout  # idempotent


@pytest.mark.slow
def test_the_rendered_sbatch_scripts_run_the_planned_config(tmp_path, mini_copy):
    """`--set` overrides travel into the scripts (the plan freezes the resolved study)."""
    sets = [*SLIM, "--set", "eval.max_new_tokens=24"]
    cluster, plan_dir = cluster_file(tmp_path), tmp_path / "plan"
    ponder(
        "plan",
        MINI,
        "--slurm",
        str(plan_dir),
        "--out",
        str(tmp_path / "cluster"),
        "--cluster",
        str(cluster),
        *sets,
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{TESTS / "fakeslurm.py"}" "$@"\n')
    sbatch.chmod(0o755)
    env = {**ENV, "PATH": f"{bin_dir}{os.pathsep}{ENV['PATH']}"}
    r = subprocess.run(
        ["bash", str(plan_dir / "submit.sh")], capture_output=True, text=True, env=env, timeout=900
    )
    assert r.returncode == 0, r.stdout + r.stderr
    ponder("run", MINI, "--out", str(mini_copy), *sets)  # locally: only the evaluations change
    pd.testing.assert_frame_equal(results(tmp_path / "cluster"), results(mini_copy))
    frozen = yaml.safe_load((plan_dir / "study.yaml").read_text())
    assert frozen["eval"]["max_new_tokens"] == 24
