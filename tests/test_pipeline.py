"""The runner owns "done": a step is redone exactly when the config that determines it changed,
when something it was built from changed, or when its output is gone — and never otherwise."""

from __future__ import annotations

import hashlib
import json

import pytest

from _paths import FIXTURES
from ponder.config import load_study
from ponder.errors import PonderError
from ponder.pipeline import ledger, runner
from ponder.pipeline.expand import expand
from ponder.pipeline.runner import run_steps
from ponder.pipeline.steps import Step, StepKind
from ponder.records import model_runs
from ponder.rundir import RunDir

MINI = str(FIXTURES / "studies" / "mini.yaml")
MODEL = "mini-a_general-r1_sequential"


def weights(rd: RunDir, model: str = MODEL) -> str:
    return hashlib.sha256((rd.model(model) / "model.safetensors").read_bytes()).hexdigest()


def tokens(rd: RunDir) -> dict[str, str]:
    """Each finished step's record token: it changes exactly when the step ran again."""
    return {p.stem: json.loads(p.read_text())["token"] for p in (rd.root / ".steps").glob("*")}


@pytest.fixture
def finished(mini_copy) -> RunDir:
    """A private copy of the session's finished mini run (conftest.py)."""
    return RunDir(mini_copy)


@pytest.mark.slow
def test_a_finished_study_reruns_nothing(finished):
    rd = finished
    before = tokens(rd)
    assert run_steps(load_study(MINI), rd, quiet=True) == {}
    assert tokens(rd) == before


