"""The run directory: every path of its contract, and how files land there (atomically).

`RunDir(root)` is the only place that knows where an artifact lives (README, "Run directory");
stages ask it for paths instead of joining strings. Every artifact is written to a temporary file
in the same folder and renamed into place, so a killed process never leaves a half-written file
that a later run would trust. Whether an artifact is *finished for this config* is not decided
here but by the runner's step records (`pipeline/ledger.py`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder import __version__


def fmt_ratio(r: float) -> str:
    """ρ as it appears in ids and file names: 0, 0.25, 1."""
    return f"{r:g}"


def safe_name(step_id: str) -> str:
    """A step id as one file name (ids hold ':', '/' and '@')."""
    return step_id.replace(":", "__").replace("/", "_of_").replace("@", "_at_")


@dataclass(frozen=True)
class RunDir:
    """Paths of one study's run directory (`runs/<study>/` or `--out DIR`)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # -- stage artifacts (the README's table)
    def pairs(self, domain: str) -> Path:
        return self.root / "pairs" / f"{domain}.parquet"

    def pair_shard(self, domain: str, k: int, n: int) -> Path:
        """One cluster generation shard (`ponder plan` splits big domains into n of them)."""
        return self.root / "pairs" / f"{domain}.shards" / f"{k:05d}-of-{n:05d}.parquet"

    def mix(self, domain: str, ratio: float, schedule: str, seed: int) -> Path:
        return self.root / "mixes" / f"{domain}-r{fmt_ratio(ratio)}-{schedule}-s{seed}.parquet"

    def mix_tokens(self, mix: Path) -> Path:
        """Token stores of a mix, one folder per tokenizer, beside it (train/tokens.py)."""
        return Path(mix).with_name(Path(mix).stem + ".tokens")

    def tokenizer(self) -> Path:
        return self.root / "students" / "tokenizer"

    def student(self, name: str, seed: int) -> Path:
        """Folder of a student's initial checkpoint record (one per init seed)."""
        return self.root / "students" / (name if seed == 0 else f"{name}-s{seed}")

    def student_record(self, name: str, seed: int) -> Path:
        return self.student(name, seed) / "student.json"

    def student_init(self, name: str, seed: int) -> Path:
        """A scratch student's random-init checkpoint (pretrained students point elsewhere)."""
        return self.student(name, seed) / "init"

    def model(self, model_id: str) -> Path:
        return self.root / "models" / model_id

    def train_summary(self, model_id: str) -> Path:
        return self.model(model_id) / "train_summary.json"

    def eval(self, model: str, benchmark: str) -> Path:
        return self.root / "evals" / model / f"{benchmark}.parquet"

    def evals(self) -> Path:
        return self.root / "evals"

    def judgement(self, model: str, benchmark: str) -> Path:
        return self.root / "judgements" / model / f"{benchmark}.parquet"

    def judgement_files(self) -> list[Path]:
        return sorted(self.root.glob("judgements/*/*.parquet"))

    def results(self) -> Path:
        return self.root / "results.parquet"

    def report_dir(self) -> Path:
        return self.root / "report"

    def report_index(self) -> Path:
        return self.report_dir() / "index.html"

    # -- bookkeeping
    def study_yaml(self) -> Path:
        return self.root / "study.yaml"

    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def step_record(self, step_id: str) -> Path:
        return self.root / ".steps" / f"{safe_name(step_id)}.json"

    def lock(self, step_id: str) -> Path:
        return self.root / ".locks" / f"{safe_name(step_id)}.lock"

    def servers(self) -> Path:
        """URL files of judge servers started by the Slurm serve jobs."""
        return self.root / "servers"

    def rel(self, path: Path) -> str:
        return str(Path(path).relative_to(self.root))


# ---------------------------------------------------------------- atomic writes
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


def atomic_dir(final: Path, fill: Callable[[Path], None]) -> Path:
    """Build a folder in a temporary sibling with `fill(tmp)`, then rename it onto `final`
    (replacing whatever was there): a checkpoint folder is whole or absent."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        fill(tmp)
        remove(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final


def remove(path: Path) -> None:
    """Delete a file or a folder if it exists."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# ---------------------------------------------------------------- provenance
def config_hash(obj: Any) -> str:
    """Stable short hash of a JSON-able object (a config section, a step spec)."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@functools.cache
def code_version() -> str:
    """The package version plus a hash of what produces results: every Python source and
    resource file of the installed package (read once). Docs, tests and README commits leave it
    alone, so finished steps stay current; an edit to any source or resource changes it."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{__version__}+{digest.hexdigest()[:12]}"


def manifest_path(artifact: Path | str) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".manifest.json")


def write_manifest(artifact: Path | str, started: float, **extra: Any) -> Path:
    """Provenance beside an artifact: code version, host, timings and the stage's summary."""
    record = {
        "artifact": Path(artifact).name,
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
