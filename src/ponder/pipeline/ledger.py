"""Which steps are finished *for this config*: the one place that decides it.

A finished step leaves `.steps/<id>.json` (written atomically after its artifact): its config
hash, a fresh token, the tokens of the dependency records it was built from, the code version and
its timing. A step is done iff its record exists with the step's current hash, its artifact
exists, and every dependency's current record still carries the token it was built from — so a
dependency that re-ran (for any reason) makes its dependents stale too. A stage may finish
*incomplete* (generation with rows that failed): its record is usable by the steps after it in
this run, but the step is not done, so the next run works on it again (and its dependents follow).
Before a step runs, its record and whatever an earlier, different run left at its outputs are
removed, so no stage function can pick up stale output (stage functions never decide "done" by
existence).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from ponder.pipeline.steps import Step, StepKind
from ponder.rundir import RunDir, atomic_write_json, code_version, manifest_path, remove


def read(rd: RunDir, step_id: str) -> dict | None:
    p = rd.step_record(step_id)
    try:
        rec = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def is_done(rd: RunDir, step: Step) -> bool:
    """Usable, and complete: nothing left to do for this config."""
    return is_usable(rd, step) and (read(rd, step.id) or {}).get("complete", True)


def is_usable(rd: RunDir, step: Step) -> bool:
    """Record with this hash, artifact present, dependencies unchanged since it was built."""
    rec = read(rd, step.id)
    if rec is None or rec.get("hash") != step.hash:
        return False
    if not (rd.root / step.artifact).exists():
        return False
    built_from = rec.get("deps", {})
    for dep in step.depends_on:
        cur = read(rd, dep)
        if cur is None or cur.get("token") != built_from.get(dep):
            return False
    return True


def outputs(rd: RunDir, step: Step) -> list[Path]:
    """Everything a step writes, cleared before it runs. Resume state is not an output: training
    checkpoints and generation shards are keyed by their own config hashes and reused only when
    those match."""
    if step.kind is StepKind.TRAIN:
        return [rd.model(step.run.model)]
    if step.kind is StepKind.STUDENT:
        return [rd.student(step.student, step.seed)]
    if step.kind is StepKind.TOKENIZER:
        return [rd.tokenizer()]
    artifact = rd.root / step.artifact
    return [artifact, manifest_path(artifact)]


def begin(rd: RunDir, step: Step) -> None:
    """Forget a step before (re)running it: its record first, then its outputs."""
    remove(rd.step_record(step.id))
    for path in outputs(rd, step):
        remove(path)


def record(rd: RunDir, step: Step, seconds: float, info: dict) -> None:
    """Mark a step finished, after its artifact was written; a stage that reports
    `incomplete` (a count of what is missing) leaves it usable but not done."""
    deps = {d: (read(rd, d) or {}).get("token") for d in step.depends_on}
    atomic_write_json(
        rd.step_record(step.id),
        {
            "id": step.id,
            "hash": step.hash,
            "token": uuid.uuid4().hex,
            "deps": deps,
            "complete": not info.get("incomplete"),
            "code_version": code_version(),
            "seconds": round(seconds, 3),
            "finished": time.time(),
            "info": info,
        },
    )


def outdated(rd: RunDir, steps: list[Step]) -> list[str]:
    """Finished steps whose record was written by another version of ponder."""
    now = code_version()
    return [
        s.id for s in steps if is_done(rd, s) and (read(rd, s.id) or {}).get("code_version") != now
    ]


def seconds_by_kind(rd: RunDir, steps: list[Step]) -> dict[str, float]:
    """Recorded wall seconds per step kind (the manifest's per-stage timings)."""
    out: dict[str, float] = {}
    for s in steps:
        rec = read(rd, s.id)
        if rec is not None:
            out[str(s.kind)] = round(out.get(str(s.kind), 0.0) + rec.get("seconds", 0.0), 3)
    return out
