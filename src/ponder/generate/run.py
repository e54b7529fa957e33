"""The generate stage (§2.2): one teacher answers every prompt of a domain twice.

`generate_domain` streams a domain's prompts to the teacher (stream.py) and commits finished rows
in atomic shards (shards.py), so a killed run resumes losing at most the in-flight requests; it
ends in `pairs/<domain>.parquet`, one row per prompt. On a cluster the planner splits a big domain
into n shard steps: `generate_shard` answers the rows of one contiguous slice of the source, and
`merge_shards` joins the finished slices after checking that every prompt has exactly one row.
Whether a step is done is the runner's business; these functions only do the work.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ponder.config import StudyConfig
from ponder.errors import PonderError
from ponder.generate.progress import Progress
from ponder.generate.shards import ShardStore
from ponder.generate.sources import iter_pairs, iter_prompts, source_size
from ponder.generate.stream import MODES, SCHEMA, chunks, run_batched, run_streaming
from ponder.rundir import atomic_write_parquet, write_manifest


def _summary(table: pa.Table, seconds: float) -> dict:
    t = table.select([f"{m}{s}" for m in MODES for s in ("_tokens", "_truncated", "_error")])
    t = t.to_pandas()
    failed = t["ift_error"].notna() | t["reasoning_error"].notna()
    out: dict = {"rows": len(t), "failed": int(failed.sum())}
    ok = t[~failed]
    for m in MODES:
        out[f"{m}_truncated"] = int(t[f"{m}_truncated"].sum())
        out[f"{m}_mean_tokens"] = round(float(ok[f"{m}_tokens"].mean()), 2) if len(ok) else 0.0
    out["truncated"] = int((t["ift_truncated"] | t["reasoning_truncated"]).sum())
    out["seconds"] = round(seconds, 3)
    return out


def _rows(cfg: StudyConfig, domain: str, keep) -> tuple[Iterable[dict], bool]:
    """The domain's rows to answer (those `keep(row)` accepts), and whether they hold answers."""
    paired = cfg.domains[domain].source.kind == "paired"
    rows = iter_pairs(cfg, domain) if paired else iter_prompts(cfg, domain)
    return (r for r in rows if keep(r)), paired


def _answer(
    cfg: StudyConfig,
    domain: str,
    out: Path,
    cfg_hash: str,
    bounds: tuple[int, int] | None,
    progress: bool,
) -> dict:
    """Answer the domain's rows (those with a source index in `bounds`, default all) into `out`,
    resuming from committed shards; return the summary."""
    started = time.time()
    store = ShardStore(out, cfg_hash, SCHEMA)
    done = store.done_ids()
    lo, hi = bounds or (0, float("inf"))
    rows, paired = _rows(cfg, domain, lambda r: lo <= r["idx"] < hi and r["id"] not in done)
    lm = None
    if not paired:
        from ponder.lm import make_teacher

        lm = make_teacher(cfg.teacher)
    pool = None
    if hasattr(lm, "agenerate") and cfg.teacher.client_processes > 1:
        from ponder.generate.pool import ClientPool

        pool = ClientPool(
            cfg, domain, out, cfg_hash, bounds
        )  # forked before the bar's thread exists
    total = source_size(cfg, domain) if progress else 0
    with Progress(domain, len(done), total, enabled=progress) as bar:
        if pool is not None:
            pool.wait(bar)
        elif lm is None:
            for chunk in chunks(rows, cfg.teacher.shard_size):
                store.commit(chunk)
                for p in chunk:
                    bar.tick(p)
        elif hasattr(lm, "agenerate"):
            asyncio.run(run_streaming(lm, rows, cfg, store, bar.tick))
        else:
            run_batched(lm, rows, cfg, store, bar.tick)
    store.finalize()
    summary = _summary(pq.read_table(out), time.time() - started) | {"resumed_rows": len(done)}
    write_manifest(out, started, domain=domain, teacher=cfg.teacher.model, **summary)
    store.clear()
    return summary


def generate_domain(
    cfg: StudyConfig, domain: str, out: Path, cfg_hash: str, *, progress: bool = True
) -> dict:
    """Write `out` (the domain's pairs, one row per prompt) and its manifest; return the summary:
    rows, failed, truncated (per mode and total), mean tokens per mode, seconds."""
    if domain not in cfg.domains:
        raise PonderError(f"--domain: unknown domain {domain!r} (known: {', '.join(cfg.domains)})")
    return _answer(cfg, domain, Path(out), cfg_hash, None, progress)


def shard_bounds(n_rows: int, k: int, n: int) -> tuple[int, int]:
    """Source rows [start, stop) of shard k of n: contiguous, sizes differing by at most one."""
    return k * n_rows // n, (k + 1) * n_rows // n


def generate_shard(
    cfg: StudyConfig, domain: str, k: int, n: int, out: Path, cfg_hash: str, *, progress=False
) -> dict:
    """Answer shard k of n of a domain's source rows (by source index) into `out`."""
    lo, hi = shard_bounds(source_size(cfg, domain), k, n)
    summary = _answer(cfg, domain, Path(out), cfg_hash, (lo, hi), progress)
    return summary | {"shard": k, "num_shards": n, "first_row": lo, "stop_row": hi}


def merge_shards(cfg: StudyConfig, domain: str, shards: list[Path], out: Path) -> dict:
    """Join finished shards into the domain's pairs, in source order, after checking that every
    shard is there and every prompt has exactly one row."""
    started = time.time()
    missing = [p for p in shards if not Path(p).is_file()]
    if missing:
        raise PonderError(f"generate:{domain}: shard {missing[0]} is missing")
    table = pa.concat_tables([pq.read_table(p) for p in shards])
    ids = table.column("id").to_pylist()
    dup = next((i for i, c in Counter(ids).items() if c > 1), None)
    if dup is not None:
        raise PonderError(f"generate:{domain}: prompt {dup!r} has a row in two shards")
    expected = sum(1 for _ in _rows(cfg, domain, lambda r: True)[0])
    if len(ids) != expected:
        raise PonderError(f"generate:{domain}: shards hold {len(ids)} rows, the source {expected}")
    atomic_write_parquet(out, table)
    summary = _summary(table, time.time() - started) | {"shards": len(shards)}
    write_manifest(out, started, domain=domain, teacher=cfg.teacher.model, **summary)
    return summary
