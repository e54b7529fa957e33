"""Plan a study for a cluster: steps with dependencies and resources, and run one step safely.

`plan(cfg, cluster)` takes the steps of `study.expand` (the same steps `ponder run` executes),
splits each domain's generation into shard steps that many nodes can run at once, and attaches
what each step needs: GPUs, nodes, an estimate of GPU memory, and the vLLM server it talks to.
`render_slurm` writes one sbatch array per stage, chained by dependencies; `steplock.run_step`
runs one step on a worker. Cluster specifics (GPUs
per node, partitions, launch configs) live in a `ClusterConfig` (YAML), never in this code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ponder.errors import PonderError
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
        text, source = _template("cluster.yaml"), "templates/slurm/cluster.yaml"
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


def _template(name: str) -> str:
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
    id: str
    kind: str
    stage: str  # the sbatch array this step goes in
    depends_on: list[str]
    resources: Resources
    artifact: str
    hash: str
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _serving_gpus(cluster: ClusterConfig, model: str, params_b: float) -> int:
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
    return Resources(gpus=gpus, nodes=max(1, math.ceil(gpus / cluster.gpus_per_node)),
                     gpu_mem_gb=round(mem, 1), launcher="accelerate",
                     accelerate_config=config)  # fmt: skip


def _eval_resources(cfg, cluster: ClusterConfig, model: str, student: str | None) -> Resources:
    if model == "teacher":
        return _server_resources(cfg, cluster, cfg.teacher.model, backend=cfg.teacher.backend)
    params_b = _params_b(cfg, student) if student else 0.0
    if cfg.eval.backend == "openai" or params_b < 0.1:
        return Resources()
    gpus = _serving_gpus(cluster, model, params_b)
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
    gpus = _serving_gpus(cluster, model, params_b) if params_b else cluster.gpus_per_node
    return Resources(gpus=gpus, gpu_mem_gb=cluster.gpu_mem_gb * 0.9, server=model, launcher="vllm")


def _stage(step, levels: dict[str, int]) -> str:
    if step.kind == "train":
        return f"train{levels[step.id]}"
    if step.kind in ("student", "mix") or step.id.startswith("generate:") and "@" not in step.id:
        return "prepare"
    if step.kind in ("results", "report"):
        return "final"
    return step.kind


def plan(cfg, cluster: ClusterConfig | None = None) -> list[PlannedStep]:
    """Every step of the study with dependencies, resources and its sbatch stage, in run order."""
    from ponder.pipeline.steps import expand

    cluster = cluster or load_cluster()
    base = expand(cfg)
    student_of = {s.id: s.params.get("student") for s in base if s.kind == "train"}
    out: list[PlannedStep] = []
    levels: dict[str, int] = {}
    for s in base:
        deps = list(s.depends_on)
        if s.kind == "generate":
            src = cfg.domains[s.params["domain"]].source
            n_rows = src.limit if src.kind in ("hub", "file") and src.limit else 0
            per = cluster.generate_rows_per_step
            shards = math.ceil(n_rows / per) if per and n_rows > per else 1
            res = _server_resources(cfg, cluster, cfg.teacher.model, cfg.teacher.backend)
            if shards > 1:
                for k in range(shards):
                    sid = f"{s.id}@{k}/{shards}"
                    params = {**s.params, "shard": k, "num_shards": shards}
                    art = f"pairs/{s.params['domain']}.shards/{k:05d}-of-{shards:05d}.parquet"
                    out.append(PlannedStep(sid, "generate", "generate", [], res, art,
                                           _shard_hash(s.hash, k, shards), params))  # fmt: skip
                deps = [f"{s.id}@{k}/{shards}" for k in range(shards)]
                res = Resources()  # the merge step only concatenates shard files
            params = {**s.params, "num_shards": shards} if shards > 1 else s.params
            out.append(PlannedStep(s.id, s.kind, "", deps, res, s.artifact, s.hash, params))
            continue
        if s.kind == "train":
            parent = s.params.get("parent")
            levels[s.id] = levels.get(f"train:{parent}", 0) + 1 if parent else 1
            res = _train_resources(cfg, cluster, s.params["student"])
        elif s.kind == "eval":
            model = s.params["model"]
            student = student_of.get(f"train:{model}") or model.removesuffix("_base")
            student = student if any(x.name == student for x in cfg.students) else None
            res = _eval_resources(cfg, cluster, model, student)
        elif s.kind == "judge":
            res = Resources(server=",".join(j.model for j in cfg.judge.judges) or None)
        else:
            res = Resources()
        out.append(PlannedStep(s.id, s.kind, "", deps, res, s.artifact, s.hash, s.params))
    for p in out:
        p.stage = p.stage or _stage(p, levels)
    check_order(out)
    return out


def _shard_hash(gen_hash: str, k: int, n: int) -> str:
    from ponder.rundir import config_hash

    return config_hash({"generate": gen_hash, "shard": k, "of": n})


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


# ---------------------------------------------------------------- Slurm
def _jobs(steps: list[PlannedStep]) -> list[dict]:
    """One sbatch array per stage and resource shape (e.g. student evals on 1 GPU, the
    teacher's on 8), in submission order, each depending on the jobs of its steps' deps."""
    jobs: dict[tuple, dict] = {}
    for st in stage_order(steps):
        for s in (s for s in steps if s.stage == st):
            r = s.resources
            key = (st, r.gpus, r.nodes, r.server if st != "judge" else None, r.accelerate_config)
            if key not in jobs:
                same = sum(1 for k in jobs if k[0] == st)
                name = st if not same else f"{st}-{same + 1}"
                jobs[key] = {"name": name, "stage": st, "res": r, "steps": []}
            jobs[key]["steps"].append(s.id)
    where = {sid: j["name"] for j in jobs.values() for sid in j["steps"]}
    by_id = {s.id: s for s in steps}
    for j in jobs.values():
        deps = {where[d] for sid in j["steps"] for d in by_id[sid].depends_on} - {j["name"]}
        j["after"] = [x["name"] for x in jobs.values() if x["name"] in deps]
    return list(jobs.values())


def render_slurm(cfg, steps: list[PlannedStep], out_dir: Path, cluster: ClusterConfig,
                 study_ref: str, run_dir: Path, cluster_file: Path) -> list[Path]:  # fmt: skip
    """Write `<job>.sbatch`, `steps/<job>.txt` and `submit.sh` into `out_dir`; returns paths."""
    import shlex

    import jinja2

    from ponder.rundir import atomic_write_text

    env = jinja2.Environment(loader=jinja2.FunctionLoader(_template), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)  # fmt: skip
    env.filters["q"] = lambda v: shlex.quote(str(v))
    out_dir, log_dir = Path(out_dir).resolve(), Path(out_dir).resolve() / "logs"
    common = {"cfg_name": cfg.name, "cluster": cluster, "workdir": Path.cwd(), "log_dir": log_dir,
              "study": study_ref, "run_dir": Path(run_dir).resolve(),
              "cluster_file": Path(cluster_file).resolve(), "judges": cfg.judge.judges}  # fmt: skip
    written, submit = [], []
    served = [j for j in cfg.judge.judges if not j.base_urls] if cfg.judge.enabled else []
    for job in _jobs(steps):
        st, res = job["stage"], job["res"]
        after = [f"${{JOB[{a}]}}" for a in job["after"]]
        dep = f"{cluster.dependency}:{':'.join(after)}" if after else ""
        if st == "judge" and served:
            for j in served:  # one vLLM server per judge, started when the evaluations are done
                gpus = _serving_gpus(cluster, j.model, _total_b(j.model))
                text = env.get_template("serve.sbatch.j2").render(
                    **common, name=j.name, model=j.model, gpus=gpus)  # fmt: skip
                written.append(atomic_write_text(out_dir / f"serve-{j.name}.sbatch", text))
                submit.append({"name": f"serve-{j.name}", "file": f"serve-{j.name}.sbatch",
                               "deps": dep, "n_steps": 0})  # fmt: skip
            # `after:` = once the servers have started; the task waits for their URL files.
            serve_ids = ":".join(f"${{JOB[serve-{j.name}]}}" for j in served)
            dep = f"{dep},after:{serve_ids}" if dep else f"after:{serve_ids}"
        per = 10**9 if st in ("prepare", "final") else cluster.steps_per_task.get(st, 1)
        per = max(1, min(per, len(job["steps"])))
        steps_file = out_dir / "steps" / f"{job['name']}.txt"
        written.append(atomic_write_text(steps_file, "\n".join(job["steps"]) + "\n"))
        template = {"generate": "generate", "judge": "judge", "prepare": "cpu", "final": "cpu"}
        kind = "train" if st.startswith("train") else template.get(st, "gpu" if res.gpus else "cpu")
        if kind == "generate" and not res.server:
            kind = "cpu"  # an external fleet (base_urls) or a local backend: no server to start
        gpn = min(res.gpus, cluster.gpus_per_node) if res.gpus else 0
        text = env.get_template(f"{kind}.sbatch.j2").render(
            **common, job=job["name"], stage=st, n_steps=len(job["steps"]), nodes=res.nodes,
            gpus_per_node=gpn, per_task=per, n_tasks=math.ceil(len(job["steps"]) / per),
            time=cluster.time.get(st.rstrip("0123456789"), "24:00:00"), steps_file=steps_file,
            server=res.server, accelerate_config=res.accelerate_config)  # fmt: skip
        written.append(atomic_write_text(out_dir / f"{job['name']}.sbatch", text))
        submit.append({"name": job["name"], "file": f"{job['name']}.sbatch", "deps": dep,
                       "n_steps": len(job["steps"]), "stage": st})  # fmt: skip
    judges = [x["name"] for x in submit if x.get("stage") == "judge"]
    servers = Path(run_dir).resolve() / "servers"
    stop = " ".join(shlex.quote(str(servers / f"{j.name}.stop")) for j in served) if judges else ""
    text = env.get_template("submit.sh.j2").render(
        cfg_name=cfg.name, jobs=submit, n_steps=len(steps), log_dir=log_dir, stop_files=stop,
        last_judge=judges[-1] if judges else "", partition=cluster.partition,
        account=cluster.account)  # fmt: skip
    written.append(atomic_write_text(out_dir / "submit.sh", text))
    (out_dir / "submit.sh").chmod(0o755)
    return written


def _total_b(model: str) -> float:
    from ponder import flops

    try:
        return flops.model_params_total(model) / 1e9
    except PonderError:
        return 0.0
