"""Two CPU processes (gloo, torchrun) train the same model as one process accumulating twice."""

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
from ponder.mix import build_mix
from ponder.train import train_phase
from test_train import CFG

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("torchrun") is None and not Path(sys.executable).with_name("torchrun").exists(),
    reason="no torchrun",
)
def test_two_process_ddp_matches_one_process(tmp_path):
    from safetensors.torch import load_file

    pairs = make_pairs(160)
    student = make_student(tmp_path, pairs)
    examples, _ = build_mix(pairs, 0.5, "sequential", seed=0)
    cfg = CFG.model_copy(update={"micro_batch_size": 4})
    one = train_phase(student, examples, tmp_path / "one", cfg, lr=3e-3, seed=0, progress=False)

    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    env = {
        **os.environ,
        "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        torchrun,
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        str(HERE / "_ddp_train_worker.py"),
        str(student),
        str(tmp_path / "two"),
        cfg.model_dump_json(),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]

    two = json.loads((tmp_path / "two" / "train_summary.json").read_text())
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
    for name, w in w2.items():
        torch.testing.assert_close(w, w1[name], atol=1e-4, rtol=1e-4)
