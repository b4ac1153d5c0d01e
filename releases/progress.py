"""Progress of long work (``releases rebuild``, ``verify``, ``witness``): done/total, rate and time left.

On a terminal, a live bar (rich, already installed with Airflow); elsewhere (cron, CI, a log file), one
plain line every ``every`` items and one at the end, so a 10,000-incident rebuild is never silent.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

Tick = Callable[[int, int], None]  # (done, total)


def _left(seconds: float) -> str:
    return f"{math.ceil(seconds)} s" if seconds < 90 else f"{math.ceil(seconds / 60)} min"


class Lines:
    """Plain progress lines: what, done/total, items per second, time left. One each time ``done`` passes a
    multiple of ``every`` (work done in chunks, finished in any order, seldom lands on one), and at least one
    every ``seconds`` while there is progress, so a slow run is never silent for long."""

    def __init__(
        self,
        what: str,
        stream: TextIO,
        every: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        seconds: float = 30.0,
    ):
        self.what, self.stream, self.every, self.clock, self.seconds = what, stream, every, clock, seconds
        self.started = self.last_time = clock()
        self.last = 0

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        due = done // self.every > self.last // self.every or now - self.last_time >= self.seconds
        if done != total and not due:
            return
        self.last, self.last_time = done, now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        left = f", about {_left((total - done) / rate)} left" if done < total and rate else ""
        print(f"{self.what}: {done}/{total}, {rate:.1f}/s{left}", file=self.stream, flush=True)


class Bar:
    """A live bar on a terminal."""

    def __init__(self, what: str, stream: TextIO, clock: Callable[[], float] = time.monotonic):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),  # rate and time left, as the plain lines say them
            console=Console(file=stream),
            get_time=clock,
            transient=False,
        )
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=total, rate="")
        elapsed = self.progress.tasks[0].elapsed or 0.0
        rate = done / elapsed if elapsed > 0 else 0.0
        shown = f"{rate:.1f}/s" if rate else ""
        if rate and done < total:
            shown += f", about {_left((total - done) / rate)} left"
        self.progress.update(self.task, completed=done, rate=shown)
        if done >= total:
            self.progress.stop()


def reporter(what: str, stream: TextIO | None = None) -> Tick:
    stream = stream or sys.stderr
    return Bar(what, stream) if stream.isatty() else Lines(what, stream)
