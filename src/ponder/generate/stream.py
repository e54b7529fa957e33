"""Asking the teacher: two requests per prompt, in flight concurrently or in batches.

`make_requests` builds a prompt's two requests (thinking off = IFT, T=0.7, top_p=0.8; thinking on
= reasoning, T=0.6, top_p=0.95, §2.2 footnote 3); `pair_row` turns the two answers into one row of
the pairs table (`SCHEMA`), truncation flagged, never dropped. `run_streaming` keeps at most
`max_concurrency` requests in flight against async backends (OpenAI-compatible servers) and
commits finished rows through a `ShardStore`; `run_batched` gives other backends one batched call
per shard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from itertools import islice

import pyarrow as pa

from ponder.config import StudyConfig
from ponder.generate.shards import ShardStore
from ponder.lm.base import GenRequest, GenResult, split_thinking

MODES = ("ift", "reasoning")
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
    """The two requests for one prompt: thinking off (IFT) and on (reasoning); a mode's
    `system_prompt` (a teacher switched by system prompt) leads its messages."""
    out = []
    for mode in MODES:
        s = getattr(cfg.teacher, mode)
        messages = row["messages"]
        if s.system_prompt is not None:
            messages = [{"role": "system", "content": s.system_prompt}, *messages]
        out.append(
            GenRequest(
                messages=messages,
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


def chunks(rows: Iterable[dict], n: int) -> Iterator[list[dict]]:
    it = iter(rows)
    while chunk := list(islice(it, n)):
        yield chunk


def run_batched(lm, rows: Iterable[dict], cfg: StudyConfig, store: ShardStore, tick) -> None:
    """Backends without an async API: one batched `generate` call per shard."""
    for chunk in chunks(rows, cfg.teacher.shard_size):
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
