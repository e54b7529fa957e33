"""Render a plan as Slurm jobs: one sbatch array per stage and resource shape, chained.

`render_slurm` writes into a plan folder: `study.yaml` (the study exactly as planned, every
`--set` override resolved, so each job runs the planned config), `cluster.yaml`, one
`<job>.sbatch` per array with its step list in `steps/<job>.txt`, and `submit.sh`, which submits
the arrays with `--dependency` on the jobs their steps depend on. An array task runs its share of
steps in one `ponder step` process. Templates are Jinja files in `resources/templates/slurm/`.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from ponder.config import StudyConfig, dump_study
from ponder.errors import PonderError
from ponder.pipeline.cluster import (
    ClusterConfig,
    Resources,
    serving_gpus,
    template_text,
    total_params_b,
)
from ponder.pipeline.plan import PlannedStep, stage_order
from ponder.rundir import RunDir, atomic_write_text

# The template each stage's jobs use (train* stages use "train"; others by resources).
STAGE_TEMPLATE = {"judge": "judge", "prepare": "cpu", "final": "cpu"}


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


def describe(stage: str, res: Resources) -> str:
    """The header line of a stage's sbatch script: what its steps do, and where they run."""
    if stage.startswith("train"):
        level = int(stage[5:])
        what = f"training, phase {level} of the bi-phasic arms (from phase {level - 1} models)"
        if level == 1:
            what = "training, phase 1 of every grid arm"
        if res.launcher == "accelerate":
            return f"{what}; each step runs under accelerate on {res.gpus} GPUs"
        return f"{what}; each step on this task's device, in one process"
    if stage == "generate":
        how = "its vLLM server on this node" if res.server else "the configured teacher"
        return f"teacher generation (thinking off and on for each prompt) through {how}"
    if stage == "eval":
        how = "a vLLM server of the teacher on this node" if res.server else "the study's backend"
        return f"evaluation: models answer the benchmarks through {how}"
    return {
        "prepare": "preparation: tokenizer, student initial weights, ρ-mixes, merged shards (CPU)",
        "judge": "judging: the judge panel grades the evaluated answers (servers: serve-* jobs)",
        "final": "the results table and the report (CPU)",
    }.get(stage, stage)


def _template_for(stage: str, res: Resources) -> str:
    if stage.startswith("train"):  # multi-GPU training through accelerate launch, else one device
        return "train" if res.launcher == "accelerate" else "gpu"
    if res.server and stage in ("generate", "eval"):
        return "teacher"  # serves the teacher on the task's node
    return STAGE_TEMPLATE.get(stage, "gpu" if res.gpus else "cpu")


