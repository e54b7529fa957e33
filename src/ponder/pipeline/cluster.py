"""The cluster a plan targets and what each step needs from it.

`ClusterConfig` (YAML; defaults in `templates/slurm/cluster.yaml`, H100 80 GB nodes) holds every
cluster specific: GPUs per node, partitions, launch configs, vLLM settings. `step_resources`
sizes a step for it: GPUs, nodes, an estimate of GPU memory, the vLLM server it talks to, and how
it is launched (in the array task's process, under accelerate, or beside a vLLM server).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ponder.errors import PonderError
from ponder.pipeline.steps import Step, StepKind
from ponder.records import Evaluated, ModelKind
from ponder.resources import resource

GiB = 1024**3


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


def _params_b(cfg, student: str) -> float:
    """Student size in billions of parameters (built-in dims, a config path, or scratch dims)."""
    from ponder import flops

    return flops.count_params(student_dims(cfg, student)) / 1e9


def student_dims(cfg, name: str):
    from ponder import flops

    s = cfg.student(name)
    if s.init == "pretrained" and s.path:
        return flops.resolve_model(s.path)
    return flops.ModelDims(
        s.vocab_size,
        s.hidden_size,
        s.intermediate_size,
        s.num_attention_heads,
        s.num_hidden_layers,
        s.num_key_value_heads,
        s.hidden_size // s.num_attention_heads,
        name=name,
    )


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
    return Resources(
        gpus=gpus,
        nodes=max(1, math.ceil(gpus / cluster.gpus_per_node)),
        gpu_mem_gb=round(mem, 1),
        launcher="accelerate",
        accelerate_config=config,
    )


def _eval_resources(cfg, cluster: ClusterConfig, target: Evaluated) -> Resources:
    if target.kind is ModelKind.TEACHER:
        return _server_resources(cfg, cluster, cfg.teacher.model, backend=cfg.teacher.backend)
    if target.checkpoint is not None:  # trained elsewhere: its label, config or built-in size
        from ponder.pipeline.checkpoints import params

        count = params(target.checkpoint)
        params_b = count / 1e9 if count else 1.0  # size unknown here: one GPU
    else:
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


def step_resources(cfg, cluster: ClusterConfig, s: Step) -> Resources:
    """What one step needs: a server for generation and judging, GPUs for training and eval."""
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


def total_params_b(model: str) -> float:
    """A served model's size in billions (0 when the built-in table does not know it)."""
    from ponder import flops

    try:
        return flops.model_params_total(model) / 1e9
    except PonderError:
        return 0.0
