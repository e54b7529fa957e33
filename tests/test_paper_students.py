"""The `paper-students` preset: the paper's 20 released students as checkpoint arms, labelled as the
`paper` study labels the students it trains, evaluated on the `paper` suite with no teacher and
no training; planned, priced and validated offline (no hub here)."""

from __future__ import annotations

import json
import re

import pytest

from _paths import REAL_DATA
from conftest import ponder_cli
from ponder.config import load_study
from ponder.records import checkpoint_run, model_runs

OFFLINE = {"HF_HUB_OFFLINE": "1"}
SIZES = ["0.5B", "1.5B", "3B", "7B", "14B"]


@pytest.fixture(scope="module")
def students():
    return load_study("paper-students")


def test_twenty_released_students_labelled_by_their_repository_names(students):
    assert len(students.checkpoints) == 20 and not students.grid and not students.students
    for c in students.checkpoints:
        org, repo = c.path.split("/")
        m = re.fullmatch(r"Qwen2\.5-([\d.]+B)-(math-)?(ift|reasoning)", repo)
        assert org == "When-Does-Reasoning-Matter" and m, c.path
        size, math, fmt = m.groups()
        assert c.student == f"qwen2.5-{size.lower()}"
        assert (c.domain, c.ratio) == ("math" if math else "general", float(fmt == "reasoning"))
        assert c.name == f"{c.student}_{c.domain}-r{int(c.ratio)}"
        assert c.trained_tokens is None  # neither the paper nor the dataset cards state them
    got = {(c.student, c.domain, c.ratio) for c in students.checkpoints}
    assert len(got) == 20 and {s for s, _, _ in got} == {f"qwen2.5-{s.lower()}" for s in SIZES}


def test_the_paper_suite_zero_shot_at_the_papers_sampling(students):
    paper = load_study("paper")
    assert students.eval.benchmarks == paper.eval.benchmarks and len(paper.eval.benchmarks) == 12
    e = students.eval
    assert (e.temperature, e.top_p, e.include_teacher, e.include_base) == (1.0, 1.0, False, False)
    assert students.judge == paper.judge


def test_every_released_student_is_an_arm_a_replication_of_the_paper_matches(students):
    trained = {
        (r.student, r.domains, r.ratio, r.schedule, r.arm) for r in model_runs(load_study("paper"))
    }
    for c in students.checkpoints:
        r = checkpoint_run(c)
        assert (r.student, r.domains, r.ratio, r.schedule, r.arm) in trained, c.name


def test_plan_holds_evaluation_judging_results_and_report_only():
    plan = json.loads(ponder_cli("plan", "paper-students", "--json", env=OFFLINE).stdout)
    kinds: dict[str, int] = {}
    for s in plan["steps"]:
        kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
    assert kinds == {"eval": 240, "judge": 240, "results": 1, "report": 1}  # 20 x 12, untrained
    evals = [s for s in plan["steps"] if s["kind"] == "eval"]
    assert all(s["depends_on"] == [] and s["params"]["model_kind"] == "student" for s in evals)
    assert len({s["params"]["model"] for s in evals}) == 20
    small = next(s for s in evals if s["id"] == "eval:qwen2.5-0.5b_general-r0:gsm8k")
    big = next(s for s in evals if s["id"] == "eval:qwen2.5-14b_general-r0:gsm8k")
    assert small["resources"]["gpus"] == 1 and big["resources"]["gpus"] >= 1


def test_estimate_prices_evaluation_in_gpu_hours():
    r = ponder_cli("estimate", "paper-students", "--json", env=OFFLINE)
    est = {s["stage"]: s for s in json.loads(r.stdout)["stages"]}
    assert est["train"]["steps"] == est["generate"]["steps"] == 0
    assert est["train"]["gpu_hours"] == est["generate"]["gpu_hours"] == 0
    assert est["eval"]["steps"] == 240 and est["eval"]["gpu_hours"] > 0
    table = ponder_cli("estimate", "paper-students", env=OFFLINE).stdout
    assert "GPU-hours" in table and "eval" in table


def test_validate_offline_checks_labels_and_says_what_it_left(tmp_path):
    # the tiny families need no data files; the hub is not asked (HF_HUB_OFFLINE)
    r = ponder_cli(
        "validate", "paper-students", "--set", "eval.benchmarks=[tiny-math-oe]", env=OFFLINE
    )
    assert "20 trained models" in r.stdout and "qwen2.5-14b_math-r1" in r.stdout
    assert r.stderr.startswith("note: 20 hub checkpoint(s) are not in the local cache")
    assert "are checked when their eval step downloads them" in r.stderr


@pytest.mark.realdata
def test_validate_with_the_benchmark_data(tmp_path):
    """The paper suite's files in PONDER_DATA_DIR; CoQA dev, when absent there, stands in as a
    two-question file in its release layout (the preset is checked, not CoQA)."""
    data = tmp_path / "data"
    data.mkdir()
    for d in REAL_DATA.iterdir():
        (data / d.name).symlink_to(d)
    if not (data / "coqa").exists():
        (data / "coqa").mkdir()
        turns = [("Where did Ana go?", "to school"), ("What colour did she wear?", "red")]
        story = {
            "source": "wikipedia",
            "id": "c1",
            "story": "Ana went to school. She wore red.",
            "questions": [{"input_text": q, "turn_id": i} for i, (q, _) in enumerate(turns, 1)],
            "answers": [{"input_text": a, "turn_id": i} for i, (_, a) in enumerate(turns, 1)],
        }
        (data / "coqa" / "coqa-dev-v1.0.json").write_text(json.dumps({"data": [story]}))
    r = ponder_cli("validate", "paper-students", env={**OFFLINE, "PONDER_DATA_DIR": str(data)})
    assert "steps: eval 240, judge 240, results 1, report 1" in r.stdout
