"""Asking the teacher: two requests per prompt, in flight concurrently or in batches, and where
the finished rows go.

`make_requests` builds a prompt's two requests, each by its mode's recipe (thinking off = IFT,
T=0.7, top_p=0.8; thinking on = reasoning, T=0.6, top_p=0.95, §2.2 footnote 3; lm/recipe.py), and
each mode's backend answers its own (one model for both, or a pair of models); `pair_row` turns
the two answers into one row of the pairs table (`SCHEMA`), truncation flagged, never dropped.
`run_streaming` keeps at most `max_concurrency` requests in flight against async backends
(OpenAI-compatible servers); `run_batched` gives other backends one batched call per mode and
shard. Both hand rows to a `Sink`, which keeps answered rows and rejected ones (a 400: asking
again gives the same) and commits them through a `ShardStore` when `shard_size` are waiting or
`commit_every_s` has passed, so a kill loses at most the requests in flight plus that interval.
A row whose request went unanswered (out of retries) is never kept: it is counted, and the next
run asks it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice

import pyarrow as pa

from ponder.config import StudyConfig
from ponder.errors import PonderError
from ponder.generate.shards import ShardStore
from ponder.lm.base import GenRequest, GenResult, split_thinking
from ponder.lm.fleet import UNANSWERED
from ponder.lm.recipe import MODES, apply_recipe

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


def is_truncated(result: GenResult) -> bool:
    """finish_reason == "length", or thinking that never closed (a cut reasoning trace)."""
    if result.finish_reason == "length":
        return True
    return result.text.lstrip().startswith("<think>") and not split_thinking(result.text)[2]


def make_requests(row: dict, cfg: StudyConfig) -> list[GenRequest]:
    """The two requests for one prompt, each complete as its mode's recipe makes it (lm/recipe.py):
    thinking off (IFT) and on (reasoning), with the mode's sampling."""
    out = []
    for mode in MODES:
        s = getattr(cfg.teacher, mode)
        req = GenRequest(
            messages=row["messages"],
            temperature=s.temperature,
            top_p=s.top_p,
            max_tokens=s.max_tokens,
            seed=s.seed,
            id=f"{row['id']}:{mode}",
        )
        out.append(apply_recipe(req, s, mode))
    return out


def pair_row(row: dict, ift: GenResult, reasoning: GenResult, answer_only: bool = False) -> dict:
    """One row of the pairs table. `answer_only` (teacher.ift_answer_only): the IFT text is the
    final answer alone, the trace of a teacher that cannot stop reasoning discarded (its tokens
    still count what the teacher generated)."""
    out = {k: row.get(k) for k in ("idx", "id", "prompt", "family", "gold")}
    out["prompt_tokens"] = ift.prompt_tokens or reasoning.prompt_tokens
    for mode, r in zip(MODES, (ift, reasoning), strict=True):
        cut = answer_only and mode == "ift" and r.error is None
        out[mode] = split_thinking(r.text)[1] if cut else r.text
        out[f"{mode}_tokens"] = r.completion_tokens
        out[f"{mode}_finish"] = r.finish_reason
        out[f"{mode}_truncated"] = is_truncated(r)
        out[f"{mode}_error"] = r.error
    return out


def chunks(rows: Iterable[dict], n: int) -> Iterator[list[dict]]:
    it = iter(rows)
    while chunk := list(islice(it, n)):
        yield chunk


def outcome(row: dict) -> str:
    """answered, rejected (an answer holds an error: kept, asking again gives the same) or
    failed (a request went unanswered: not kept, asked again next run)."""
    if any(row.get(f"{m}_finish") == UNANSWERED for m in MODES):
        return "failed"
    return "rejected" if any(row.get(f"{m}_error") for m in MODES) else "answered"


@dataclass
class Tally:
    """What one pass did with its rows."""

    answered: int = 0
    rejected: int = 0
    failed: int = 0
    last_error: str = ""  # of the last failed row
    last_rejected: str = ""  # of the last rejected row

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def total(cls, parts: Iterable[Tally]) -> Tally:
        """Several passes' tallies (client processes) as one; the last errors of the last one."""
        out = cls()
        for t in parts:
            out.answered += t.answered
            out.rejected += t.rejected
            out.failed += t.failed
            out.last_error = t.last_error or out.last_error
            out.last_rejected = t.last_rejected or out.last_rejected
        return out


