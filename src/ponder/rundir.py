"""Run-directory layout, atomic writes and manifests.

Every artifact is written to a temporary file in the same directory and renamed into place, so a
killed process never leaves a half-written file that a later run would trust. A step is done when
its manifest (`<artifact>.manifest.json`) exists and records the same config hash as the current
run; a changed config makes exactly the affected steps stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ponder import __version__


def _tmp_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def atomic_write(path: Path | str, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)` then rename tmp onto `path` (atomic on POSIX)."""
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path | str, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_parquet(path: Path | str, table: Any) -> Path:
    """Write a pandas DataFrame or a pyarrow Table to Parquet atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    return atomic_write(path, lambda p: pq.write_table(table, p))


def config_hash(obj: Any) -> str:
    """Stable short hash of a JSON-able object (a config section, a step spec)."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def code_version() -> str:
    """Package version plus the git commit when running from a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def manifest_path(artifact: Path | str) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".manifest.json")


def write_manifest(artifact: Path | str, cfg_hash: str, started: float, **extra: Any) -> Path:
    """Record that `artifact` is complete: config hash, code version, host, timings."""
    record = {
        "artifact": Path(artifact).name,
        "config_hash": cfg_hash,
        "code_version": code_version(),
        "host": platform.node(),
        "python": platform.python_version(),
        "started": started,
        "finished": time.time(),
        "seconds": round(time.time() - started, 3),
        **extra,
    }
    return atomic_write_json(manifest_path(artifact), record)


def read_manifest(artifact: Path | str) -> dict | None:
    p = manifest_path(artifact)
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError:
        return None


def is_done(artifact: Path | str, cfg_hash: str) -> bool:
    """True when the artifact exists and its manifest records `cfg_hash`."""
    artifact = Path(artifact)
    m = read_manifest(artifact)
    return artifact.exists() and m is not None and m.get("config_hash") == cfg_hash
