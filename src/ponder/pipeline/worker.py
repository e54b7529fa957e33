"""Run one planned step on a worker: idempotent, and never by two workers at once.

`run_step` skips a step whose artifact and completion record match its config hash (running it
twice does no extra work), refuses a step whose dependencies are not done, and otherwise runs it
under a lock file in `<run>/.locks/` on the shared filesystem. `StepLock` recovers locks left by
dead workers. The work itself is the local runner's (`runner.execute`), so a step does on a
cluster exactly what it does in `ponder run`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from ponder.errors import PonderError
from ponder.pipeline.plan import ClusterConfig, plan


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
        info = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                "started": time.time()}  # fmt: skip
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
    safe = step_id.replace(":", "__").replace("/", "_of_").replace("@", "_at_")
    return Path(run_dir) / ".locks" / f"{safe}.lock"


def run_step(cfg, run_dir: Path, step_id: str, cluster: ClusterConfig | None = None, *,
             wait: bool = True, lock: bool = True, stale_after_s: float = 600.0,
             execute=None, record: bool = True) -> str:  # fmt: skip
    """Run one planned step; returns 'done' (already finished), 'ran', or 'busy' (locked by
    another worker and `wait` is off). `execute(cfg, run_dir, step, steps)` defaults to the
    local runner's, so a step does on a cluster exactly what it does in `ponder run`."""
    from ponder.pipeline import runner

    steps = {s.id: s for s in plan_steps_for_run(cfg, cluster)}
    if step_id not in steps:
        raise PonderError(f"step: no step {step_id!r} in study {cfg.name} (see `ponder plan`)")
    step = steps[step_id]
    if runner.step_done(run_dir, step):
        return "done"
    missing = [d for d in step.depends_on if not runner.step_done(run_dir, steps[d])]
    if missing:
        raise PonderError(f"step {step_id}: dependency {missing[0]} is not done yet")
    execute = execute or _execute
    guard = StepLock(lock_path(run_dir, step_id), stale_after_s) if lock else None
    finished = lambda: runner.step_done(run_dir, step)  # noqa: E731
    if guard is not None and not guard.acquire(wait=wait, is_done=finished):
        return "done" if finished() else "busy"
    try:
        if runner.step_done(run_dir, step):  # finished by the worker that held the lock
            return "done"
        t0 = time.time()
        info = execute(cfg, run_dir, step, steps) or {}
        if record and runner.rank() == 0:  # one record per distributed run
            runner.record_done(run_dir, step, time.time() - t0, info)
        return "ran"
    finally:
        if guard is not None:
            guard.release()


def plan_steps_for_run(cfg, cluster: ClusterConfig | None = None) -> list:
    """The study's steps as `ponder run` knows them, plus generation shard steps."""
    from ponder.pipeline.steps import Step

    return [Step(p.id, p.kind, p.depends_on, p.params, p.artifact, p.hash)
            for p in plan(cfg, cluster)]  # fmt: skip


def _execute(cfg, run_dir: Path, step, steps: dict) -> dict:
    from ponder.pipeline import runner

    if step.kind == "generate" and "shard" in step.params:
        from ponder.generate import run as generate

        if not hasattr(generate, "generate_shard"):
            raise PonderError(
                f"step {step.id}: this build cannot generate one shard (ponder.generate.run has no "
                "generate_shard); set generate_rows_per_step: 0 in the cluster config"
            )
        p = step.params
        return generate.generate_shard(cfg, p["domain"], p["shard"], p["num_shards"], run_dir)
    if step.kind == "generate" and "num_shards" in step.params:  # concatenate finished shards
        from ponder.generate import run as generate

        if not hasattr(generate, "merge_shards"):
            raise PonderError(
                f"step {step.id}: ponder.generate.run has no merge_shards in this build"
            )
        return generate.merge_shards(cfg, step.params["domain"], step.params["num_shards"], run_dir)
    return runner.execute(cfg, run_dir, step, steps)