class Sink:
    """Finished rows: kept rows buffered and committed when `shard_size` wait or on `flush`;
    failed rows counted, never kept. `breaker` failed rows in a row stop the pass."""

    def __init__(self, store: ShardStore, cfg: StudyConfig, tick: Callable, breaker: int) -> None:
        self.store, self.tick, self.breaker = store, tick, breaker
        self.size = cfg.teacher.shard_size
        self.tally = Tally()
        self.buffer: list[dict] = []
        self._streak = 0

    def add(self, row: dict) -> None:
        kind = outcome(row)
        setattr(self.tally, kind, getattr(self.tally, kind) + 1)
        self.tick(row)
        if kind == "failed":
            self.tally.last_error = next(
                row[f"{m}_error"] for m in MODES if row[f"{m}_finish"] == UNANSWERED
            )
            self._streak += 1
            if self._streak >= self.breaker:
                raise PonderError(
                    f"the last {self._streak} prompts all went unanswered, stopping "
                    f"(the answered ones are kept); last error: {self.tally.last_error}"
                )
            return
        if kind == "rejected":
            self.tally.last_rejected = next(row[f"{m}_error"] for m in MODES if row[f"{m}_error"])
        self._streak = 0
        self.buffer.append(row)
        if len(self.buffer) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Commit what waits (synchronous: no other task can touch the buffer meanwhile)."""
        rows, self.buffer = self.buffer, []
        self.store.commit(rows)


def _breaker(cfg: StudyConfig) -> int:
    # Twice the requests in flight, all unanswered after their retries: nothing gets through.
    return max(16, 2 * cfg.teacher.max_concurrency)


def run_batched(
    lms: dict, rows: Iterable[dict], cfg: StudyConfig, store: ShardStore, tick
) -> Tally:
    """Backends without an async API: per shard, one batched `generate` call per mode (each
    mode's backend, `lms[mode]`: one model may answer both)."""
    sink = Sink(store, cfg, tick, _breaker(cfg))
    for chunk in chunks(rows, cfg.teacher.shard_size):
        reqs = [make_requests(r, cfg) for r in chunk]
        res = [lms[m].generate([q[k] for q in reqs]) for k, m in enumerate(MODES)]
        for i, r in enumerate(chunk):
            sink.add(pair_row(r, res[0][i], res[1][i], cfg.teacher.ift_answer_only))
        sink.flush()
    return sink.tally


async def _flush_every(sink: Sink, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        sink.flush()


async def run_streaming(
    lms: dict, rows: Iterable[dict], cfg: StudyConfig, store: ShardStore, tick
) -> Tally:
    """Async backends (`lms[mode]` answers that mode): at most `max_concurrency` requests in
    flight over both, at most that many rows pulled from the source ahead of the answers
    (backpressure: memory stays flat)."""
    limit = cfg.teacher.max_concurrency
    sem = asyncio.Semaphore(limit)  # requests in flight
    rows_open = asyncio.Semaphore(limit)  # rows pulled from the source and not yet answered
    sink = Sink(store, cfg, tick, _breaker(cfg))
    tasks: set[asyncio.Task] = set()
    fatal: list[BaseException] = []

    async def call(mode: str, req: GenRequest) -> GenResult:
        async with sem:
            return await lms[mode].agenerate(req)

    async def one(row: dict) -> None:
        try:
            reqs = make_requests(row, cfg)
            ift, reasoning = await asyncio.gather(
                *(call(m, q) for m, q in zip(MODES, reqs, strict=True))
            )
            sink.add(pair_row(row, ift, reasoning, cfg.teacher.ift_answer_only))
        except Exception as e:  # fatal (bad API key, no server, disk full): stop the run
            fatal.append(e)
        finally:
            rows_open.release()

    flusher = asyncio.create_task(_flush_every(sink, cfg.teacher.commit_every_s))
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
        return sink.tally
    finally:
        flusher.cancel()
        for t in tasks:
            t.cancel()
        sink.flush()  # finished rows are kept even when the run stops on an error
        for lm in {id(x): x for x in lms.values()}.values():
            if hasattr(lm, "aclose"):
                await lm.aclose()
