"""Arguments and options every study command shares, the one call a stage command makes
(validate, then run), and the one way a command prints `--json`."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Optional

import typer

from ponder.errors import PonderError

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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
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
    """Load the study, validate what the stage's pending steps need (nothing is written before
    that passes), and run the stage's steps (and what they need) through the runner; returns
    the config and the run directory for the caller's summary."""
    from ponder.config import load_study
    from ponder.pipeline.runner import run_steps
    from ponder.pipeline.steps import run_dir_for
    from ponder.pipeline.validate import validate_run

    cfg = load_study(study, overrides or [])
    rd = run_dir_for(cfg, out)
    validate_run(cfg, rd, stage, rerun_outdated=rerun_outdated)
    run_steps(cfg, rd, stage, rerun_outdated=rerun_outdated, quiet=quiet)
    return cfg, rd


def _non_finite(value: Any, path: str = "") -> str | None:
    """The dotted path of the first NaN or infinity in a JSON-like value, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(top level)"
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list | tuple)
        else ()
    )
    for k, v in items:
        if (found := _non_finite(v, f"{path}.{k}" if path else str(k))) is not None:
            return found
    return None


def echo_json(record: Any) -> None:
    """Print one JSON object. NaN and infinity are not JSON: a result holding one is an error
    naming the field (an input out of range got past its check), never printed."""
    bad = _non_finite(record)
    if bad is not None:
        raise PonderError(
            f"--json: result field {bad} is not a finite number (an input is out of range)"
        )
    typer.echo(json.dumps(record, allow_nan=False))
