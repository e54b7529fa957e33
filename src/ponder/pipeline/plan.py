"""Plan a study for a cluster: the steps `ponder run` executes, with resources and stages.

`plan(cfg, cluster)` takes `expand.expand(cfg)`, splits each big domain's generation into shard
steps that many nodes can run at once (then one merge step), and attaches what each step needs:
GPUs, nodes, an estimate of GPU memory, the vLLM server it talks to, and the sbatch array (stage)
it belongs to. Cluster specifics live in a `ClusterConfig` (cluster.py), never in this code.
`slurm.py` renders the plan; `worker.py` runs a step.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ponder.errors import PonderError
from ponder.pipeline.cluster import ClusterConfig, Resources, load_cluster, step_resources
from ponder.pipeline.expand import expand
from ponder.pipeline.steps import Step, StepKind
from ponder.rundir import RunDir, config_hash

LAYOUT = RunDir(Path())  # relative paths of the run-directory contract


@dataclass
class PlannedStep:
    """A step with the resources and the sbatch array (stage) the planner gave it."""

    step: Step
    stage: str
    resources: Resources

    @property
    def id(self) -> str:
        return self.step.id

    @property
    def kind(self) -> str:
        return str(self.step.kind)

    @property
    def depends_on(self) -> list[str]:
        return self.step.depends_on

    def as_dict(self) -> dict[str, Any]:
        s = self.step
        return {
            "id": s.id,
            "kind": str(s.kind),
            "stage": self.stage,
            "depends_on": s.depends_on,
            "artifact": s.artifact,
            "hash": s.hash,
            "params": s.params(),
            "resources": asdict(self.resources),
        }


def _stage(step: Step, levels: dict[str, int]) -> str:
    if step.kind is StepKind.TRAIN:
        return f"train{levels[step.id]}"
    if step.kind is StepKind.GENERATE and step.shard is not None:
        return "generate"
    if step.kind in (StepKind.TOKENIZER, StepKind.STUDENT, StepKind.MIX):
        return "prepare"
    if step.kind is StepKind.GENERATE:  # one pass over a small domain, or the merge of shards
        return "prepare" if step.depends_on else "generate"
    if step.kind in (StepKind.RESULTS, StepKind.REPORT):
        return "final"
    return str(step.kind)


def num_shards(cfg, cluster: ClusterConfig, domain: str) -> int:
    """How many generation steps a domain gets: its prompts / `generate_rows_per_step`."""
    src = cfg.domains[domain].source
    if src.kind == "world":
        n_rows = min(src.n, src.limit or src.n)
    else:  # a file or hub source is counted only when the config caps it (no data access here)
        n_rows = src.limit if src.kind in ("hub", "file") and src.limit else 0
    per = cluster.generate_rows_per_step
    return math.ceil(n_rows / per) if per and n_rows > per else 1


def _shards(s: Step, n: int) -> list[Step]:
    return [
        Step(
            f"{s.id}@{k}/{n}",
            StepKind.GENERATE,
            [],
            str(LAYOUT.pair_shard(s.domain, k, n)),
            config_hash({"generate": s.hash, "shard": k, "of": n}),
            domain=s.domain,
            shard=(k, n),
        )
        for k in range(n)
    ]


def plan_steps(cfg, cluster: ClusterConfig) -> list[Step]:
    """The study's steps as a cluster runs them: big domains' generation split into shards."""
    out: list[Step] = []
    for s in expand(cfg):
        n = num_shards(cfg, cluster, s.domain) if s.kind is StepKind.GENERATE else 1
        if n > 1 and cfg.domains[s.domain].source.kind != "paired":
            shards = _shards(s, n)
            out += shards
            s = dataclasses.replace(s, depends_on=[x.id for x in shards])
        out.append(s)
    return out


def plan(cfg, cluster: ClusterConfig | None = None) -> list[PlannedStep]:
    """Every step of the study with dependencies, resources and its sbatch stage, in run order."""
    cluster = cluster or load_cluster()
    out: list[PlannedStep] = []
    levels: dict[str, int] = {}
    for s in plan_steps(cfg, cluster):
        if s.kind is StepKind.TRAIN:
            parent = s.run.parent
            levels[s.id] = levels.get(f"train:{parent}", 0) + 1 if parent else 1
        out.append(PlannedStep(s, _stage(s, levels), step_resources(cfg, cluster, s)))
    check_order(out)
    return out


def check_order(steps: list[PlannedStep]) -> None:
    """Every dependency exists and comes earlier (so the plan has no cycle)."""
    seen: set[str] = set()
    for s in steps:
        for d in s.depends_on:
            if d not in seen:
                raise PonderError(f"plan: step {s.id} depends on {d}, which is not before it")
        seen.add(s.id)


def stage_order(steps: list[PlannedStep]) -> list[str]:
    """Stages in submission order: each stage only depends on earlier ones."""
    order = ["generate", "prepare"]
    order += sorted(
        {s.stage for s in steps if s.stage.startswith("train")}, key=lambda x: int(x[5:])
    )
    order += ["eval", "judge", "final"]
    return [st for st in order if any(s.stage == st for s in steps)]