RERUNS = [
    # (override, step kinds that must run again, kinds that must not)
    ("train.decay_steps=3", {"train", "eval", "results", "report"}, {"generate", "mix", "student"}),
    ("eval.max_new_tokens=24", {"eval", "results", "report"}, {"train", "mix", "generate"}),
    ("teacher.ift.temperature=0.9", {"generate", "mix", "train", "eval"}, {"student"}),
    ("mix.seed=5", {"mix", "train", "eval"}, {"generate", "student", "tokenizer"}),
    ("students.0.intermediate_size=96", {"student", "train", "eval"}, {"generate", "mix"}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("override", "again", "not_again"), RERUNS)
def test_a_changed_setting_reruns_exactly_the_steps_it_affects(
    finished, tmp_path, override, again, not_again
):
    rd = finished
    ran = run_steps(load_study(MINI, [override]), rd, quiet=True)
    assert again <= set(ran) and not (not_again & set(ran)), ran


@pytest.mark.slow
def test_a_training_hyperparameter_retrains_and_an_eval_setting_does_not(finished, tmp_path):
    rd = finished
    before, before_tokens = weights(rd), tokens(rd)
    run_steps(load_study(MINI, ["eval.max_new_tokens=24"]), rd, quiet=True)
    assert weights(rd) == before  # no training step ran: the same file
    assert tokens(rd)[f"train__{MODEL}"] == before_tokens[f"train__{MODEL}"]
    run_steps(load_study(MINI, ["train.decay_steps=3"]), rd, quiet=True)
    assert weights(rd) != before  # retrained, not the old model under a new record


@pytest.mark.slow
def test_adding_a_benchmark_runs_only_its_evaluations(finished):
    before = tokens(finished)
    more = "eval.benchmarks=[tiny-general-mc, tiny-general-oe, tiny-math-oe, tiny-math-mc]"
    run_steps(load_study(MINI, [more]), finished, quiet=True)
    after = tokens(finished)
    new = {k for k in after if k not in before}
    assert new == {
        f"eval__{m}__tiny-math-mc" for m in ("mini-a_general-r0_sequential", MODEL, "teacher")
    }
    assert all(after[k] == v for k, v in before.items() if k.startswith(("eval", "train")))


@pytest.mark.slow
def test_changing_a_students_architecture_rebuilds_its_init(tmp_path):
    rd = RunDir(tmp_path)
    run_steps(load_study(MINI), rd, only=["student:mini-a"], quiet=True)
    init = rd.student_init("mini-a", 0) / "config.json"
    assert json.loads(init.read_text())["hidden_size"] == 32
    run_steps(
        load_study(MINI, ["students.0.hidden_size=48"]), rd, only=["student:mini-a"], quiet=True
    )
    assert json.loads(init.read_text())["hidden_size"] == 48


@pytest.mark.slow
def test_a_step_whose_input_was_rebuilt_runs_again(finished, tmp_path):
    rd = finished
    before = tokens(rd)
    rd.mix("general", 1.0, "sequential", 0).unlink()  # the same config, but the mix is gone
    ran = run_steps(load_study(MINI), rd, quiet=True)
    after = tokens(rd)
    assert after["mix__general__r1__sequential__s0"] != before["mix__general__r1__sequential__s0"]
    assert after[f"train__{MODEL}"] != before[f"train__{MODEL}"]  # built from the old mix
    assert (
        after["train__mini-a_general-r0_sequential"]
        == before["train__mini-a_general-r0_sequential"]
    )
    assert set(ran) >= {"mix", "train", "eval"}


@pytest.mark.slow
def test_steps_made_by_another_version_are_kept_unless_asked(finished, tmp_path, capsys):
    rd = finished
    rec = rd.step_record(f"train:{MODEL}")
    data = json.loads(rec.read_text()) | {"code_version": "0.0.1+old"}
    rec.write_text(json.dumps(data))
    assert run_steps(load_study(MINI), rd) == {}
    assert "made by another version of ponder" in capsys.readouterr().err
    ran = run_steps(load_study(MINI), rd, rerun_outdated=True, quiet=True)
    assert "train" in ran and json.loads(rec.read_text())["code_version"] != "0.0.1+old"


# ---------------------------------------------------------------- the ledger alone (no training)
def _fake(rd: RunDir, info: dict):
    def execute(ctx, step):
        (rd.root / step.artifact).parent.mkdir(parents=True, exist_ok=True)
        (rd.root / step.artifact).write_text("x")
        return info if step.kind is StepKind.GENERATE else {}

    return execute


def test_an_incomplete_step_is_used_downstream_but_run_again_next_time(tmp_path, monkeypatch):
    cfg, rd = load_study(MINI), RunDir(tmp_path)
    monkeypatch.setattr(runner, "write_manifest", lambda *a: None)
    monkeypatch.setattr(runner, "execute", _fake(rd, {"incomplete": 3, "why": "3 rows failed"}))
    first = run_steps(cfg, rd, quiet=True)
    assert {"generate", "mix", "train", "eval"} <= set(first)  # downstream ran on what there was
    gen = next(s for s in expand(cfg) if s.id == "generate:general")
    assert ledger.is_usable(rd, gen) and not ledger.is_done(rd, gen)
    monkeypatch.setattr(runner, "execute", _fake(rd, {"rows": 300}))
    again = run_steps(cfg, rd, quiet=True)
    assert {"generate", "mix", "train"} <= set(again)  # retried, and its dependents follow
    assert ledger.is_done(rd, gen)
    assert run_steps(cfg, rd, quiet=True) == {}


def test_stale_output_is_cleared_before_a_step_runs(tmp_path):
    rd = RunDir(tmp_path)
    run = model_runs(load_study(MINI))[0]
    step = Step(
        f"train:{run.model}",
        StepKind.TRAIN,
        [],
        f"models/{run.model}/train_summary.json",
        "h1",
        run=run,
    )
    old = rd.model(step.run.model)
    old.mkdir(parents=True)
    (old / "train_summary.json").write_text("{}")
    (old / "model.safetensors").write_text("stale weights")
    ledger.begin(rd, step)
    assert not old.exists()


def test_a_stage_command_runs_only_what_it_needs(tmp_path, monkeypatch):
    cfg, rd = load_study(MINI), RunDir(tmp_path)
    monkeypatch.setattr(runner, "write_manifest", lambda *a: None)
    monkeypatch.setattr(runner, "execute", _fake(rd, {}))
    ran = run_steps(cfg, rd, "train", quiet=True)
    assert set(ran) == {"generate", "tokenizer", "student", "mix", "train"}
    assert set(run_steps(cfg, rd, "report", quiet=True)) == {"eval", "results", "report"}


def test_unknown_step_ids_are_one_line_errors(tmp_path):
    with pytest.raises(PonderError, match="no step 'train:nope'"):
        run_steps(load_study(MINI), RunDir(tmp_path), only=["train:nope"], quiet=True)
