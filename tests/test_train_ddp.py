"""Two CPU processes (gloo, torchrun) train the same model as one process accumulating twice.

FSDP cannot be tested this way: accelerate (1.15) turns an FSDP launch without a GPU into plain
multi-CPU DDP (`PartialState._prepare_backend`); `train_summary.json` records which it ran."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from _train_world import make_pairs, make_student
from ponder.train.loop import train_phase
from ponder.train.mix import build_mix
from test_train import CFG

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CFG4 = CFG.model_copy(update={"micro_batch_size": 4})


def _one_process(tmp_path: Path) -> tuple[Path, dict]:
    pairs = make_pairs(160)
    student = make_student(tmp_path, pairs)
    examples, _ = build_mix(pairs, 0.5, "sequential", seed=0)
    one = train_phase(student, examples, tmp_path / "one", CFG4, lr=3e-3, seed=0, progress=False)
    return student, one


def _two_processes(launcher: list[str], student: Path, out: Path) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    worker = [str(HERE / "_ddp_train_worker.py"), str(student), str(out), CFG4.model_dump_json()]
    proc = subprocess.run(launcher + worker, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / "train_summary.json").read_text())


def _assert_same_training(tmp_path: Path, one: dict, two: dict) -> None:
    from safetensors.torch import load_file

    assert (two["world_size"], one["world_size"]) == (2, 1)
    # each rank accumulates about half the forwards (rounded up so both ranks do as many)
    assert two["micro_batches_per_step"] < one["micro_batches_per_step"]
    logs = [
        [json.loads(x)["loss"] for x in (tmp_path / d / "train_log.jsonl").read_text().splitlines()]
        for d in ("one", "two")
    ]
    np.testing.assert_allclose(logs[1], logs[0], rtol=1e-4)
    w1, w2 = (
        load_file(tmp_path / "one" / "model.safetensors"),
        load_file(tmp_path / "two" / "model.safetensors"),
    )
    assert w1.keys() == w2.keys()
    for name, w in w2.items():
        torch.testing.assert_close(w, w1[name], atol=1e-4, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(
    not (BIN / "torchrun").exists() and not shutil.which("torchrun"), reason="no torchrun"
)
def test_two_process_ddp_matches_one_process(tmp_path):
    student, one = _one_process(tmp_path)
    torchrun = shutil.which("torchrun") or str(BIN / "torchrun")
    launcher = [torchrun, "--nproc_per_node", "2", "--master_port", "29517"]
    two = _two_processes(launcher, student, tmp_path / "two")
    assert two["distributed"] == "MULTI_CPU"
    _assert_same_training(tmp_path, one, two)
