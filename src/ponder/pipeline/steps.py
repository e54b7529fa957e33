"""A study's units of work: the typed `Step` (its kind, artifact, dependencies and hash) and the
step ids every stage and the planner share.

Kinds, in execution order: generate (one teacher pass over a domain's prompts), tokenizer and
student (a scratch student's tokenizer and random init, or a pretrained checkpoint's record), mix,
train, eval, judge, results, report. `expand.py` turns a study's grid into these steps; the runner
(`ledger.py`) decides which are done; the cluster planner (plan.py) schedules the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ponder.config import StudyConfig
from ponder.records import Evaluated, ModelRun
from ponder.rundir import RunDir, fmt_ratio


class StepKind(StrEnum):
    GENERATE = "generate"
    TOKENIZER = "tokenizer"
    STUDENT = "student"
    MIX = "mix"
    TRAIN = "train"
    EVAL = "eval"
    JUDGE = "judge"
    RESULTS = "results"
    REPORT = "report"


# The stage commands (`ponder generate | mix | train | eval | judge | report`) and the step kinds
# each one finishes (with every step those depend on).
STAGE_KINDS: dict[str, tuple[StepKind, ...]] = {
    "generate": (StepKind.GENERATE,),
    "mix": (StepKind.MIX,),
    "train": (StepKind.TRAIN,),
    "eval": (StepKind.EVAL, StepKind.RESULTS),
    "judge": (StepKind.JUDGE, StepKind.RESULTS),
    "report": (StepKind.RESULTS, StepKind.REPORT),
}


@dataclass
class Step:
    """One unit of work: its artifact (relative to the run directory) and what it works on."""

    id: str
    kind: StepKind
    depends_on: list[str]
    artifact: str
    hash: str = ""
    domain: str | None = None  # generate, mix
    student: str | None = None  # student
    seed: int = 0  # student: the init seed; mix: the replicate seed
    ratio: float | None = None  # mix
    schedule: str | None = None  # mix
    run: ModelRun | None = None  # train
    init: str | None = None  # train: the step whose checkpoint it starts from
    mix: str | None = None  # train: its mix step
    target: Evaluated | None = None  # eval, judge
    benchmark: str | None = None  # eval, judge
    shard: tuple[int, int] | None = None  # generate on a cluster: shard k of n
    extra: dict = field(default_factory=dict)  # planner annotations

    def params(self) -> dict[str, Any]:
        """The typed fields as plain JSON (plans, hashes)."""
        out: dict[str, Any] = {}
        for name in ("domain", "student", "ratio", "schedule", "benchmark", "init", "mix"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.kind in (StepKind.STUDENT, StepKind.MIX):
            out["seed"] = self.seed
        if self.run is not None:
            r = self.run
            out |= {
                "model": r.model,
                "student": r.student,
                "phases": [list(p) for p in r.phases],
                "schedule": r.schedule,
                "seed": r.seed,
                "parent": r.parent,
            }
        if self.target is not None:
            out |= {"model": self.target.model, "model_kind": str(self.target.kind)}
        if self.shard is not None:
            out |= {"shard": self.shard[0], "num_shards": self.shard[1]}
        return out


def student_step_id(student: str, seed: int) -> str:
    return f"student:{student}" + (f":s{seed}" if seed else "")


def mix_step_id(domain: str, ratio: float, schedule: str, seed: int) -> str:
    return f"mix:{domain}:r{fmt_ratio(ratio)}:{schedule}:s{seed}"


def closure(steps: dict[str, Step], wanted: list[str]) -> list[str]:
    """`wanted` and every step they depend on, in execution order."""
    need: set[str] = set()
    stack = list(wanted)
    while stack:
        sid = stack.pop()
        if sid not in need:
            need.add(sid)
            stack += steps[sid].depends_on
    return [sid for sid in steps if sid in need]


def run_dir_for(cfg: StudyConfig, out: str | Path | None) -> RunDir:
    return RunDir(Path(out) if out else Path(cfg.out_dir) / cfg.name)
