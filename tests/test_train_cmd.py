"""`ponder mix` / `ponder train` hand their arguments to the study runner's `run_stage`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import ponder.pipeline.steps
from ponder.cli import _register_all, app


@pytest.mark.parametrize(
    ("argv", "call"),
    [
        (["mix"], ("mix", None, None, [])),
        (["train", "my.yaml", "--out", "runs/x"], ("train", "my.yaml", "runs/x", [])),
        (
            ["train", "--set", "train.packing=true", "--set", "train.save_every=50"],
            ("train", None, None, ["train.packing=true", "train.save_every=50"]),
        ),
    ],
)
def test_stage_commands_call_run_stage(monkeypatch, argv, call):
    calls = []
    monkeypatch.setattr(
        ponder.pipeline.steps,
        "run_stage",
        lambda s, study, out, overrides: calls.append((s, study, out, overrides)),
        raising=False,
    )
    _register_all()
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert calls == [call]
