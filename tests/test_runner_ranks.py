"""`ponder run` under a multi-process launch: rank 0 runs and records every step, the other
ranks join only the training steps and wait for rank 0's records of everything else."""

from __future__ import annotations

from ponder.config import load_study
from ponder.pipeline import runner
from ponder.pipeline.steps import expand


def _fake_rank0(run_dir, done: list):
    """Stand-in for rank 0: whatever step a waiting rank waits for gets finished and recorded."""

    def wait(run_dir_, step, poll_s):
        artifact = run_dir / step.artifact
        artifact.parent.mkdir(parents=True, exist_ok=True)
        artifact.write_text("{}")
        runner.record_done(run_dir, step, 0.0, {})
        done.append(step.id)

    return wait


def test_other_ranks_train_and_wait_for_everything_else(tmp_path, monkeypatch):
    cfg = load_study("tiny")
    steps = expand(cfg)
    executed, waited = [], []
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(runner, "execute", lambda c, r, step, s: executed.append(step) or {})
    monkeypatch.setattr(runner, "_wait_done", _fake_rank0(tmp_path, waited))
    monkeypatch.setattr(runner, "_write_manifest", lambda *a: (_ for _ in ()).throw(AssertionError))

    runner.run_steps(cfg, tmp_path)

    trains = [s for s in steps if s.kind == "train"]
    assert [s.id for s in executed] == [s.id for s in trains]  # every training step, in order
    assert set(waited) == {s.id for s in steps if s.kind != "train"}
    # rank 1 records nothing of its own: its training steps are rank 0's to record
    assert not any(runner.step_done(tmp_path, s) for s in trains if s.id not in waited)
    assert not (tmp_path / "study.yaml").exists()


def test_a_single_process_runs_and_records_every_step(tmp_path, monkeypatch):
    cfg = load_study("tiny")
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setenv("WORLD_SIZE", "1")

    def fake_execute(c, run_dir, step, s):
        (run_dir / step.artifact).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / step.artifact).write_text("{}")
        return {}

    monkeypatch.setattr(runner, "execute", fake_execute)
    monkeypatch.setattr(runner, "_write_manifest", lambda *a: None)
    runner.run_steps(cfg, tmp_path)
    assert all(runner.step_done(tmp_path, s) for s in expand(cfg))
