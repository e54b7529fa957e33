"""`ponder generate`: the teacher answers every prompt of a study's domains twice (§2.2).

The domains' generate steps run through the runner: a finished domain with an unchanged config is
skipped, an interrupted one resumes from its committed shards. `--dry-run` counts prompts and
estimates tokens and teacher FLOPs without calling the teacher and writes nothing.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ponder.cli.options import JsonOpt, OutOpt, SetOpt, StudyArg, echo_json
from ponder.errors import PonderError


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


def _domains(cfg, wanted: list[str] | None, dry_run: bool) -> list[str]:
    """The domains to generate: those asked for, else every domain the grid trains on (a dry
    run may also price a declared domain no grid block uses)."""
    from ponder.records import model_runs

    used = sorted({d for r in model_runs(cfg) for d, _ in r.phases})
    domains = wanted or (list(cfg.domains) if dry_run else used)
    for d in domains:
        if d not in cfg.domains:
            known = ", ".join(cfg.domains) or "none"
            raise PonderError(f"--domain: unknown domain {d!r} (known: {known})")
        if not dry_run and d not in used:
            raise PonderError(
                f"--domain: no grid block trains on {d!r} (grid domains: "
                f"{', '.join(used)}); nothing to generate"
            )
    if not domains:
        raise PonderError(f"{cfg.name}: the study declares no domains")
    return domains


def _generate(cfg, rd, domains: list[str], quiet: bool) -> dict[str, dict]:
    from ponder.pipeline import ledger
    from ponder.pipeline.runner import run_steps
    from ponder.pipeline.validate import validate_run

    ids = [f"generate:{d}" for d in domains]
    validate_run(cfg, rd, only=ids)  # before the run directory is made
    run_steps(cfg, rd, only=ids, quiet=quiet)
    return {d: (ledger.read(rd, f"generate:{d}") or {}).get("info", {}) for d in domains}


def generate_cmd(
    study: StudyArg = None,
    out: OutOpt = None,
    set_: SetOpt = None,
    domain: Annotated[
        list[str] | None, typer.Option("--domain", help="Only this domain (repeatable).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Estimate; call no teacher.")] = False,
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Generate IFT and reasoning answers for every prompt: <run>/pairs/<domain>.parquet."""
    from ponder.config import load_study
    from ponder.pipeline.steps import run_dir_for

    cfg = load_study(study, set_ or [])
    rd = run_dir_for(cfg, out)
    domains = _domains(cfg, domain, dry_run)
    if dry_run:
        from ponder.generate.dryrun import estimate_domain
        from ponder.pipeline.validate import check_registries, check_source

        check_registries(cfg)
        for d in domains:
            check_source(cfg, d)
        summaries = {d: estimate_domain(cfg, d) for d in domains}
    else:
        summaries = _generate(cfg, rd, domains, quiet or as_json)
    if as_json:
        echo_json(summaries)
        return
    title = "dry run: estimates" if dry_run else f"pairs in {rd.root / 'pairs'}"
    Console().print(_table(title, summaries))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
