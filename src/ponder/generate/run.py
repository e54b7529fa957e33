"""The generate stage (§2.2): one teacher answers every prompt twice, thinking off and on.

`generate_domain` streams a domain's prompts, asks the teacher for an IFT answer (thinking off,
T=0.7, top_p=0.8) and a reasoning answer (thinking on, T=0.6, top_p=0.95) per prompt, and commits
finished rows in atomic shards (shards.py) so a killed run resumes losing at most the in-flight
requests. Backends with an async API (OpenAI-compatible servers) run a bounded number of requests
in flight; the others get one shard per batched call. The result is `pairs/<domain>.parquet`, one
row per prompt, with truncation (finish=length or an unclosed `<think>`) flagged, never dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ponder.config import StudyConfig
from ponder.errors import PonderError
from ponder.generate.shards import ShardStore
from ponder.generate.sources import iter_pairs, iter_prompts, source_size
from ponder.lm.base import GenRequest, GenResult, split_thinking
from ponder.rundir import config_hash, is_done, read_manifest, write_manifest

MODES = ("ift", "reasoning")
FORMAT_VERSION = 1  # bump when the row format changes, so old pairs are regenerated
_STR, _INT, _BOOL = pa.string(), pa.int64(), pa.bool_()
SCHEMA = pa.schema(
    [("idx", _INT), ("id", _STR), ("prompt", _STR)]
    + [("prompt_tokens", _INT)]
    + [(f"{m}{s}", t) for m in MODES for s, t in (("", _STR), ("_tokens", _INT))]
    + [(f"{m}_finish", _STR) for m in MODES]
    + [(f"{m}_truncated", _BOOL) for m in MODES]
    + [(f"{m}_error", _STR) for m in MODES]
    + [("family", _STR), ("gold", _STR)]
)
# Connection and throughput settings do not change the answers: they stay out of the hash.
_NOT_CONTENT = {
    "base_urls",
    "api_key_env",
    "max_concurrency",
    "max_retries",
    "request_timeout_s",
    "tensor_parallel_size",
    "shard_size",
    "client_processes",
    "flops_model",
}


def pairs_path(run_dir: Path, domain: str) -> Path:
    return Path(run_dir) / "pairs" / f"{domain}.parquet"


def pairs_hash(cfg: StudyConfig, domain: str) -> str:
    """Hash of exactly what determines a domain's pairs: teacher, source, world, row format."""
    src = cfg.domains[domain].source
    teacher = cfg.teacher.model_dump(mode="json", exclude=_NOT_CONTENT)
    for m in MODES:
        teacher[m].pop("expected_tokens", None)  # a dry-run estimate only
    if src.kind == "paired":
        teacher = None  # the answers come from the dataset
    world = cfg.world.model_dump(mode="json") if src.kind == "world" else None
    return config_hash(
        {
            "teacher": teacher,
            "source": src.model_dump(mode="json"),
            "world": world,
            "domain": domain,
            "format": FORMAT_VERSION,
        }
    )


def is_truncated(result: GenResult) -> bool:
    """finish_reason == "length", or thinking that never closed (a cut reasoning trace)."""
    if result.finish_reason == "length":
        return True
    return result.text.lstrip().startswith("<think>") and not split_thinking(result.text)[2]


def make_requests(row: dict, cfg: StudyConfig) -> list[GenRequest]:
    """The two requests for one prompt: thinking off (IFT) and on (reasoning)."""
    out = []
    for mode in MODES:
        s = getattr(cfg.teacher, mode)
        out.append(
            GenRequest(
                messages=row["messages"],
                thinking=mode == "reasoning",
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=s.max_tokens,
                seed=s.seed,
                id=f"{row['id']}:{mode}",
            )
        )
    return out


