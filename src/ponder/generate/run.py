"""The generate stage (§2.2): one teacher answers every prompt of a domain twice.

`generate_domain` streams a domain's prompts to the teacher (stream.py) and commits finished rows
in atomic shards (shards.py), so a killed run resumes losing at most the requests in flight and
the rows of the last `commit_every_s`; it ends in `pairs/<domain>.parquet`, one row per prompt.
A prompt whose requests went unanswered (out of retries: the server down, overloaded, too slow)
never gets a row: the step is reported `incomplete` (usable by later steps of this run, not done,
so the next run asks exactly those prompts again), and when more than `max_failed_share` of the
prompts, or all of them, went unanswered, the stage fails with one line naming the server and
the last error. A rejected prompt (a 400: too long for the context) keeps its row, `*_error` set.
Every pair is checked against its modes (modecheck.py) as the shards are merged: flagged answers
get a column and a count; above `max_mode_mismatch_share` the stage fails, removes the pairs file
and drops the flagged rows from the shards, so the next run asks them again.
On a cluster the planner splits a big domain into n shard steps: `generate_shard` answers the
rows of one contiguous slice of the source, and `merge_shards` joins the finished slices after
checking that every prompt of every slice has exactly one row. Whether a step is done is the
runner's business; these functions only do the work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ponder.config import StudyConfig
from ponder.errors import PonderError
from ponder.generate import modecheck
from ponder.generate.progress import Progress
from ponder.generate.shards import ShardStore
from ponder.generate.sources import iter_pairs, iter_prompts, source_size
from ponder.generate.stream import MODES, SCHEMA, Tally, chunks, run_batched, run_streaming
from ponder.rundir import atomic_write_parquet, write_manifest

ERRORS = [f"{m}_error" for m in MODES]
# The columns the summary and the mode check read (not the answers: their flags are computed
# while the shards are merged).
_CHECKED = ["id"] + [
    f"{m}{s}" for m in MODES for s in ("_tokens", "_truncated", "_error", "_mode_mismatch")
]


def _summary(table: pa.Table, seconds: float) -> dict:
    """rows, rejected, truncated (per mode, total), mean tokens per mode, answers that contradict
    their mode (per mode, and pairs with either), seconds."""
    t = table.select([f"{m}{s}" for m in MODES for s in ("_tokens", "_truncated", "_error")])
    t = t.to_pandas()
    rejected = t["ift_error"].notna() | t["reasoning_error"].notna()
    out: dict = {"rows": len(t), "rejected": int(rejected.sum())}
    ok = t[~rejected]
    for m in MODES:
        out[f"{m}_truncated"] = int(t[f"{m}_truncated"].sum())
        out[f"{m}_mean_tokens"] = round(float(ok[f"{m}_tokens"].mean()), 2) if len(ok) else 0.0
    out["truncated"] = int((t["ift_truncated"] | t["reasoning_truncated"]).sum())
    out |= modecheck.counts(table)
    out["seconds"] = round(seconds, 3)
    return out


def _provenance(cfg: StudyConfig, domain: str) -> dict:
    """What the manifest names as the teacher: its model; for a pair of models, the reasoning
    one (the teacher as evaluated) and each mode's."""
    t = cfg.teacher
    models = {m: t.mode_model(m) for m in MODES}
    if cfg.domains[domain].source.kind == "paired" or len(set(models.values())) == 1:
        return {"domain": domain, "teacher": t.model}
    return {"domain": domain, "teacher": models["reasoning"], "teacher_models": models}


def _rows(cfg: StudyConfig, domain: str, keep) -> tuple[Iterable[dict], bool]:
    """The domain's rows to answer (those `keep(row)` accepts), and whether they hold answers."""
    paired = cfg.domains[domain].source.kind == "paired"
    rows = iter_pairs(cfg, domain) if paired else iter_prompts(cfg, domain)
    return (r for r in rows if keep(r)), paired


def _ask(cfg: StudyConfig, domain: str, store: ShardStore, job: tuple, progress: bool) -> Tally:
    """Answer the rows of `job` = (out, cfg_hash, bounds) not committed yet; the pass's tally."""
    out, cfg_hash, bounds = job
    done = store.done_ids()
    lo, hi = bounds or (0, float("inf"))
    rows, paired = _rows(cfg, domain, lambda r: lo <= r["idx"] < hi and r["id"] not in done)
    lms: dict = {}
    if not paired:
        from ponder.lm import teacher_modes

        lms = teacher_modes(cfg.teacher)
    streams = bool(lms) and all(hasattr(lm, "agenerate") for lm in lms.values())
    pool = None
    if streams and cfg.teacher.client_processes > 1:
        from ponder.generate.pool import ClientPool

        pool = ClientPool(cfg, domain, out, cfg_hash, bounds)  # before the bar's thread exists
    total = source_size(cfg, domain) if progress else 0
    with Progress(domain, len(done), total, enabled=progress) as bar:
        if pool is not None:
            return pool.wait(bar)
        if not lms:  # a paired source: the answers exist
            tally = Tally()
            for chunk in chunks(rows, cfg.teacher.shard_size):
                store.commit(chunk)
                tally.answered += len(chunk)
                for p in chunk:
                    bar.tick(p)
            return tally
        if streams:
            return asyncio.run(run_streaming(lms, rows, cfg, store, bar.tick))
        return run_batched(lms, rows, cfg, store, bar.tick)


