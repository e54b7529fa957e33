"""Run planned steps on a worker: idempotent, and never by two workers at once.

`run_steps` runs the steps an array task was given, in one process (an evaluation task loads its
model once for all its benchmarks). Each step is skipped when the ledger says it is done, refused
while its dependencies are not, and otherwise run under a lock file in `<run>/.locks/` on the
shared filesystem; `StepLock` recovers locks left by dead workers. The work itself is the stage
table's (`stages.execute`), so a step does on a cluster exactly what it does in `ponder run`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from ponder.config import StudyConfig
from ponder.errors import PonderError
from ponder.pipeline import ledger
from ponder.pipeline.cluster import ClusterConfig, load_cluster
from ponder.pipeline.plan import plan_steps
from ponder.pipeline.runner import rank
from ponder.pipeline.stages import Context, execute
from ponder.rundir import RunDir


class StepLock:
    """An exclusive lock file on a shared filesystem, with a heartbeat and stale-lock recovery.

    Hand-written because filelock's FileLock relies on fcntl/flock, which NFS and Lustre do not
    honour across nodes, and its SoftFileLock never recovers a lock whose holder died. Creation
    with O_CREAT|O_EXCL is atomic on every shared filesystem; the holder touches the file every
    `heartbeat_s`; a lock untouched for `stale_after_s`, or held by a dead pid on this host, is
    broken under a short-lived `.break` lock so two breakers never delete a fresh lock.
    """

    def __init__(self, path: Path, stale_after_s: float = 600.0, heartbeat_s: float | None = None):
        self.path = Path(path)
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s or max(1.0, stale_after_s / 10)
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _try_create(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": self.token,
            "started": time.time(),
        }
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        return True

    def holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text()) | {"mtime": self.path.stat().st_mtime}
        except (OSError, ValueError):
            return None

    def _is_stale(self, info: dict) -> bool:
        if time.time() - info["mtime"] > self.stale_after_s:
            return True
        if info.get("host") == socket.gethostname():
            try:
                os.kill(int(info["pid"]), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, ValueError, KeyError):
                return False
        return False

    def _break_if_stale(self) -> bool:
        """Remove the lock if its holder is gone; True when this call removed it."""
        info = self.holder()
        if info is None or not self._is_stale(info):
            return False
        brk = self.path.with_name(self.path.name + ".break")
        try:  # a breaker that died leaves .break behind: it expires after a minute
            if time.time() - brk.stat().st_mtime > 60:
                brk.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(brk, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        os.close(fd)
        try:
            again = self.holder()
            if again and again.get("token") == info.get("token") and self._is_stale(again):
                self.path.unlink(missing_ok=True)
                return True
            return False
        finally:
            brk.unlink(missing_ok=True)

    def acquire(self, wait: bool = True, poll_s: float = 1.0, is_done=lambda: False) -> bool:
        """Take the lock; with `wait`, poll until it is free or `is_done()` says the holder
        finished the work. Returns True when this process holds the lock."""
        while True:
            if self._try_create():
                self._beat = threading.Thread(target=self._heartbeat, daemon=True)
                self._beat.start()
                return True
            if self._break_if_stale():
                continue
            if not wait or is_done():
                return False
            time.sleep(poll_s)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        self._stop.set()
        info = self.holder()
        if info and info.get("token") == self.token:
            self.path.unlink(missing_ok=True)


def lock_path(run_dir: Path, step_id: str) -> Path:
    return RunDir(run_dir).lock(step_id)


def _run_locked(ctx: Context, step_id: str, opts: dict) -> str:
    step = ctx.steps[step_id]
    rd = ctx.rd
    if ledger.is_done(rd, step):
        return "done"
    missing = [d for d in step.depends_on if not ledger.is_usable(rd, ctx.steps[d])]
    if missing:
        raise PonderError(f"step {step_id}: dependency {missing[0]} is not done yet")
    guard = StepLock(rd.lock(step_id), opts["stale_after_s"]) if opts["lock"] else None
    finished = lambda: ledger.is_done(rd, step)  # noqa: E731
    if guard is not None and not guard.acquire(wait=opts["wait"], is_done=finished):
        return "done" if finished() else "busy"
    try:
        if finished():  # finished by the worker that held the lock
            return "done"
        if opts["record"] and rank() == 0:
            ledger.begin(rd, step)
        t0 = time.time()
        info = (opts["execute"] or _execute)(ctx, step)
        if opts["record"] and rank() == 0:  # one record per distributed run
            ledger.record(rd, step, time.time() - t0, info)
        return "ran"
    finally:
        if guard is not None:
            guard.release()


def _execute(ctx: Context, step) -> dict:
    return execute(ctx, step)


def planned_context(
    cfg: StudyConfig, run_dir: Path | RunDir, cluster: ClusterConfig | None
) -> Context:
    """The study's steps as the planner split them (generation shards included)."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    return Context(cfg, rd, {s.id: s for s in plan_steps(cfg, cluster or load_cluster())})


def run_steps(
    cfg: StudyConfig,
    run_dir: Path | RunDir,
    step_ids: list[str],
    cluster: ClusterConfig | None = None,
    *,
    wait: bool = True,
    lock: bool = True,
    stale_after_s: float = 600.0,
    execute=None,
    record: bool = True,
) -> list[str]:
    """Run planned steps in order in this process; returns each one's status: 'done' (already
    finished), 'ran', or 'busy' (locked by another worker and `wait` is off).
    `execute(ctx, step)` defaults to the stage table's."""
    ctx = planned_context(cfg, run_dir, cluster)
    for sid in step_ids:
        if sid not in ctx.steps:
            raise PonderError(f"step: no step {sid!r} in study {cfg.name} (see `ponder plan`)")
    ctx.rd.root.mkdir(parents=True, exist_ok=True)
    opts = {
        "wait": wait,
        "lock": lock,
        "stale_after_s": stale_after_s,
        "execute": execute,
        "record": record,
    }
    return [_run_locked(ctx, sid, opts) for sid in step_ids]


def run_step(cfg: StudyConfig, run_dir: Path | RunDir, step_id: str, cluster=None, **kw) -> str:
    """One planned step (see `run_steps`)."""
    return run_steps(cfg, run_dir, [step_id], cluster, **kw)[0]