def pair_row(row: dict, ift: GenResult, reasoning: GenResult) -> dict:
    out = {k: row.get(k) for k in ("idx", "id", "prompt", "family", "gold")}
    out["prompt_tokens"] = ift.prompt_tokens or reasoning.prompt_tokens
    for mode, r in zip(MODES, (ift, reasoning), strict=True):
        out[mode] = r.text
        out[f"{mode}_tokens"] = r.completion_tokens
        out[f"{mode}_finish"] = r.finish_reason
        out[f"{mode}_truncated"] = is_truncated(r)
        out[f"{mode}_error"] = r.error
    return out


def _chunks(rows: Iterable[dict], n: int) -> Iterator[list[dict]]:
    it = iter(rows)
    while chunk := list(islice(it, n)):
        yield chunk


def run_batched(lm, rows: Iterable[dict], cfg: StudyConfig, store: ShardStore, tick) -> None:
    """Backends without an async API: one batched `generate` call per shard."""
    for chunk in _chunks(rows, cfg.teacher.shard_size):
        reqs = [q for r in chunk for q in make_requests(r, cfg)]
        res = lm.generate(reqs)
        pairs = [pair_row(r, res[2 * i], res[2 * i + 1]) for i, r in enumerate(chunk)]
        store.commit(pairs)
        for p in pairs:
            tick(p)


async def run_streaming(lm, rows: Iterable[dict], cfg: StudyConfig, store: ShardStore, tick):
    """Async backends: at most `max_concurrency` requests in flight, at most that many rows
    pulled from the source ahead of the answers (backpressure: memory stays flat)."""
    limit = cfg.teacher.max_concurrency
    sem = asyncio.Semaphore(limit)  # requests in flight
    rows_open = asyncio.Semaphore(limit)  # rows pulled from the source and not yet answered
    buffer: list[dict] = []
    tasks: set[asyncio.Task] = set()
    fatal: list[BaseException] = []

    async def call(req: GenRequest) -> GenResult:
        async with sem:
            return await lm.agenerate(req)

    async def one(row: dict) -> None:
        try:
            ift, reasoning = await asyncio.gather(*(call(q) for q in make_requests(row, cfg)))
            p = pair_row(row, ift, reasoning)
            buffer.append(p)
            tick(p)
            if len(buffer) >= cfg.teacher.shard_size:
                batch = buffer[:]
                buffer.clear()
                store.commit(batch)  # synchronous on purpose: no other task can touch the buffer
        except Exception as e:  # fatal (bad API key, unknown model, disk full): stop the run
            fatal.append(e)
        finally:
            rows_open.release()

    try:
        for row in rows:
            await rows_open.acquire()  # O(1) per row, unlike asyncio.wait over the open set
            if fatal:
                raise fatal[0]
            task = asyncio.create_task(one(row))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        for t in asyncio.as_completed(list(tasks)):
            await t
            if fatal:
                break
        if fatal:
            raise fatal[0]
    finally:
        for t in tasks:
            t.cancel()
        store.commit(buffer)  # finished rows are kept even when the run stops on an error
        if hasattr(lm, "aclose"):
            await lm.aclose()


def _summary(path: Path, seconds: float) -> dict:
    cols = [f"{m}{s}" for m in MODES for s in ("_tokens", "_truncated", "_error")]
    t = pq.read_table(path, columns=cols).to_pandas()
    failed = t["ift_error"].notna() | t["reasoning_error"].notna()
    out: dict = {"rows": len(t), "failed": int(failed.sum())}
    ok = t[~failed]
    for m in MODES:
        out[f"{m}_truncated"] = int(t[f"{m}_truncated"].sum())
        out[f"{m}_mean_tokens"] = round(float(ok[f"{m}_tokens"].mean()), 2) if len(ok) else 0.0
    out["truncated"] = int((t["ift_truncated"] | t["reasoning_truncated"]).sum())
    out["seconds"] = round(seconds, 3)
    return out


