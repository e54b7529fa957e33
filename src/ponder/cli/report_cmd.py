"""`ponder report RUN_DIR`: draw the paper's analyses for a finished (or partial) study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ponder.errors import PonderError

console = Console(highlight=False)


def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory holding results.parquet.")],
) -> None:
    """Write RUN_DIR/report/index.html (+ PNG figures, report.md, numbers.json)."""
    from ponder.report.build import build_report

    if not run_dir.is_dir():
        raise PonderError(f"RUN_DIR {run_dir}: not a directory")
    with console.status("drawing the analyses"):
        index = build_report(run_dir)
    console.print(f"report: {index.resolve()}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
