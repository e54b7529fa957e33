"""`ponder plan`, `ponder step` and `ponder estimate`: a study at cluster scale.

`plan` lists the steps with dependencies and resources (or writes sbatch arrays with --slurm),
`step` runs one of them idempotently under a lock, `estimate` prices the study in GPU-hours from
Appendix C FLOPs before anything is spent.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ponder.cli.options import JsonOpt, echo_json
from ponder.errors import PonderError

StudyArg = Annotated[str, typer.Argument(help="Study YAML path or built-in name (e.g. paper).")]
OutOpt = Annotated[Optional[str], typer.Option("--out", help="Run directory.")]  # noqa: UP045
ClusterOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--cluster", help="Cluster YAML (default: templates/slurm/cluster.yaml)."),
]
SetOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--set", help="Override a config value: key.path=value (repeatable)."),
]

console = Console(highlight=False)


def _load(study: str, set_: list[str] | None, cluster: str | None):
    from ponder.config import load_study
    from ponder.pipeline.cluster import load_cluster

    return load_study(study, set_ or []), load_cluster(cluster)


def _plan_dir(slurm: str) -> Path:
    """The --slurm folder: it, or the nearest part of its path that exists, must be a folder."""
    folder = Path(slurm).resolve()
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise PonderError(f"--slurm: {p} exists and is not a folder")
            break
    return folder


def plan_cmd(
    study: StudyArg,
    as_json: JsonOpt = False,
    slurm: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--slurm", help="Write sbatch scripts (one array per stage) into DIR."),
    ] = None,
    cluster: ClusterOpt = None,
    out: OutOpt = None,
    set_: SetOpt = None,
) -> None:
    """List the study's steps (generation shards, mixes, training runs, evaluations, judging,
    report) with dependencies and resources; --slurm DIR writes the sbatch scripts."""
    from ponder.pipeline.plan import plan, stage_order
    from ponder.pipeline.steps import run_dir_for
    from ponder.pipeline.validate import validate_study

    cfg, cl = _load(study, set_, cluster)
    # The benchmark files are the eval jobs' to find, on the cluster: not checked here.
    validate_study(cfg, data=False)
    plan_dir = _plan_dir(slurm) if slurm else None
    steps = plan(cfg, cl)
    if plan_dir:
        from ponder.pipeline.cluster import template_text
        from ponder.pipeline.slurm import render_slurm

        text = (
            Path(cluster).read_text(encoding="utf-8") if cluster else template_text("cluster.yaml")
        )
        files = render_slurm(cfg, steps, plan_dir, cl, text, run_dir_for(cfg, out))
        sb = sum(1 for f in files if f.suffix == ".sbatch")
        console.print(f"wrote {sb} sbatch scripts and submit.sh to {plan_dir}")
    if as_json:
        record = {
            "study": cfg.name,
            "counts": dict(Counter(s.kind for s in steps)),
            "stages": stage_order(steps),
            "steps": [s.as_dict() for s in steps],
        }
        echo_json(record)
        return
    table = Table(title=f"plan for study {cfg.name}: {len(steps)} steps")
    for col in ("stage", "kind", "steps", "GPUs/step", "nodes", "GPU mem GB (est.)", "server"):
        table.add_column(col, justify="right" if col not in ("stage", "kind", "server") else "left")
    groups: dict[tuple, list] = {}
    for s in steps:
        r = s.resources
        groups.setdefault((s.stage, s.kind, r.gpus, r.nodes, r.server), []).append(s)
    for (stage, kind, gpus, nodes, server), group in groups.items():
        mem = max(s.resources.gpu_mem_gb for s in group)
        table.add_row(
            stage, kind, str(len(group)), str(gpus), str(nodes), f"{mem:.0f}", server or ""
        )
    console.print(table)


def step_cmd(
    study: StudyArg,
    step_ids: Annotated[
        list[str], typer.Argument(help="Step ids from `ponder plan`, run in order.")
    ],
    out: OutOpt = None,
    cluster: ClusterOpt = None,
    set_: SetOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait if locked.")] = True,
    no_lock: Annotated[bool, typer.Option("--no-lock", help="Ranks of a launched step.")] = False,
    stale_after: Annotated[
        float, typer.Option(help="Seconds before a silent lock is stale.")
    ] = 600.0,
    launcher: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--launcher", help="Run the step through this command (accelerate launch)."),
    ] = None,
) -> None:
    """Run planned steps in this process: each skipped when done, refused until its dependencies
    are, locked against other workers. An array task passes all its steps at once, so a model
    loads once for all of them."""
    from ponder.pipeline.steps import run_dir_for
    from ponder.pipeline.validate import pending, validate_study
    from ponder.pipeline.worker import planned_context, run_steps

    cfg, cl = _load(study, set_, cluster)
    rd = run_dir_for(cfg, out)
    planned = planned_context(cfg, rd, cl).steps  # unknown ids: the worker names them
    validate_study(cfg, pending(rd, [planned[s] for s in step_ids if s in planned]))
    execute, record = None, True
    if launcher:
        if len(step_ids) != 1:
            raise PonderError("--launcher: runs exactly one step")
        execute = _launched(study, step_ids[0], rd, cluster, set_ or [], launcher)
        record = False  # the launched rank 0 writes the completion record
    for sid in step_ids:
        t0 = time.time()
        status = run_steps(
            cfg,
            rd,
            [sid],
            cl,
            wait=wait,
            lock=not no_lock,
            stale_after_s=stale_after,
            execute=execute,
            record=record,
        )[0]
        if launcher and status == "ran":
            _check_launched(cfg, rd, cl, sid)
        console.print(f"step {sid}: {status} ({time.time() - t0:.1f} s)")


def _launched(study: str, step_id: str, rd, cluster: str | None, sets: list[str], launcher: str):
    """An execute function that runs the step through `launcher` (e.g. accelerate launch)."""
    ponder_exe = shutil.which("ponder") or sys.argv[0]
    inner = [ponder_exe, "step", study, step_id, "--out", str(rd.root), "--no-lock"]
    inner += ["--cluster", cluster] if cluster else []
    for s in sets:
        inner += ["--set", s]

    def execute(ctx, step) -> dict:  # noqa: ARG001
        code = subprocess.call(shlex.split(launcher) + inner)
        if code != 0:
            raise PonderError(f"step {step_id}: launcher exited with code {code}")
        return {}

    return execute


def _check_launched(cfg, rd, cl, step_id: str) -> None:
    from ponder.pipeline import ledger
    from ponder.pipeline.worker import planned_context

    ctx = planned_context(cfg, rd, cl)
    if not ledger.is_done(rd, ctx.steps[step_id]):
        raise PonderError(f"step {step_id}: the launched run ended without finishing it")


def estimate_cmd(
    study: StudyArg,
    as_json: JsonOpt = False,
    out: OutOpt = None,
    method: Annotated[str, typer.Option(help="Appendix C method: paper | exact.")] = "paper",
    assume: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--assume", help="Override an assumption: key=value (e.g. mfu.train=0.4)."),
    ] = None,
    set_: SetOpt = None,
) -> None:
    """GPU-hours by stage from Appendix C FLOPs, the pairs' answer lengths (or stated
    assumptions) and a stated peak and MFU (H100 bf16 by default)."""
    from pydantic import ValidationError

    from ponder.config import apply_override, load_study
    from ponder.pipeline.estimate import Assumptions, estimate
    from ponder.pipeline.steps import run_dir_for
    from ponder.pipeline.validate import validate_study

    cfg = load_study(study, set_ or [])
    validate_study(cfg, [], data=False)  # prices the study: reads no source or benchmark file
    data = Assumptions().model_dump()
    data["method"] = method
    for item in assume or []:
        apply_override(data, item, "--assume")
    try:
        assumptions = Assumptions.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"] if x != "[key]") or "(top level)"
        msg = " ".join(first["msg"].removeprefix("Value error, ").split())
        raise PonderError(f"--assume {loc}: {msg}") from None
    result = estimate(cfg, run_dir_for(cfg, out), assumptions)
    if as_json:
        echo_json(result)
        return
    _print_estimate(cfg.name, result)


def _print_estimate(name: str, result: dict) -> None:
    a = result["assumptions"]
    table = Table(title=f"estimate for study {name} ({a['gpu']}, method {a['method']})")
    for col in ("stage", "steps", "FLOPs", "MFU", "GPU-hours"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for r in result["stages"]:
        table.add_row(
            r["stage"],
            str(r["steps"]),
            f"{r['flops']:.3e}",
            f"{r['mfu']:.1%}",
            f"{r['gpu_hours']:,.0f}",
        )
    table.add_row(
        "[bold]total[/bold]",
        "",
        f"{result['flops']:.3e}",
        "",
        f"[bold]{result['gpu_hours']:,.0f}[/bold]",
    )
    console.print(table)
    for dom, s in result["lengths"].items():
        console.print(
            f"{dom}: {s['n']:,.0f} prompts; mean tokens prompt {s['prompt']:.0f}, "
            f"IFT {s['ift']:.0f}, reasoning {s['reasoning']:.0f} ({s['source']})"
        )


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate_cmd)
    app.command("plan")(plan_cmd)
    app.command("step")(step_cmd)
