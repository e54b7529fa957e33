"""Plan a study for a cluster: the steps `ponder run` executes, with resources and stages.

`plan(cfg, cluster)` takes `steps.expand(cfg)`, splits each big domain's generation into shard
steps that many nodes can run at once (then one merge step), and attaches what each step needs:
GPUs, nodes, an estimate of GPU memory, the vLLM server it talks to, and the sbatch array (stage)
it belongs to. Cluster specifics (GPUs per node, partitions, launch configs) live in a
`ClusterConfig` (YAML), never in this code. `slurm.py` renders the plan; `worker.py` runs a step.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ponder.errors import PonderError
from ponder.pipeline.steps import Step, StepKind, expand
from ponder.records import Evaluated, ModelKind
from ponder.resources import resource
from ponder.rundir import RunDir, config_hash

GiB = 1024**3
LAYOUT = RunDir(Path())  # relative paths of the run-directory contract


class ClusterConfig(BaseModel):
    """The cluster a plan targets (defaults: `templates/slurm/cluster.yaml`, H100 80 GB nodes)."""

    model_config = ConfigDict(extra="forbid")
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    gpus_per_node: int = Field(8, gt=0)
    gpu_mem_gb: float = Field(80.0, gt=0)
    cpus_per_task: int = Field(16, gt=0)
    setup: list[str] = Field(default_factory=list)  # shell lines run first in every job
    time: dict[str, str] = Field(default_factory=dict)  # per stage, Slurm time format
    dependency: Literal["afterok", "afterany"] = "afterok"
    array_parallelism: int = Field(64, gt=0)  # the `%N` of `--array`
    generate_rows_per_step: int = Field(20_000, ge=0)  # 0: one generation step per domain
    train_gpus: int = Field(16, gt=0)  # Appendix B: 16 H100 per training run
    # accelerate configs shipped in src/ponder/launch/, chosen by student size (billions).
    accelerate_configs: list[tuple[float, str]] = Field(
        default_factory=lambda: [(2.0, "ddp.yaml"), (1e9, "fsdp.yaml")]
    )
    server_gpus: dict[str, int] = Field(default_factory=dict)  # vLLM TP per served model id
    vllm_args: str = "--gpu-memory-utilization 0.9 --max-model-len 32768"
    vllm_port: int = 8000
    steps_per_task: dict[str, int] = Field(default_factory=dict)  # array task batching per stage


def load_cluster(path: str | Path | None = None) -> ClusterConfig:
    """Read a cluster YAML (or the shipped default) into a validated ClusterConfig."""
    if path is None:
        text, source = template_text("cluster.yaml"), "templates/slurm/cluster.yaml"
    else:
        p = Path(path)
        if not p.is_file():
            raise PonderError(f"--cluster: file not found: {p}")
        text, source = p.read_text(encoding="utf-8"), str(p)
    try:
        return ClusterConfig.model_validate(yaml.safe_load(text) or {})
    except (yaml.YAMLError, ValidationError) as e:
        first = e.errors()[0] if isinstance(e, ValidationError) else {"loc": (), "msg": str(e)}
        loc = ".".join(str(x) for x in first["loc"]) or "(top level)"
        raise PonderError(f"{source}: {loc}: {first['msg'].splitlines()[0]}") from None


def template_text(name: str) -> str:
    return resource("templates", "slurm", name).read_text(encoding="utf-8")


@dataclass
class Resources:
    gpus: int = 0  # per step (all nodes together)
    nodes: int = 1
    gpu_mem_gb: float = 0.0  # estimated peak per GPU
    server: str | None = None  # model id of the vLLM server the step needs (generation, judges)
    launcher: Literal["python", "accelerate", "vllm"] = "python"
    accelerate_config: str | None = None


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
        return {"id": s.id, "kind": str(s.kind), "stage": self.stage, "depends_on": s.depends_on,
                "artifact": s.artifact, "hash": s.hash, "params": s.params(),
                "resources": asdict(self.resources)}  # fmt: skip


def _params_b(cfg, student: str) -> float:
    """Student size in billions of parameters (built-in dims, a config path, or scratch dims)."""
    from ponder import flops

    return flops.count_params(student_dims(cfg, student)) / 1e9


def student_dims(cfg, name: str):
    from ponder import flops

    s = cfg.student(name)
    if s.init == "pretrained" and s.path:
        return flops.resolve_model(s.path)
    return flops.ModelDims(s.vocab_size, s.hidden_size, s.intermediate_size,
                           s.num_attention_heads, s.num_hidden_layers, s.num_key_value_heads,
                           s.hidden_size // s.num_attention_heads, name=name)  # fmt: skip


def serving_gpus(cluster: ClusterConfig, model: str, params_b: float) -> int:
    """GPUs to serve a model: the cluster's choice, else a power of two holding 2 bytes/param
    plus 40% for the KV cache (the smallest tensor-parallel size vLLM fits it in)."""
    if model in cluster.server_gpus:
        return cluster.server_gpus[model]
    need = params_b * 2 * 1.4 / cluster.gpu_mem_gb
    return min(cluster.gpus_per_node, 2 ** max(0, math.ceil(math.log2(max(need, 1)))))


def _train_resources(cfg, cluster: ClusterConfig, student: str) -> Resources:
    """Full fine-tuning in bf16 with fp32 AdamW: 16 bytes/param sharded over the GPUs (ZeRO-3),
    plus activations with checkpointing (2 bytes x d x layers per token) and fp32 logits."""
    dims = student_dims(cfg, student)
    params_b = _params_b(cfg, student)
    gpus = cluster.train_gpus if params_b >= 0.1 else 1  # tiny students: one device
    tokens = cfg.train.micro_batch_size * cfg.train.max_seq_len
    act = tokens * (2 * dims.hidden_size * dims.num_hidden_layers + 4 * dims.vocab_size)
    mem = (16 * params_b * 1e9 / gpus + act) / GiB + 2.0  # + CUDA context and buffers
    config = next(f for limit, f in sorted(cluster.accelerate_configs) if params_b <= limit)
    if gpus == 1:  # one device: the step runs in the array task's own process
        return Resources(gpus=1, gpu_mem_gb=round(mem, 1))
    return Resources(gpus=gpus, nodes=max(1, math.ceil(gpus / cluster.gpus_per_node)),
                     gpu_mem_gb=round(mem, 1), launcher="accelerate",
                     accelerate_config=config)  # fmt: skip


def _eval_resources(cfg, cluster: ClusterConfig, target: Evaluated) -> Resources:
    if target.kind is ModelKind.TEACHER:
        return _server_resources(cfg, cluster, cfg.teacher.model, backend=cfg.teacher.backend)
    params_b = _params_b(cfg, target.student)
    if cfg.eval.backend == "openai" or params_b < 0.1:
        return Resources()
    gpus = serving_gpus(cluster, target.model, params_b)
    return Resources(gpus=gpus, gpu_mem_gb=cluster.gpu_mem_gb * 0.9, launcher="vllm")


def _server_resources(cfg, cluster: ClusterConfig, model: str, backend: str) -> Resources:
    """A client step of a served model: the job starts a vLLM server unless the config already
    points at a fleet (base_urls) or the backend runs locally (scripted, hf)."""
    from ponder import flops

    if backend in ("scripted", "hf") or (backend == "openai" and cfg.teacher.base_urls):
        return Resources()
    try:
        params_b = flops.model_params_total(model) / 1e9
    except PonderError:
        params_b = 0.0  # unknown size: the cluster's server_gpus or one node decides
    gpus = serving_gpus(cluster, model, params_b) if params_b else cluster.gpus_per_node
    return Resources(gpus=gpus, gpu_mem_gb=cluster.gpu_mem_gb * 0.9, server=model, launcher="vllm")


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
        Step(f"{s.id}@{k}/{n}", StepKind.GENERATE, [], str(LAYOUT.pair_shard(s.domain, k, n)),
             config_hash({"generate": s.hash, "shard": k, "of": n}), domain=s.domain, shard=(k, n))
        for k in range(n)
    ]  # fmt: skip


def _resources(cfg, cluster: ClusterConfig, s: Step) -> Resources:
    if s.kind is StepKind.GENERATE:
        if s.depends_on:  # the merge step only concatenates shard files
            return Resources()
        if cfg.domains[s.domain].source.kind == "paired":  # released answers: read, no teacher
            return Resources()
        return _server_resources(cfg, cluster, cfg.teacher.model, cfg.teacher.backend)
    if s.kind is StepKind.TRAIN:
        return _train_resources(cfg, cluster, s.run.student)
    if s.kind is StepKind.EVAL:
        return _eval_resources(cfg, cluster, s.target)
    if s.kind is StepKind.JUDGE:
        return Resources(server=",".join(j.model for j in cfg.judge.judges) or None)
    return Resources()


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
        out.append(PlannedStep(s, _stage(s, levels), _resources(cfg, cluster, s)))
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


def total_params_b(model: str) -> float:
    """A served model's size in billions (0 when the built-in table does not know it)."""
    from ponder import flops

    try:
        return flops.model_params_total(model) / 1e9
    except PonderError:
        return 0.0
