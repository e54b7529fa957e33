"""A finished step is outdated when the code that produces results changed, not when anything was
committed: `code_version` hashes the package's sources and resources, never the git commit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _paths import TESTS
from conftest import MINI

PROJECT = TESTS.parent
NOTE = re.compile(r"note: (\d+) finished step\(s\) were made by another version of ponder")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _clone(dst: Path) -> Path:
    """The project as it is in this checkout (its working tree, committed in a fresh repo)."""
    shutil.copytree(PROJECT / "src", dst / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT / "docs", dst / "docs")
    shutil.copy(PROJECT / "README.md", dst / "README.md")
    _git(dst, "init", "-q")
    _git(dst, "add", "-A")
    _git(dst, "commit", "-qm", "the project")
    return dst


def _rerun(clone: Path, run: Path) -> subprocess.CompletedProcess:
    """`ponder run` of the finished mini study with the clone's code."""
    env = {**os.environ, "PYTHONPATH": str(clone / "src")}
    cmd = [sys.executable, "-m", "ponder", "run", MINI, "--out", str(run)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_docs_commit_keeps_a_finished_run_current_a_source_edit_does_not(mini_copy, tmp_path):
    clone = _clone(tmp_path / "clone")
    records = sorted((mini_copy / ".steps").glob("*.json"))
    before = {p.name: p.read_bytes() for p in records}

    doc = clone / "docs" / "training.md"
    doc.write_text(doc.read_text(encoding="utf-8") + "\nOne more paragraph.\n", encoding="utf-8")
    (clone / "README.md").write_text("# ponder\n", encoding="utf-8")
    _git(clone, "commit", "-qam", "docs only")
    proc = _rerun(clone, mini_copy)
    assert proc.returncode == 0, proc.stderr
    assert NOTE.search(proc.stdout + proc.stderr) is None
    # nothing ran again: every step record is the one the finished run wrote
    assert {p.name: p.read_bytes() for p in records} == before

    loop = clone / "src" / "ponder" / "train" / "loop.py"
    loop.write_text(loop.read_text(encoding="utf-8") + "\n# an edit\n", encoding="utf-8")
    _git(clone, "commit", "-qam", "a source edit")
    proc = _rerun(clone, mini_copy)
    assert proc.returncode == 0, proc.stderr
    note = NOTE.search(proc.stdout + proc.stderr)
    assert note is not None, proc.stdout + proc.stderr
    assert int(note.group(1)) == len(records)  # kept (not redone) unless --rerun-outdated
    assert {p.name: p.read_bytes() for p in records} == before
