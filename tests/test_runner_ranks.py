"""`ponder run` under a multi-process launch: rank 0 runs and records every step, the other
ranks join only the training steps and wait for rank 0's records of everything else."""

from __future__ import annotations

from ponder.config import load_study
from ponder.pipeline import ledger, runner
from ponder.pipeline.expand import expand
from ponder.pipeline.steps import StepKind
from ponder.rundir import RunDir


def _write_artifact(rd: RunDir, step) -> None:
    artifact = rd.root / step.artifact
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_text("{}")


def _fake_rank0(done: list):
    """Stand-in for rank 0: whatever step a waiting rank waits for gets finished and recorded."""

    def wait(rd, step, poll_s):
        _write_artifact(rd, step)
        ledger.record(rd, step, 0.0, {})
        done.append(step.id)

    return wait


def test_other_ranks_train_and_wait_for_everything_else(tmp_path, monkeypatch):
    cfg, rd = load_study("tiny"), RunDir(tmp_path)
    steps = expand(cfg)
    executed, waited = [], []
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(runner, "execute", lambda ctx, step: executed.append(step) or {})
    monkeypatch.setattr(runner, "_wait_done", _fake_rank0(waited))
    monkeypatch.setattr(runner, "write_manifest", lambda *a: (_ for _ in ()).throw(AssertionError))

    runner.run_steps(cfg, rd)

    trains = [s for s in steps if s.kind is StepKind.TRAIN]
    assert [s.id for s in executed] == [s.id for s in trains]  # every training step, in order
    assert set(waited) == {s.id for s in steps if s.kind is not StepKind.TRAIN}
    # rank 1 records nothing of its own: its training steps are rank 0's to record
    assert not any(ledger.is_done(rd, s) for s in trains)
    assert not rd.study_yaml().exists()


def test_a_single_process_runs_and_records_every_step(tmp_path, monkeypatch):
    cfg, rd = load_study("tiny"), RunDir(tmp_path)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(runner, "execute", lambda ctx, step: _write_artifact(rd, step) or {})
    monkeypatch.setattr(runner, "write_manifest", lambda *a: None)
    runner.run_steps(cfg, rd, quiet=True)
    assert all(ledger.is_done(rd, s) for s in expand(cfg))
