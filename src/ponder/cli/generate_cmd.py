"""`ponder generate`: the teacher answers every prompt of a study's domains twice (§2.2).

Resumable: re-running the same command after an interruption continues where it stopped; a
finished domain with an unchanged config is skipped and its summary printed again. `--dry-run`
counts prompts and estimates tokens and teacher FLOPs without calling the teacher.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ponder.config import load_study
from ponder.errors import PonderError

STUDY_HELP = "Study YAML path or built-in name (default: tiny)."


def _table(title: str, summaries: dict[str, dict]) -> Table:
    keys: list[str] = []
    for s in summaries.values():
        keys += [k for k in s if k not in keys and k not in ("domain", "dry_run")]
    table = Table(title=title)
    table.add_column("")
    for d in summaries:
        table.add_column(d, justify="right")
    for k in keys:
        cells = []
        for s in summaries.values():
            v = s.get(k)
            cells.append(f"{v:.3e}" if isinstance(v, float) and abs(v) >= 1e7 else str(v))
        table.add_row(k, *cells)
    return table


def generate_cmd(
    study: str = typer.Argument(None, help=STUDY_HELP),
    out: Path = typer.Option(None, "--out", help="Run directory (default: <out_dir>/<name>)."),
    overrides: list[str] = typer.Option(None, "--set", help="Override a config key: a.b=value."),
    domain: list[str] = typer.Option(None, "--domain", help="Only this domain (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count and estimate; call no teacher."),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as one JSON object."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Generate IFT and reasoning answers for every prompt: runs/<study>/pairs/<domain>.parquet."""
    from ponder.generate.run import generate_domain

    cfg = load_study(study, overrides or [])
    run_dir = out or Path(cfg.out_dir) / cfg.name
    domains = domain or list(cfg.domains)
    for d in domains:
        if d not in cfg.domains:
            known = ", ".join(cfg.domains) or "none"
            raise PonderError(f"--domain: unknown domain {d!r} (known: {known})")
    if not domains:
        raise PonderError(f"{study or 'tiny'}: the study declares no domains")
    summaries = {
        d: generate_domain(cfg, d, run_dir, dry_run=dry_run, progress=not (quiet or as_json))
        for d in domains
    }
    if as_json:
        typer.echo(json.dumps(summaries))
        return
    title = "dry run: estimates" if dry_run else f"pairs in {run_dir / 'pairs'}"
    Console().print(_table(title, summaries))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
