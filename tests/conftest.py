"""Test-session setup: `realdata` tests run only where the real benchmark files are, and the mini
study (fixtures/studies/mini.yaml) is run once through the real CLI for the end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _paths import FIXTURES, REAL_DATA

MINI = str(FIXTURES / "studies" / "mini.yaml")
SKIP_REAL = pytest.mark.skip(
    reason="needs the real benchmark files: set PONDER_DATA_DIR to their folder (.ci/run does)"
)


def pytest_collection_modifyitems(config, items):
    if REAL_DATA is not None:
        return
    for item in items:
        if "realdata" in item.keywords:
            item.add_marker(SKIP_REAL)


def ponder_cli(*args: str, check: bool = True, env: dict | None = None, cwd=None):
    """`python -m ponder ARGS` in a subprocess: the console entry point, as a user runs it."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1", **(env or {})}
    r = subprocess.run(
        [sys.executable, "-m", "ponder", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=900,
    )
    if check and r.returncode:
        raise AssertionError(f"ponder {' '.join(args)} ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="session")
def mini_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`ponder run` of the mini study, once per session (read-only: copy it to change it)."""
    out = tmp_path_factory.mktemp("mini") / "run"
    return out, ponder_cli("run", MINI, "--out", str(out))


@pytest.fixture
def mini_copy(mini_run, tmp_path) -> Path:
    """A private copy of the finished mini run."""
    dst = tmp_path / "mini"
    shutil.copytree(mini_run[0], dst)
    return dst