def generate_domain(
    cfg: StudyConfig, domain: str, run_dir: Path, *, dry_run: bool = False, progress: bool = True
) -> dict:
    """Write `run_dir/pairs/<domain>.parquet` (one row per prompt) and its manifest; return the
    summary: rows, failed, truncated (per mode and total), mean tokens per mode, seconds. A
    finished domain with the same config hash is not regenerated: its summary is returned."""
    if domain not in cfg.domains:
        raise PonderError(f"--domain: unknown domain {domain!r} (known: {', '.join(cfg.domains)})")
    if dry_run:
        from ponder.generate.dryrun import estimate_domain

        return estimate_domain(cfg, domain)
    path, h = pairs_path(run_dir, domain), pairs_hash(cfg, domain)
    if is_done(path, h):
        ShardStore.discard(path)  # a run killed between its manifest and the clean-up
        m = read_manifest(path) or {}
        return {k: v for k, v in m.items() if k in _summary_keys()} | {"cached": True}
    started = time.time()
    store = ShardStore(path, h, SCHEMA)
    done = store.done_ids()
    src = cfg.domains[domain].source
    if src.kind == "paired":
        rows: Iterable[dict] = (r for r in iter_pairs(cfg, domain) if r["id"] not in done)
        lm = None
    else:
        from ponder.lm import make_teacher

        rows = (r for r in iter_prompts(cfg, domain) if r["id"] not in done)
        lm = make_teacher(cfg.teacher)
    total = source_size(cfg, domain) if progress else 0
    pool = None
    if hasattr(lm, "agenerate") and cfg.teacher.client_processes > 1:
        from ponder.generate.pool import ClientPool

        pool = ClientPool(cfg, domain, run_dir)  # forked before the bar's thread exists
    with _Progress(domain, len(done), total, enabled=progress) as bar:
        if pool is not None:
            pool.wait(bar)
        elif lm is None:
            for chunk in _chunks(rows, cfg.teacher.shard_size):
                store.commit(chunk)
                for p in chunk:
                    bar.tick(p)
        elif hasattr(lm, "agenerate"):
            asyncio.run(run_streaming(lm, rows, cfg, store, bar.tick))
        else:
            run_batched(lm, rows, cfg, store, bar.tick)
    n = store.finalize()
    summary = _summary(path, time.time() - started) | {"resumed_rows": len(done)}
    write_manifest(path, h, started, domain=domain, teacher=cfg.teacher.model, **summary)
    store.clear()
    assert n == summary["rows"]
    return summary


def _summary_keys() -> set[str]:
    base = {"rows", "failed", "truncated", "seconds", "resumed_rows"}
    return base | {f"{m}_{s}" for m in MODES for s in ("truncated", "mean_tokens")}


class _Progress:
    """A rich progress bar: rows done of total, tokens/s, errors, ETA (nothing when disabled)."""

    def __init__(self, domain: str, done: int, total: int, enabled: bool) -> None:
        self.domain, self.enabled, self.total = domain, enabled, total
        self.rows, self.tokens, self.errors, self.t0 = done, 0, 0, time.time()
        self.done = done
        self._bar = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn(f"[bold]{self.domain}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} tok/s, {task.fields[errors]} errors, ETA"),
                TimeRemainingColumn(),
            )
            self._bar.start()
            self._task = self._bar.add_task(
                self.domain, total=self.total, completed=self.rows, rate="0", errors=0
            )
        return self

    def set_totals(self, rows: int, tokens: int, errors: int) -> None:
        """Counts from client processes (clients.py), added to the rows done before."""
        self.rows, self.tokens, self.errors = self.done + rows, tokens, errors
        if self._bar is not None:
            self._refresh()

    def tick(self, row: dict) -> None:
        self.rows += 1
        self.tokens += (row.get("ift_tokens") or 0) + (row.get("reasoning_tokens") or 0)
        self.errors += bool(row.get("ift_error") or row.get("reasoning_error"))
        if self._bar is not None and (self.rows % 64 == 0 or self.rows >= self.total):
            self._refresh()

    def _refresh(self) -> None:
        rate = f"{self.tokens / max(time.time() - self.t0, 1e-9):,.0f}"
        self._bar.update(self._task, completed=self.rows, rate=rate, errors=self.errors)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._refresh()
            self._bar.stop()
