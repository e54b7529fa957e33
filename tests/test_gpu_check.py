"""scripts/gpu_check.sh in its dry mode: every kind of stage runs on the CPU at tiny dimensions,
so the GPU check is known to work before a GPU is at hand (it measures MFU when one is)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_check_runs_dry_on_a_cpu(tmp_path):
    results = tmp_path / "results.jsonl"
    env = {
        **os.environ,
        "GPU_CHECK_DRY": "1",
        # one stage of each kind: isolation, an MFU arm with every option, FSDP, a skipped one
        "GPU_CHECK_STAGES": "isolation mfu-1.5b-flex-liger-compile fsdp generate",
        "GPU_CHECK_RESULTS": str(results),
        "GPU_CHECK_WORKDIR": str(tmp_path),
        "PYTHON": sys.executable,
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        ["bash", "scripts/gpu_check.sh"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    ends = dict(re.findall(r"^=== (\S+) rc=(\d+)", out, re.M))
    assert ends == {"isolation": "0", "mfu-1.5b-flex-liger-compile": "0", "fsdp": "0"}, out[-3000:]
    assert "=== generate skipped (dry run)" in out
    iso = [json.loads(x) for x in out.splitlines() if x.startswith('{"attention"')]
    assert len(iso) == 4 and all(r["isolated"] and r["control_differs"] for r in iso)
    assert "attention flex_attention -> sdpa" in out and "liger left out" in out

    rows = {r["label"]: r for r in map(json.loads, results.read_text().splitlines())}
    assert rows.keys() == {"mfu-1.5b-flex-liger-compile", "fsdp"}
    assert rows["fsdp"]["sharding"] == "fsdp2"
    for r in rows.values():
        assert r["steps"] >= 5 and r["final_loss"] > 0 and r["steady_tokens_per_s"] > 0
    assert re.search(r"^mfu-1.5b-flex-liger-compile \| tiny \| sdpa", out, re.M)  # the table