class _Renderer:
    """Jinja environment and the values every template shares."""

    def __init__(self, cfg: StudyConfig, cluster: ClusterConfig, out_dir: Path, run_dir: Path):
        import jinja2

        self.env = jinja2.Environment(
            loader=jinja2.FunctionLoader(template_text),
            keep_trailing_newline=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["q"] = lambda v: shlex.quote(str(v))
        self.cfg, self.cluster, self.out = cfg, cluster, out_dir
        self.served = [j for j in cfg.judge.judges if not j.base_urls] if cfg.judge.enabled else []
        self.common = {
            "cfg_name": cfg.name,
            "cluster": cluster,
            "workdir": Path.cwd(),
            "log_dir": out_dir / "logs",
            "study": out_dir / "study.yaml",
            "run_dir": run_dir,
            "cluster_file": out_dir / "cluster.yaml",
            "judges": cfg.judge.judges,
        }

    def write(self, filename: str, template: str, **values) -> Path:
        text = self.env.get_template(template).render(**self.common, **values)
        return atomic_write_text(self.out / filename, text)


def _judge_servers(r: _Renderer, dep: str) -> tuple[list[Path], list[dict], str]:
    """One vLLM server job per served judge, started once the evaluations are done; the judge
    array starts `after:` them and waits for their URL files."""
    written, submit = [], []
    for j in r.served:
        gpus = serving_gpus(r.cluster, j.model, total_params_b(j.model))
        written.append(
            r.write(
                f"serve-{j.name}.sbatch", "serve.sbatch.j2", name=j.name, model=j.model, gpus=gpus
            )
        )
        submit.append(
            {"name": f"serve-{j.name}", "file": f"serve-{j.name}.sbatch", "deps": dep, "n_steps": 0}
        )
    ids = ":".join(f"${{JOB[serve-{j.name}]}}" for j in r.served)
    return written, submit, (f"{dep},after:{ids}" if dep else f"after:{ids}")


def _array(r: _Renderer, job: dict, dep: str) -> tuple[list[Path], dict]:
    st, res = job["stage"], job["res"]
    per = 10**9 if st in ("prepare", "final") else r.cluster.steps_per_task.get(st, 1)
    per = max(1, min(per, len(job["steps"])))
    steps_file = r.out / "steps" / f"{job['name']}.txt"
    written = [atomic_write_text(steps_file, "\n".join(job["steps"]) + "\n")]
    written.append(
        r.write(
            f"{job['name']}.sbatch",
            f"{_template_for(st, res)}.sbatch.j2",
            job=job["name"],
            stage=st,
            about=describe(st, res),
            n_steps=len(job["steps"]),
            nodes=res.nodes,
            per_task=per,
            steps_file=steps_file,
            gpus_per_node=min(res.gpus, r.cluster.gpus_per_node) if res.gpus else 0,
            n_tasks=math.ceil(len(job["steps"]) / per),
            server=res.server,
            time=r.cluster.time.get(st.rstrip("0123456789"), "24:00:00"),
            accelerate_config=res.accelerate_config,
        )
    )
    return written, {
        "name": job["name"],
        "file": f"{job['name']}.sbatch",
        "deps": dep,
        "n_steps": len(job["steps"]),
        "stage": st,
    }


def render_slurm(
    cfg: StudyConfig,
    steps: list[PlannedStep],
    out_dir: Path,
    cluster: ClusterConfig,
    cluster_text: str,
    run_dir: RunDir,
) -> list[Path]:
    """Write the plan folder (see the module docstring); returns the files written."""
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise PonderError(f"--slurm: {out_dir} exists and is not a folder")
    r = _Renderer(cfg, cluster, out_dir, Path(run_dir.root).resolve())
    written = [
        atomic_write_text(out_dir / "study.yaml", dump_study(cfg)),
        atomic_write_text(out_dir / "cluster.yaml", cluster_text),
    ]
    submit: list[dict] = []
    for job in _jobs(steps):
        after = [f"${{JOB[{a}]}}" for a in job["after"]]
        dep = f"{cluster.dependency}:{':'.join(after)}" if after else ""
        if job["stage"] == "judge" and r.served:
            files, jobs, dep = _judge_servers(r, dep)
            written += files
            submit += jobs
        files, entry = _array(r, job, dep)
        written += files
        submit.append(entry)
    written.append(_submit_script(r, submit, len(steps), run_dir))
    return written


def _submit_script(r: _Renderer, submit: list[dict], n_steps: int, run_dir: RunDir) -> Path:
    judges = [x["name"] for x in submit if x.get("stage") == "judge"]
    servers = Path(run_dir.servers()).resolve()
    stop = " ".join(shlex.quote(str(servers / f"{j.name}.stop")) for j in r.served)
    text = r.env.get_template("submit.sh.j2").render(
        cfg_name=r.cfg.name,
        jobs=submit,
        n_steps=n_steps,
        log_dir=r.out / "logs",
        stop_files=stop if judges else "",
        last_judge=judges[-1] if judges else "",
        partition=r.cluster.partition,
        account=r.cluster.account,
    )
    path = atomic_write_text(r.out / "submit.sh", text)
    path.chmod(0o755)
    return path
