"""`ponder data download [BENCHMARK...]`: fill the benchmark cache that `ponder eval` and studies
read by default (`$PONDER_DATA_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/ponder/benchmarks`).

Each benchmark's hub splits (test and few-shot) are fetched, checked against the expected item
count, and only then written (evaluate/download.py). `--from DIR` reads hub-shaped copies
(`DIR/<owner>/<name>/`) instead of the hub: an offline mirror, or test fixtures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ponder.cli.options import JsonOpt, echo_json

console = Console(highlight=False)
data_app = typer.Typer(help="Benchmark data: download the hub splits the benchmarks read.")


@data_app.command("download")
def download_(
    benchmarks: Annotated[
        list[str] | None, typer.Argument(help="Benchmark names (default: every one on the hub).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Cache to fill (default: $PONDER_DATA_DIR, else ~/.cache/ponder/benchmarks).",
        ),
    ] = None,
    from_: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Folder of hub-shaped copies (<owner>/<name>/) to read instead of the hub.",
        ),
    ] = None,
    no_count_check: Annotated[
        bool,
        typer.Option(
            "--no-count-check",
            help="Accept item counts that differ from the expected ones (a partial mirror).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Download benchmarks into the cache, checking each one's item count."""
    from ponder.evaluate.benchmarks import default_data_dir
    from ponder.evaluate.download import download

    target = data_dir or default_data_dir()
    rows = download(benchmarks, target, from_, check_counts=not no_count_check)
    if as_json:
        echo_json({"data_dir": str(target), "benchmarks": rows})
        return
    table = Table(title=f"benchmarks in {target}")
    for c in ("benchmark", "items", "expected", "few-shot", "files"):
        table.add_column(c)
    for r in rows:
        table.add_row(
            r["benchmark"],
            str(r["items"]),
            str(r["expected"] or "-"),
            str(r["fewshot"]),
            str(len(r["files"])),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
