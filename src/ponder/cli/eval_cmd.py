"""`ponder eval` and `ponder judge`: score existing answers, or run the study's eval/judge stage.

`ponder eval --benchmark NAME --responses FILE.jsonl` (contract) scores answers that already
exist: each JSONL row carries `response` and either `id` (the benchmark's item id) or `prompt`
(the item's question text as in the data file, or the full prompt). An unmatched row, a second
row for one item, a line that is not UTF-8 JSON, and a file with no row are errors naming the
file and line. `--json` prints one object: benchmark, n, accuracy (+ the IFEval four, or SQuAD /
CoQA exact_match and f1, all percentages); `--out` writes the per-item verdicts (.jsonl or
.parquet). Without `--responses`, `ponder eval [STUDY]` runs the study's eval stage.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ponder.cli.options import JsonOpt, OutOpt, SetOpt, StudyArg, echo_json, run_stage
from ponder.errors import PonderError

console = Console(highlight=False)


def _parse_line(raw: bytes, path: Path, n: int) -> dict | None:
    """One JSONL line as a row (None when blank); every way it can be wrong names the line."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PonderError(
            f"{path}:{n}: not UTF-8 text (byte {raw[e.start]:#04x}); is it a binary file?"
        ) from None
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise PonderError(f"{path}:{n}: not valid JSON ({e.msg})") from None
    except RecursionError:  # json's decoder recurses once per nesting level (~1,000 levels)
        raise PonderError(f"{path}:{n}: not valid JSON (nested too deeply)") from None
    if not isinstance(row, dict) or not isinstance(row.get("response"), str):
        raise PonderError(f"{path}:{n}: row needs a string field `response`")
    return row


def read_responses(path: Path, limit: int | None = None, seed: int = 0) -> list[tuple[int, dict]]:
    """(line number, row) for each JSONL row; a seeded subsample of `limit` rows if given.
    A file with no row is an error: a score over nothing is not a score."""
    if not path.is_file():
        raise PonderError(f"--responses: no such file {path}")
    rows = []
    try:
        with path.open("rb") as f:
            for n, raw in enumerate(f, 1):
                if (row := _parse_line(raw, path, n)) is not None:
                    rows.append((n, row))
    except OSError as e:
        raise PonderError(f"--responses: cannot read {path} ({e.strerror})") from None
    if not rows:
        raise PonderError(f"{path}: no responses (the file is empty or only blank lines)")
    if limit is not None and limit < len(rows):
        rows = [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), limit))]
    return rows


def match_items(bench, rows: list[tuple[int, dict]], source: str) -> list[tuple[object, dict]]:
    """Each row's benchmark item (by id or prompt); two rows answering one item is an error
    naming both lines (a double-counted item would bias the score)."""
    from ponder.evaluate.benchmarks import find_item

    first_line: dict[str, int] = {}
    matched = []
    for n, row in rows:
        item = find_item(bench, row, n, source)
        if item.id in first_line:
            raise PonderError(
                f"{source}:{n}: item {item.id!r} is already answered on line {first_line[item.id]}"
            )
        first_line[item.id] = n
        matched.append((item, row))
    return matched


def score_responses(bench, rows: list[tuple[int, dict]], source: str) -> tuple[dict, list[dict]]:
    """Score matched rows with the benchmark's rule scorer: (summary, per-item verdicts)."""
    from ponder.evaluate.stats import accuracy_ci

    matched = match_items(bench, rows, source)  # all errors first
    verdicts = []
    for item, row in matched:
        v = bench.score(item, row["response"])
        verdicts.append({"id": item.id, "gold": item.gold, **v})
    n = len(verdicts)
    acc, lo, hi = accuracy_ci([v["correct"] for v in verdicts])
    summary: dict = {"benchmark": bench.name, "n": n, "accuracy": acc, "ci95": [lo, hi]}
    if bench.scorer == "ifeval":
        from ponder.evaluate.ifeval import IFEvalResult, aggregate

        summary.update(
            aggregate([IFEvalResult(v["follow_strict"], v["follow_loose"]) for v in verdicts])
        )
    if bench.scorer in ("squad", "coqa"):
        summary["exact_match"] = 100.0 * sum(v["em"] for v in verdicts) / max(n, 1)
        summary["f1"] = 100.0 * sum(v["f1"] for v in verdicts) / max(n, 1)
    if bench.scorer != "ifeval":
        summary["boxed_rate"] = 100.0 * sum(v["boxed"] for v in verdicts) / max(n, 1)
    return summary, verdicts


def _write_verdicts(out: Path, verdicts: list[dict]) -> None:
    from ponder.rundir import atomic_write_parquet, atomic_write_text

    if out.suffix == ".parquet":
        import pyarrow as pa

        atomic_write_parquet(out, pa.Table.from_pylist(verdicts))
    else:
        atomic_write_text(out, "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in verdicts))


def eval_(
    study: StudyArg = None,
    benchmark: Annotated[
        str | None,
        typer.Option("--benchmark", help="Benchmark name (see `ponder eval --list`)."),
    ] = None,
    responses: Annotated[
        Path | None,
        typer.Option(
            "--responses", help="JSONL of answers to score: `response` + `id` or `prompt`."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder of benchmark files, or `hub`. "
            "Default: $PONDER_DATA_DIR, else ~/.cache/ponder/benchmarks.",
        ),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="With --responses: per-item verdicts (.jsonl|.parquet); else the run directory.",
        ),
    ] = None,
    as_json: JsonOpt = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Score a seeded subsample of N rows.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Subsample seed.")] = 0,
    list_: Annotated[bool, typer.Option("--list", help="List the benchmarks and exit.")] = False,
    set_: SetOpt = None,
) -> None:
    """Score existing answers (--benchmark + --responses), or run a study's eval stage."""
    from ponder.evaluate.benchmarks import list_benchmarks

    if list_:
        console.print("\n".join(list_benchmarks()))
        return
    if responses is None:
        if benchmark is not None:
            raise PonderError(
                "--benchmark needs --responses (a study's benchmarks come from its config)"
            )
        run_stage("eval", study, out, set_)
        return
    if benchmark is None:
        raise PonderError("--responses needs --benchmark NAME")
    score_file(benchmark, responses, data_dir, out, as_json, limit, seed)


def score_file(
    benchmark: str,
    responses: Path,
    data_dir: Path | None,
    out: str | None,
    as_json: bool,
    limit: int | None,
    seed: int,
) -> None:
    """`ponder eval --benchmark --responses`: score, write the verdicts, print the summary."""
    from ponder.evaluate.benchmarks import load_benchmark

    t0 = time.perf_counter()
    if out and Path(out).is_dir():
        raise PonderError(f"--out: {out} is a folder; give a .jsonl or .parquet file")
    bench = load_benchmark(benchmark, data_dir)
    rows = read_responses(responses, limit, seed)
    summary, verdicts = score_responses(bench, rows, str(responses))
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    if out:
        _write_verdicts(Path(out), verdicts)
    if as_json:
        echo_json(summary)
        return
    table = Table(title=f"{bench.name}: {summary['n']} answers")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        if k in ("benchmark", "n", "seconds"):
            continue
        table.add_row(k, f"[{v[0]:.1f}, {v[1]:.1f}]" if isinstance(v, list) else f"{v:.2f}")
    console.print(table)


def judge(study: StudyArg = None, out: OutOpt = None, set_: SetOpt = None) -> None:
    """Run the study's judge stage: the panel's verdicts on every evaluated answer."""
    run_stage("judge", study, out, set_)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_)
    app.command("judge")(judge)
