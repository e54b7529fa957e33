"""`ponder mix` and `ponder train`: the study's mixing and training stages, one at a time.

Both run the same steps as `ponder run` restricted to one stage (the study runner owns the grid,
caching and resume): `mix` writes each arm's ordered examples (ratio ρ, schedule, phases), `train`
trains every student of the grid on its mixes (Appendix B) and writes HF checkpoints with a
training-FLOPs ledger. Finished steps with an unchanged config are skipped.
"""

from __future__ import annotations

from pathlib import Path

import typer

STUDY_HELP = "Study YAML path or built-in name (default: tiny)."
OUT_HELP = "Run directory (default: <out_dir>/<name>)."
SET_HELP = "Override a config key: a.b=value (repeatable), e.g. train.packing=true."


def _stage(stage: str, study: str | None, out: Path | None, overrides: list[str] | None) -> None:
    from ponder.pipeline.steps import run_stage  # lazy: keeps `ponder --help` fast

    run_stage(stage, study, out=str(out) if out else None, overrides=list(overrides or []))


def mix_cmd(
    study: str = typer.Argument(None, help=STUDY_HELP),
    out: Path = typer.Option(None, "--out", help=OUT_HELP),
    overrides: list[str] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """Build the reasoning-ratio mixes (nested X_ρ, sequential | mixed, bi-phasic phases)."""
    _stage("mix", study, out, overrides)


def train_cmd(
    study: str = typer.Argument(None, help=STUDY_HELP),
    out: Path = typer.Option(None, "--out", help=OUT_HELP),
    overrides: list[str] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """Train the grid's students on their mixes (token batches, WSD, answer-only loss)."""
    _stage("train", study, out, overrides)


def register(app: typer.Typer) -> None:
    app.command("mix")(mix_cmd)
    app.command("train")(train_cmd)
