"""The generate stage's progress bar: rows done of total, tokens/s, errors, ETA."""

from __future__ import annotations

import time


class Progress:
    """A rich progress bar: rows done of total, tokens/s, errors, ETA (nothing when disabled)."""

    def __init__(self, domain: str, done: int, total: int, enabled: bool) -> None:
        self.domain, self.enabled, self.total = domain, enabled, total
        self.rows, self.tokens, self.errors, self.t0 = done, 0, 0, time.time()
        self.done = done
        self._bar = None

    def __enter__(self) -> Progress:
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
