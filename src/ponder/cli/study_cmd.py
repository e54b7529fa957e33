"""`ponder run` and `ponder validate`: the whole study, and its expanded grid."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

StudyArg = Annotated[
    Optional[str],  # noqa: UP045  (typer needs Optional for optional arguments)
    typer.Argument(help="Study YAML path or built-in name (default: tiny)."),
]
OutOpt = Annotated[Optional[str], typer.Option("--out", help="Run directory.")]  # noqa: UP045
SetOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--set", help="Override a config value: key.path=value (repeatable)."),
]

console = Console(highlight=False)


def validate(study: StudyArg = None, set_: SetOpt = None) -> None:
    """Check a study config and print its expanded grid (students × domains × ratios × schedules ×
    benchmarks)."""
    from ponder.config import load_study
    from ponder.pipeline.steps import expand, grid_rows

    cfg = load_study(study, set_ or [])
    rows = grid_rows(cfg)
    table = Table(title=f"study {cfg.name}: {len(rows)} trained models")
    for col in ("model", "student", "phases", "schedule", "seed", "benchmarks"):
        table.add_column(col, no_wrap=col == "model")
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("model", "student", "phases", "schedule", "seed",
                                            "benchmarks")))  # fmt: skip
    console.print(table)
    steps = expand(cfg)
    kinds: dict[str, int] = {}
    for s in steps:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    console.print(
        f"students {len(cfg.students)} × domains {len(cfg.domains)} × benchmarks "
        f"{len(cfg.eval.benchmarks)}; steps: " + ", ".join(f"{k} {v}" for k, v in kinds.items())
    )


def run(study: StudyArg = None, out: OutOpt = None, set_: SetOpt = None) -> None:
    """Run a whole study (default: the built-in tiny study); finished steps are skipped."""
    from ponder.config import load_study
    from ponder.pipeline.runner import run_steps
    from ponder.pipeline.steps import run_dir_for

    cfg = load_study(study, set_ or [])
    run_dir = run_dir_for(cfg, out)
    t0 = time.time()
    run_steps(cfg, run_dir)
    print_summary(run_dir)
    console.print(f"wall time {time.time() - t0:.1f} s")
    console.print(f"run directory: {Path(run_dir).resolve()}")


def print_summary(run_dir: Path) -> None:
    """Accuracy and mean answer tokens per model × benchmark family."""
    import pandas as pd

    res = Path(run_dir) / "results.parquet"
    if not res.exists():
        return
    df = pd.read_parquet(res)
    benches = sorted(df["benchmark"].unique())
    table = Table(title="accuracy % (mean answer tokens)")
    table.add_column("model", no_wrap=True)  # model ids are the table's keys: never cut them
    for b in benches:  # the tiny world's prefix carries no information in a column header
        table.add_column(b.removeprefix("tiny-"), justify="right")
    for model, g in df.groupby("model", sort=False):
        cells = {
            r.benchmark: f"{100 * r.accuracy:.1f} ({r.mean_tokens:.0f})" for r in g.itertuples()
        }
        table.add_row(model, *(cells.get(b, "") for b in benches))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("validate")(validate)
