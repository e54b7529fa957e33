"""Arguments and options every study command shares, and the one call a stage command makes."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

StudyArg = Annotated[
    Optional[str],  # noqa: UP045  (typer needs Optional for optional arguments)
    typer.Argument(help="Study YAML path or built-in name (default: tiny)."),
]
OutOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--out", help="Run directory (default: <out_dir>/<name>)."),
]
SetOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--set", help="Override a config value: key.path=value (repeatable, YAML values)."
    ),
]
RerunOpt = Annotated[
    bool,
    typer.Option("--rerun-outdated", help="Redo finished steps made by another ponder version."),
]


def run_stage(
    stage: str | None,
    study: str | None,
    out: str | None,
    overrides: list[str] | None,
    *,
    rerun_outdated: bool = False,
    quiet: bool = False,
):
    """Load the study and run a stage's steps (and what they need) through the runner; returns
    the run directory and the steps' expansion for the caller's summary."""
    from ponder.config import load_study
    from ponder.pipeline.runner import run_steps
    from ponder.pipeline.steps import run_dir_for

    cfg = load_study(study, overrides or [])
    rd = run_dir_for(cfg, out)
    run_steps(cfg, rd, stage, rerun_outdated=rerun_outdated, quiet=quiet)
    return cfg, rd
