"""`ponder mix` and `ponder train`: the study's mixing and training stages.

Each runs its stage's steps through the runner, with every step they need that is not done yet
(generation, the tokenizer and student inits): `mix` writes each arm's ordered examples (ratio ρ,
schedule, phases), `train` trains every model of the grid (Appendix B) into HF checkpoints with a
training-FLOPs ledger. Finished steps of an unchanged config are skipped.
"""

from __future__ import annotations

import typer

from ponder.cli.options import OutOpt, RerunOpt, SetOpt, StudyArg, run_stage


def mix_cmd(
    study: StudyArg = None,
    out: OutOpt = None,
    set_: SetOpt = None,
    rerun_outdated: RerunOpt = False,
) -> None:
    """Build the reasoning-ratio mixes (nested X_ρ, sequential | mixed, bi-phasic phases)."""
    run_stage("mix", study, out, set_, rerun_outdated=rerun_outdated)


def train_cmd(
    study: StudyArg = None,
    out: OutOpt = None,
    set_: SetOpt = None,
    rerun_outdated: RerunOpt = False,
) -> None:
    """Train the grid's students on their mixes (token batches, WSD, answer-only loss)."""
    run_stage("train", study, out, set_, rerun_outdated=rerun_outdated)


def register(app: typer.Typer) -> None:
    app.command("mix")(mix_cmd)
    app.command("train")(train_cmd)