def _check(cfg: StudyConfig, where: str, good: int, tally: Tally) -> None:
    """Fail when more than `max_failed_share` of the prompts, or all of them, got no answer."""
    total = good + tally.rejected + tally.failed
    share = cfg.teacher.max_failed_share
    if tally.failed and (tally.failed > share * total or good == 0):
        raise PonderError(
            f"{where}: {tally.failed} of {total} prompts went unanswered (teacher."
            f"max_failed_share: {share:g}); {good} answered rows are kept and the next run asks "
            f"only the rest; last error: {tally.last_error}"
        )
    if total and not good:
        raise PonderError(f"{where}: the teacher rejected every prompt, e.g. {tally.last_rejected}")


def _answer(cfg: StudyConfig, domain: str, out: Path, cfg_hash: str, bounds, progress) -> dict:
    """Answer the domain's rows (those with a source index in `bounds`, default all) into `out`,
    resuming from committed shards; return the summary."""
    started = time.time()
    store = ShardStore(out, cfg_hash, SCHEMA)
    # Rejected rows of an earlier, unfinished pass are asked again: the cause may have been the
    # server's (a context limit since raised), and a finished step never comes back here.
    store.drop_rows_with(ERRORS)
    resumed = len(store.done_ids())
    tally = _ask(cfg, domain, store, (out, cfg_hash, bounds), progress)
    _check(cfg, f"generate:{domain}", resumed + tally.answered, tally)
    store.finalize(extend=modecheck.with_flags)
    table = pq.read_table(out, columns=_CHECKED)
    try:
        modecheck.check(cfg, domain, table, f"generate:{domain}")
    except PonderError:  # no pairs file a later run could take for finished; the flagged rows go
        out.unlink(missing_ok=True)
        flagged = table.filter(pc.or_(table[modecheck.FLAGS[0]], table[modecheck.FLAGS[1]]))
        store.drop_ids(set(flagged.column("id").to_pylist()))
        raise
    summary = _summary(table, time.time() - started)
    summary |= {"failed": tally.failed, "resumed_rows": resumed}
    if tally.failed:  # keep the shards: the next run resumes from them
        summary |= {"incomplete": tally.failed, "why": tally.last_error}
    write_manifest(out, started, **_provenance(cfg, domain), **summary)
    if not tally.failed:
        store.clear()
    return summary


def generate_domain(
    cfg: StudyConfig, domain: str, out: Path, cfg_hash: str, *, progress: bool = True
) -> dict:
    """Write `out` (the domain's pairs, one row per prompt answered or rejected) and its
    manifest; return the summary: rows, rejected, failed (prompts without a row: `incomplete`),
    truncated (per mode and total), mean tokens per mode, seconds."""
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
    if not 0 <= k < n:
        raise PonderError(f"generate:{domain}: no shard {k} of {n}")
    lo, hi = shard_bounds(source_size(cfg, domain), k, n)
    summary = _answer(cfg, domain, Path(out), cfg_hash, (lo, hi), progress)
    return summary | {"shard": k, "num_shards": n, "first_row": lo, "stop_row": hi}


def _slices(cfg: StudyConfig, domain: str, n: int) -> list[set[str]]:
    """The prompt ids of each of the n slices of the source (one pass, source order)."""
    bounds = [shard_bounds(source_size(cfg, domain), k, n) for k in range(n)]
    out: list[set[str]] = [set() for _ in range(n)]
    k = 0
    for r in _rows(cfg, domain, lambda r: True)[0]:
        while r["idx"] >= bounds[k][1]:
            k += 1
        out[k].add(r["id"])
    return out


def _read_shard(path: Path, name: str, want: set[str], seen: set[str]) -> pa.Table:
    """One finished shard, checked against its slice of the source."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise PonderError(f"{name}: cannot read {path} ({str(e).splitlines()[0]})") from None
    ids = table.column("id").to_pylist()
    for i in ids:
        if i in seen:
            raise PonderError(f"{name}: prompt {i!r} has a second row ({path})")
        if i not in want:
            raise PonderError(f"{name}: prompt {i!r} belongs to another slice ({path})")
        seen.add(i)
    if len(ids) < len(want):
        raise PonderError(
            f"{name}: {path} holds {len(ids)} of its {len(want)} prompts (an incomplete shard: "
            "run its step again)"
        )
    return table


def merge_shards(cfg: StudyConfig, domain: str, shards: list[Path], out: Path) -> dict:
    """Join finished shards (`shards[k]` is shard k of len(shards)) into the domain's pairs, in
    source order, after checking that every shard is there and holds exactly one row for each
    prompt of its slice of the source."""
    started = time.time()
    n = len(shards)
    missing = next((k for k, p in enumerate(shards) if not Path(p).is_file()), None)
    if missing is not None:
        raise PonderError(f"generate:{domain}@{missing}/{n}: shard {shards[missing]} is missing")
    seen: set[str] = set()
    tables = [
        _read_shard(Path(p), f"generate:{domain}@{k}/{n}", want, seen)
        for k, (p, want) in enumerate(zip(shards, _slices(cfg, domain, n), strict=True))
    ]
    table = pa.concat_tables([modecheck.with_flags(t) for t in tables])
    atomic_write_parquet(out, table)
    summary = _summary(table, time.time() - started) | {"shards": n}
    write_manifest(out, started, **_provenance(cfg, domain), **summary)
    return summary
