"""`ponder run`, `ponder validate` and `ponder report`: a whole study, its grid, its report."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ponder.cli.options import OutOpt, RerunOpt, SetOpt, StudyArg, run_stage

console = Console(highlight=False)


def validate(study: StudyArg = None, set_: SetOpt = None) -> None:
    """Check a study as `ponder run` would before writing anything (values, world, benchmarks and
    their data, sources, students) and print its expanded grid (students × domains × ratios ×
    schedules × seeds × benchmarks)."""
    from ponder.config import load_study
    from ponder.pipeline.expand import expand, grid_rows
    from ponder.pipeline.validate import validate_study

    cfg = load_study(study, set_ or [])
    validate_study(cfg)  # what a fresh `ponder run` of the whole study would check
    rows = grid_rows(cfg)
    cols = ("model", "student", "phases", "schedule", "seed", "benchmarks")
    table = Table(title=f"study {cfg.name}: {len(rows)} trained models")
    for col in cols:
        table.add_column(col, no_wrap=col == "model")
    for r in rows:
        table.add_row(*(str(r[c]) for c in cols))
    console.print(table)
    kinds: dict[str, int] = {}
    for s in expand(cfg):
        kinds[str(s.kind)] = kinds.get(str(s.kind), 0) + 1
    console.print(
        f"students {len(cfg.students)} × domains {len(cfg.domains)} × benchmarks "
        f"{len(cfg.eval.benchmarks)}; steps: " + ", ".join(f"{k} {v}" for k, v in kinds.items())
    )


def run(
    study: StudyArg = None,
    out: OutOpt = None,
    set_: SetOpt = None,
    rerun_outdated: RerunOpt = False,
) -> None:
    """Run a whole study (default: the built-in tiny study); finished steps are skipped."""
    t0 = time.time()
    _, rd = run_stage(None, study, out, set_, rerun_outdated=rerun_outdated)
    print_summary(rd.results())
    console.print(f"wall time {time.time() - t0:.1f} s")
    console.print(f"run directory: {rd.root.resolve()}")


def report(study: StudyArg = None, out: OutOpt = None, set_: SetOpt = None) -> None:
    """Write <run>/report/index.html (+ PNG figures, report.md, numbers.json). STUDY may also be a
    run directory: its report is drawn from the results.parquet there."""
    if study and Path(study).is_dir() and not out and not set_:
        from ponder.report.build import build_report

        with console.status("drawing the analyses"):
            index = build_report(Path(study))
    else:
        _, rd = run_stage("report", study, out, set_)
        index = rd.report_index()
    console.print(f"report: {index.resolve()}")


def print_summary(results: Path) -> None:
    """Accuracy and mean answer tokens per model × benchmark family."""
    import pandas as pd

    if not results.exists():
        return
    df = pd.read_parquet(results)
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
    app.command("report")(report)
