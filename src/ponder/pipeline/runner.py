"""Run a study's steps locally: skip what is done, clear and run what is not, record each one.

`run_steps` walks the steps in order (or only those a stage command needs: the stage's steps and
everything they depend on). Done-ness is the ledger's (`ledger.is_done`); before a step runs the
ledger clears its record and outputs, after it the runner records it. Rank-aware: under `torchrun`
/ `accelerate launch`, rank 0 runs and records every step and the other ranks join only the
training steps, waiting for rank 0's records of everything else.
"""

from __future__ import annotations

import os
import platform
import time

from rich.console import Console

from ponder.config import StudyConfig, dump_study
from ponder.errors import PonderError
from ponder.pipeline import ledger
from ponder.pipeline.expand import expand
from ponder.pipeline.stages import Context, execute
from ponder.pipeline.steps import STAGE_KINDS, Step, StepKind, closure
from ponder.rundir import RunDir, atomic_write_json, atomic_write_text, code_version, config_hash

console = Console(stderr=True, highlight=False)


def rank() -> int:
    """This process's rank under torchrun / accelerate launch (0 when launched alone)."""
    return int(os.environ.get("RANK", 0)) if int(os.environ.get("WORLD_SIZE", 1)) > 1 else 0


def _wait_done(rd: RunDir, step: Step, poll_s: float) -> None:
    # If rank 0 dies, the launcher (torchrun, accelerate) stops the other ranks.
    while not ledger.is_usable(rd, step):
        time.sleep(poll_s)


def select(steps: dict[str, Step], stage: str | None, only: list[str] | None = None) -> list[str]:
    """The step ids a run covers: all, or a stage command's steps (or the `only` ids) with
    every step they depend on."""
    if only is not None:
        unknown = [s for s in only if s not in steps]
        if unknown:
            raise PonderError(f"no step {unknown[0]!r} in this study (see `ponder validate`)")
        return closure(steps, only)
    if stage is None:
        return list(steps)
    kinds = STAGE_KINDS[stage]
    return closure(steps, [sid for sid, s in steps.items() if s.kind in kinds])


def _run_one(ctx: Context, step: Step, me: int, poll_s: float) -> float:
    """Run a step that is not done; returns its seconds (0 for a waiting rank)."""
    if me and step.kind is not StepKind.TRAIN:
        _wait_done(ctx.rd, step, poll_s)
        return 0.0
    for d in step.depends_on:
        if me:
            _wait_done(ctx.rd, ctx.steps[d], poll_s)
        elif not ledger.is_usable(ctx.rd, ctx.steps[d]):
            raise PonderError(f"step {step.id} needs {d} first")
    if me == 0:
        if ctx.progress:
            console.print(f"[bold]▶ {step.id}[/bold]")
        ledger.begin(ctx.rd, step)
    t0 = time.time()
    info = execute(ctx, step)
    dt = time.time() - t0
    if me == 0:
        ledger.record(ctx.rd, step, dt, info)
        if info.get("incomplete"):
            console.print(
                f"warning: {step.id} is incomplete ({info['incomplete']} missing: "
                f"{info.get('why', 'see its record')}); the next run retries them"
            )
    return dt


def run_steps(
    cfg: StudyConfig,
    rd: RunDir,
    stage: str | None = None,
    *,
    only: list[str] | None = None,
    rerun_outdated: bool = False,
    quiet: bool = False,
    poll_s: float = 2.0,
) -> dict[str, float]:
    """Run every step of the study (or a stage's, or `only` these), skipping finished ones;
    returns wall seconds per step kind run now."""
    ctx = Context(cfg, rd, {s.id: s for s in expand(cfg)}, progress=not quiet)
    me = rank()
    rd.root.mkdir(parents=True, exist_ok=True)
    if me == 0:
        atomic_write_text(rd.study_yaml(), dump_study(cfg))
    wanted = select(ctx.steps, stage, only)
    old = ledger.outdated(rd, [ctx.steps[s] for s in wanted]) if me == 0 else []
    if old and not rerun_outdated:
        console.print(
            f"note: {len(old)} finished step(s) were made by another version of ponder "
            f"(e.g. {old[0]}); kept. --rerun-outdated redoes them."
        )
    timings: dict[str, float] = {}
    for sid in wanted:
        step = ctx.steps[sid]
        if ledger.is_done(rd, step) and not (rerun_outdated and sid in old):
            continue
        dt = _run_one(ctx, step, me, poll_s)
        timings[str(step.kind)] = timings.get(str(step.kind), 0.0) + dt
    if me == 0:
        write_manifest(cfg, rd, list(ctx.steps.values()))
    return timings


def write_manifest(cfg: StudyConfig, rd: RunDir, steps: list[Step]) -> None:
    """Provenance for the report: code version, config hash, hardware, wall seconds per stage."""
    import torch

    hardware = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    atomic_write_json(
        rd.manifest(),
        {
            "study": cfg.name,
            "config_hash": config_hash(cfg.model_dump(mode="json")),
            "code_version": code_version(),
            "hardware": f"{hardware}, {platform.machine()}, {torch.get_num_threads()} threads",
            "host": platform.node(),
            "stages": ledger.seconds_by_kind(rd, steps),
            "stage_order": [str(k) for k in StepKind],
            "steps": len(steps),
            "updated": time.time(),
        },
    )
