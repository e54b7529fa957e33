"""Several client processes for one generation against OpenAI-compatible servers.

One Python process spends ~1 ms of CPU per request in the `openai` client (2-core CPU, loopback
server: lm/openai_api.py), so one event loop saturates near 1,000 requests/s whatever the fleet
can serve. With `teacher.client_processes: P`, worker k of P answers the prompts whose source index
is k mod P, with max_concurrency / P requests in flight and its own shard series
(`shard-w<k>-NNNNNN.parquet`); the parent shows progress from shared counters, adds up the
workers' tallies (answered, rejected, unanswered) and merges the shards as for one process. Resume
is per row, as before: every worker skips ids already committed by any worker. Workers are forked
(they inherit the loaded modules and start in milliseconds) before the progress bar starts its
thread, and exit when their parent dies, so a killed run never leaves writers behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import multiprocessing.connection
import os
import queue
import traceback
from pathlib import Path

from ponder.errors import PonderError
from ponder.generate.stream import Tally

_TICK_S = 0.5  # progress refresh and parent-alive check


def die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this worker the moment its parent dies (no overlap with a resumed
    run's workers); elsewhere a poll of the parent id does it within _TICK_S."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _watch_parent(parent: int) -> None:
    async def watch() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(_TICK_S)
        os._exit(1)  # the parent was killed (kill -9): stop writing shards at once

    asyncio.get_running_loop().create_task(watch())


def _worker(
    cfg_json: str,
    domain: str,
    job: tuple[str, str, int, float],
    k: int,
    p: int,
    counters,
    queues,
    parent: int,
) -> None:
    from ponder.config import StudyConfig
    from ponder.generate.shards import ShardStore
    from ponder.generate.sources import iter_prompts
    from ponder.generate.stream import SCHEMA, run_streaming
    from ponder.lm import teacher_modes

    die_with_parent(parent)
    errors, tallies = queues
    try:
        cfg = StudyConfig.model_validate_json(cfg_json)
        share = -(-cfg.teacher.max_concurrency // p)
        teacher = cfg.teacher.model_copy(update={"max_concurrency": share})
        cfg = cfg.model_copy(update={"teacher": teacher})
        out, cfg_hash, lo, hi = job
        store = ShardStore(Path(out), cfg_hash, SCHEMA, series=f"w{k}-", owner=False)
        done = store.done_ids()
        rows = (
            r
            for r in iter_prompts(cfg, domain)
            if r["idx"] % p == k and lo <= r["idx"] < hi and r["id"] not in done
        )

        def tick(row: dict) -> None:
            tokens = (row.get("ift_tokens") or 0) + (row.get("reasoning_tokens") or 0)
            failed = bool(row.get("ift_error") or row.get("reasoning_error"))
            with counters.get_lock():
                counters[0] += 1
                counters[1] += tokens
                counters[2] += failed

        async def main():
            _watch_parent(parent)
            return await run_streaming(teacher_modes(cfg.teacher), rows, cfg, store, tick)

        tallies.put(asyncio.run(main()).as_dict())
    except PonderError as e:
        errors.put(str(e))
        raise SystemExit(2) from None
    except BaseException:
        errors.put(f"client process {k}: {traceback.format_exc(limit=3)}")
        raise SystemExit(1) from None


class ClientPool:
    """`cfg.teacher.client_processes` forked workers generating one domain.

    Started before any progress bar exists: forking while another Python thread (a bar's
    refresh thread) holds a lock, such as stdout's, would leave that lock held in the child."""

    def __init__(
        self, cfg, domain: str, out: Path, cfg_hash: str, bounds: tuple[int, int] | None = None
    ) -> None:
        p = cfg.teacher.client_processes
        ctx = mp.get_context("fork")
        self.counters = ctx.Array("q", 3)  # rows, tokens, failed rows
        self.errors, self.tallies = ctx.Queue(), ctx.Queue()
        lo, hi = bounds or (0, float("inf"))
        args = (cfg.model_dump_json(), domain, (str(out), cfg_hash, lo, hi))
        self.procs = [
            ctx.Process(
                target=_worker,
                args=(*args, k, p, self.counters, (self.errors, self.tallies), os.getpid()),
                daemon=True,
            )
            for k in range(p)
        ]
        for proc in self.procs:
            proc.start()

    def wait(self, bar) -> Tally:
        """Show progress until every worker is done; raise PonderError if one failed; return
        the workers' tallies added up."""
        procs = self.procs
        parts: list[dict] = []
        try:
            while alive := [proc for proc in procs if proc.is_alive()]:
                # wakes the moment a worker exits (a 0.1 s sleep cost ~1% of a 5 s benchmark run)
                mp.connection.wait([proc.sentinel for proc in alive], timeout=_TICK_S / 5)
                bar.set_totals(*self.counters[:])
                parts += _drain(self.tallies)  # before join: a full pipe would block the worker
                if any(proc.exitcode not in (None, 0) for proc in procs):
                    break
            bar.set_totals(*self.counters[:])
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
                proc.join()
        if any(proc.exitcode != 0 for proc in procs):
            errors = self.errors
            msg = errors.get(timeout=5) if not errors.empty() else "a client process failed"
            raise PonderError(msg.strip().splitlines()[-1] if "Traceback" in msg else msg)
        parts += _drain(self.tallies, len(procs) - len(parts))
        return Tally.total(Tally(**t) for t in parts)


def _drain(q, wait_for: int = 0) -> list[dict]:
    """What the queue holds now, waiting (up to 5 s each) for `wait_for` more items."""
    out = []
    while True:
        try:
            out.append(q.get(timeout=5) if len(out) < wait_for else q.get_nowait())
        except queue.Empty:
            return out
