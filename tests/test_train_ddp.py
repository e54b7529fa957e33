"""Two CPU processes (gloo, torchrun) train the same model as one process accumulating twice:
replicated (DDP) and fully sharded (FSDP2, `train.fsdp`), with a sharded checkpoint that resumes.

accelerate (1.15) turns an FSDP launch without a GPU into plain multi-CPU DDP
(`PartialState._prepare_backend`), so sharding is ponder's own (train/sharding.py): these tests
run the same wrapping, sharded checkpoint save/resume and final gathered save that an
`accelerate launch --config_file fsdp.yaml` runs on GPUs. `train_summary.json` records which ran.
"""

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
TORCHRUN = shutil.which("torchrun") or str(BIN / "torchrun")
CFG4 = CFG.model_copy(update={"micro_batch_size": 4})
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(TORCHRUN).exists(), reason="no torchrun"),
]


@pytest.fixture(scope="module")
def one(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(folder, student, summary) of the one-process reference run."""
    tmp = tmp_path_factory.mktemp("ddp")
    pairs = make_pairs(160)
    student = make_student(tmp, pairs)
    examples, _ = build_mix(pairs, 0.5, "sequential", seed=0)
    s = train_phase(student, examples, tmp / "one", CFG4, lr=3e-3, seed=0, progress=False)
    return tmp, student, s


def _two_processes(student: Path, out: Path, cfg, port: int, die_after: int = 0):
    env = {
        **os.environ,
        "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    launcher = [TORCHRUN, "--nproc_per_node", "2", "--master_port", str(port)]
    worker = [str(HERE / "_ddp_train_worker.py"), str(student), str(out), cfg.model_dump_json()]
    worker += [str(die_after)] if die_after else []
    return subprocess.run(launcher + worker, env=env, capture_output=True, text=True, timeout=240)


def _summary(proc, out: Path) -> dict:
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / "train_summary.json").read_text())


@pytest.fixture(scope="module")
def ddp(one) -> dict:
    tmp, student, _ = one
    return _summary(_two_processes(student, tmp / "ddp", CFG4, 29517), tmp / "ddp")


def _losses(out: Path) -> list[float]:
    return [json.loads(x)["loss"] for x in (out / "train_log.jsonl").read_text().splitlines()]


def _assert_same_training(a: Path, b: Path) -> None:
    from safetensors.torch import load_file

    np.testing.assert_allclose(_losses(a), _losses(b), rtol=1e-4)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for name, w in wa.items():
        torch.testing.assert_close(w, wb[name], atol=1e-4, rtol=1e-4)


def test_two_process_ddp_matches_one_process(one, ddp):
    tmp, _, s1 = one
    assert (ddp["world_size"], s1["world_size"]) == (2, 1)
    assert (ddp["distributed"], ddp["sharding"]) == ("MULTI_CPU", "none")
    # each rank accumulates about half the forwards (rounded up so both ranks do as many)
    assert ddp["micro_batches_per_step"] < s1["micro_batches_per_step"]
    _assert_same_training(tmp / "ddp", tmp / "one")


def test_fsdp_with_a_sharded_resume_matches_ddp_and_one_process(one, ddp):
    from transformers import AutoModelForCausalLM

    tmp, student, _ = one
    out, cfg = tmp / "fsdp", CFG4.model_copy(update={"fsdp": True, "save_every": 4})
    killed = _two_processes(student, out, cfg, 29518, die_after=8)
    assert killed.returncode != 0 and not out.exists()  # nothing a later run would trust
    ckpt = out.with_name("fsdp.partial") / "checkpoints" / "step-0000008" / "sharded"
    assert sorted(p.name for p in ckpt.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]

    s = _summary(_two_processes(student, out, cfg, 29519), out)
    assert (s["sharding"], s["world_size"], s["resumed_from_step"]) == ("fsdp2", 2, 8)
    assert s["steps"] == ddp["steps"] > 8
    _assert_same_training(out, tmp / "one")
    _assert_same_training(out, tmp / "ddp")
    # the gathered final checkpoint is an ordinary Hugging Face model
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    ref = AutoModelForCausalLM.from_pretrained(tmp / "one").eval()
    ids = torch.arange(5, 37)[None]
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ref(ids).logits, atol=1e-3, rtol=1e-3)
