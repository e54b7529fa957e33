"""`ponder data download`: copy benchmarks' hub splits into the data dir's cache, checked.

For each benchmark, every hub split its definition reads (test and few-shot) is fetched with
`datasets.load_dataset` (from the hub, or from `--from DIR`, a folder of hub-shaped copies that
stands in for it) and written as Parquet into a staging folder. The benchmark is then loaded from
that folder exactly as `ponder eval` will load it: its item count must equal the definition's
expected count and 3 few-shot examples must exist. Only then do the files move into
`<data dir>/hub/`, so a failed or partial download never leaves files a later run would trust.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

from ponder.errors import PonderError
from ponder.evaluate.hubdata import cache_path, fetch
from ponder.evaluate.spec import list_benchmarks, load_spec

FEWSHOT_K = 3  # §2.3: base models are evaluated three-shot


def downloadable() -> list[str]:
    """Benchmarks with hub sources (all but those whose definition names only local files)."""
    return [
        n for n in list_benchmarks() if not n.startswith("tiny-") and load_spec(n).hub_sources()
    ]


def _check(name: str, staging: Path, check_counts: bool) -> dict:
    from ponder.evaluate.benchmarks import load_benchmark

    spec = load_spec(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the count is checked here, as an error
        bench = load_benchmark(name, staging)
    n = len(bench.items())
    if check_counts and spec.expected_items and n != spec.expected_items:
        raise PonderError(
            f"{name}: the hub copy gives {n} items, the definition expects {spec.expected_items}; "
            "nothing was written (pass --no-count-check for a partial mirror)"
        )
    shots = len(bench.fewshot(FEWSHOT_K)) if spec.fewshot else 0
    return {"benchmark": name, "items": n, "expected": spec.expected_items, "fewshot": shots}


def download(
    names: list[str] | None,
    data_dir: Path,
    hub_root: Path | None = None,
    check_counts: bool = True,
) -> list[dict]:
    """Fetch, check and install the named benchmarks (default: every downloadable one); one
    summary row per benchmark: items, expected, few-shot examples, files written."""
    names = names or downloadable()
    for n in names:
        spec = load_spec(n)  # unknown names fail before anything is fetched
        if not spec.hub_sources():
            raise PonderError(
                f"{n}: nothing to download: {spec.note or 'the definition names no hub dataset'}"
            )
    data_dir = Path(data_dir)
    staging = data_dir / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    rows = []
    try:
        for n in names:
            files = []
            for h in load_spec(n).hub_sources():
                dest = cache_path(staging, h)
                if not dest.is_file():  # splits shared by benchmarks (MMLU-Pro) are fetched once
                    _write_parquet(fetch(h, hub_root, n), dest)
                files.append(h.cache_name)
            rows.append(_check(n, staging, check_counts) | {"files": files})
        for row in rows:
            for f in row["files"]:
                final = data_dir / "hub" / f
                final.parent.mkdir(parents=True, exist_ok=True)
                if (staging / "hub" / f).is_file():
                    os.replace(staging / "hub" / f, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return rows


def _write_parquet(table, dest: Path) -> None:
    import pyarrow.parquet as pq

    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, dest)
