"""The cluster planner: the paper grid's steps, their order and resources, sbatch scripts that
parse, idempotent steps, and locks that keep two workers off the same step."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import time
from collections import Counter

import pytest

from _cli import run_cli
from _paths import RESOURCES as RESOURCE_DIR
from ponder.config import load_study
from ponder.errors import PonderError
from ponder.pipeline.cluster import Resources, load_cluster
from ponder.pipeline.plan import PlannedStep, check_order, plan
from ponder.pipeline.slurm import render_slurm
from ponder.pipeline.steps import Step, StepKind
from ponder.pipeline.worker import StepLock, lock_path, run_step
from ponder.rundir import RunDir


@pytest.fixture(scope="module")
def paper_plan():
    return plan(load_study("paper"), load_cluster())


# 5 students x (8 general arms + 2 math + 4 bi-phasic math phases) = 70 trained models; 70 + 5
# base + the teacher = 76 evaluated models x 12 benchmarks; generation in 20,000-prompt shards.
PAPER_COUNTS = [
    ("generate", 65 + 15 + 2),  # 1.3M/20k + 300K/20k shards, and one merge per domain
    ("student", 5),
    ("mix", 10),  # general: ρ=0, ρ=1, 3 ratios x 2 schedules; math: ρ=0, ρ=1
    ("train", 70),
    ("eval", 76 * 12),
    ("judge", 76 * 12),
    ("results", 1),
    ("report", 1),
]


@pytest.mark.parametrize("kind,count", PAPER_COUNTS)
def test_paper_grid_step_counts(paper_plan, kind, count):
    assert Counter(s.kind for s in paper_plan)[kind] == count


def test_paper_plan_is_ordered_and_acyclic(paper_plan):
    position = {s.id: i for i, s in enumerate(paper_plan)}
    assert len(position) == len(paper_plan)  # unique ids
    for s in paper_plan:
        assert all(position[d] < position[s.id] for d in s.depends_on), s.id
    bi = next(s for s in paper_plan if s.id == "train:qwen2.5-7b_general-r1+math-r0_sequential")
    assert "train:qwen2.5-7b_general-r1_sequential" in bi.depends_on and bi.stage == "train2"
    merge = next(s for s in paper_plan if s.id == "generate:math")
    assert len(merge.depends_on) == 15 and merge.stage == "prepare"


def test_misordered_plan_is_rejected():
    a = PlannedStep(Step("a", StepKind.MIX, ["b"], "x", "h"), "prepare", Resources())
    b = PlannedStep(Step("b", StepKind.MIX, ["a"], "y", "h"), "prepare", Resources())
    with pytest.raises(PonderError, match="step a depends on b"):
        check_order([a, b])


RESOURCES = [
    # (step id, GPUs, nodes, server)
    ("generate:general@0/65", 8, 1, "Qwen/Qwen3-235B-A22B"),
    ("train:qwen2.5-14b_general-r0.5_mixed", 16, 2, None),  # Appendix B: 16 H100
    ("train:qwen2.5-0.5b_math-r1_sequential", 16, 2, None),
    ("eval:qwen2.5-14b_general-r1_sequential:aime", 1, 1, None),
    ("eval:teacher:gsm8k", 8, 1, "Qwen/Qwen3-235B-A22B"),
    ("mix:general:r0.25:mixed:s0", 0, 1, None),
]


@pytest.mark.parametrize("sid,gpus,nodes,server", RESOURCES)
def test_paper_step_resources(paper_plan, sid, gpus, nodes, server):
    r = next(s for s in paper_plan if s.id == sid).resources
    assert (r.gpus, r.nodes, r.server) == (gpus, nodes, server)
    assert r.gpu_mem_gb <= 80


def test_training_memory_and_launch_config_scale_with_student(paper_plan):
    small = next(s for s in paper_plan if s.id.startswith("train:qwen2.5-0.5b")).resources
    big = next(s for s in paper_plan if s.id.startswith("train:qwen2.5-14b")).resources
    assert small.accelerate_config == "ddp.yaml"
    assert big.accelerate_config == "fsdp.yaml"
    launch = RESOURCE_DIR / "launch"
    assert (launch / small.accelerate_config).is_file() and (
        launch / big.accelerate_config
    ).is_file()
    assert small.gpu_mem_gb < big.gpu_mem_gb


def _cli(monkeypatch, capsys, *args):
    return run_cli(monkeypatch, capsys, "plan_cmd", *args)


def test_plan_json_contract(monkeypatch, capsys):
    code, out, _ = _cli(monkeypatch, capsys, "plan", "paper", "--json")
    record = json.loads(out)
    assert code == 0 and len(record["steps"]) == sum(c for _, c in PAPER_COUNTS)
    for step in record["steps"][:3] + record["steps"][-3:]:
        assert {"id", "kind", "depends_on", "resources"} <= step.keys()
        assert {"gpus", "gpu_mem_gb"} <= step["resources"].keys()


@pytest.mark.parametrize(
    "args,words",
    [
        (["plan", "no-such-study"], "unknown built-in study"),
        (["plan", "paper", "--cluster", "/no/cluster.yaml"], "--cluster"),
        (["step", "tiny", "train:nope"], "no step 'train:nope'"),
    ],
)
def test_bad_input_exits_2(monkeypatch, capsys, args, words):
    code, _, err = _cli(monkeypatch, capsys, *args)
    assert code == 2 and err.startswith("error:") and words in err.replace("\n", "")


@pytest.mark.parametrize("study", ["paper", "paper-extended", "tiny"])
def test_sbatch_scripts_render_and_parse(tmp_path, study):
    cfg = load_study(study)
    cluster = load_cluster()
    steps = plan(cfg, cluster)
    files = render_slurm(cfg, steps, tmp_path, cluster, "{}", RunDir(tmp_path / "run"))
    scripts = [f for f in files if f.suffix in (".sbatch", ".sh")]
    for f in scripts:
        check = subprocess.run(["bash", "-n", str(f)], capture_output=True, text=True)
        assert check.returncode == 0, f"{f.name}: {check.stderr}"
    listed = [line for f in files if f.suffix == ".txt" for line in f.read_text().split()]
    assert sorted(listed) == sorted(s.id for s in steps)  # every step in exactly one array
    submit = (tmp_path / "submit.sh").read_text()
    if study == "paper":
        assert (
            "--dependency=afterok:${JOB[train1]}" in submit
            or "afterok:${JOB[prepare]}:${JOB[train1]}" in submit
        )
        assert (
            "vllm serve Qwen/Qwen3-235B-A22B --tensor-parallel-size 8"
            in (tmp_path / "generate.sbatch").read_text()
        )
        teacher_evals = next(
            f
            for f in tmp_path.glob("eval*.sbatch")
            if "eval:teacher:"
            in (tmp_path / "steps" / f.name.replace(".sbatch", ".txt")).read_text()
        )
        assert "vllm serve Qwen/Qwen3-235B-A22B" in teacher_evals.read_text()
        assert "teacher.base_urls=[http://127.0.0.1:${PORT}/v1]" in teacher_evals.read_text()
        assert "accelerate launch" in (tmp_path / "train1.sbatch").read_text()
        assert (tmp_path / "serve-gpt-oss-120b.sbatch").exists()


# Each array's script opens with what its own stage does (the stage prefix of the job name).
HEADER_WORDS = {
    "generate": "teacher generation",
    "prepare": "preparation",
    "train": "training, phase",
    "eval": "evaluation",
    "judge": "judging",
    "final": "results table and the report",
}


@pytest.mark.parametrize("study", ["paper", "tiny"])
def test_each_sbatch_header_describes_its_own_stage(tmp_path, study):
    cfg = load_study(study)
    cluster = load_cluster()
    files = render_slurm(cfg, plan(cfg, cluster), tmp_path, cluster, "{}", RunDir(tmp_path / "r"))
    seen = set()
    for f in (f for f in files if f.suffix == ".sbatch" and not f.name.startswith("serve-")):
        header = f.read_text().splitlines()[1]
        stage = next(s for s in HEADER_WORDS if f.stem.startswith(s))
        others = [w for s, w in HEADER_WORDS.items() if s != stage]
        assert HEADER_WORDS[stage] in header and not any(w in header for w in others), header
        seen.add(stage)
    assert {"prepare", "train", "eval", "final"} <= seen


# ---------------------------------------------------------------- running steps
def _fake_execute(ctx, step):
    """Stands in for a stage: takes a moment, counts its runs, writes the artifact."""
    time.sleep(float(os.environ.get("PONDER_TEST_STEP_S", "0")))
    root = ctx.rd.root
    with open(root / "calls.txt", "a") as f:
        f.write(f"{os.getpid()} {step.id}\n")
    (root / step.artifact).parent.mkdir(parents=True, exist_ok=True)
    (root / step.artifact).write_text("done")
    return {"rows": 1}


def test_running_a_step_twice_does_no_extra_work(tmp_path):
    cfg = load_study("tiny")
    assert run_step(cfg, tmp_path, "generate:general", execute=_fake_execute) == "ran"
    assert run_step(cfg, tmp_path, "generate:general", execute=_fake_execute) == "done"
    assert len((tmp_path / "calls.txt").read_text().splitlines()) == 1
    assert not list((tmp_path / ".locks").glob("*.lock"))  # released


def test_step_refuses_until_dependencies_are_done(tmp_path):
    with pytest.raises(PonderError, match="dependency generate:general is not done"):
        run_step(
            load_study("tiny"), tmp_path, "mix:general:r0:sequential:s0", execute=_fake_execute
        )


def _worker(run_dir, results):
    os.environ["PONDER_TEST_STEP_S"] = "1.5"
    results.put(run_step(load_study("tiny"), run_dir, "generate:general", execute=_fake_execute))


def test_two_worker_processes_never_run_the_same_step(tmp_path):
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(tmp_path, results)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert sorted(results.get(timeout=5) for _ in workers) == ["done", "ran"]
    assert len((tmp_path / "calls.txt").read_text().splitlines()) == 1


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


STALE = [
    # (holder written into the lock, its age in seconds, can we take it?)
    ({"host": socket.gethostname(), "pid": os.getpid()}, 0, False),  # alive here
    ({"host": socket.gethostname(), "pid": "DEAD"}, 0, True),  # its process died
    ({"host": "other-node", "pid": 1}, 5, False),  # another node, heartbeat fresh
    ({"host": "other-node", "pid": 1}, 3600, True),  # another node, silent for an hour
]


@pytest.mark.parametrize("holder,age,takes", STALE)
def test_stale_lock_recovery(tmp_path, holder, age, takes):
    path = lock_path(tmp_path, "train:x")
    path.parent.mkdir(parents=True)
    holder = dict(holder, token="old")
    if holder["pid"] == "DEAD":
        holder["pid"] = _dead_pid()
    path.write_text(json.dumps(holder))
    os.utime(path, (time.time() - age, time.time() - age))
    lock = StepLock(path, stale_after_s=600)
    assert lock.acquire(wait=False) is takes
    if takes:
        assert json.loads(path.read_text())["token"] == lock.token
        lock.release()
        assert not path.exists()
