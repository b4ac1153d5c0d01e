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
    """Plain progress lines: what, done/total, items per second, time left."""

    def __init__(
        self, what: str, stream: TextIO, every: int = 1000, clock: Callable[[], float] = time.monotonic
    ):
        self.what, self.stream, self.every, self.clock = what, stream, every, clock
        self.started = clock()

    def __call__(self, done: int, total: int) -> None:
        if done != total and done % self.every:
            return
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = done / elapsed
        left = f", about {_left((total - done) / rate)} left" if done < total and rate else ""
        print(f"{self.what}: {done}/{total}, {rate:.1f}/s{left}", file=self.stream, flush=True)


class Bar:
    """A live bar on a terminal."""

    def __init__(self, what: str, stream: TextIO):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=total)
        self.progress.update(self.task, completed=done)
        if done >= total:
            self.progress.stop()


def reporter(what: str, stream: TextIO | None = None) -> Tick:
    stream = stream or sys.stderr
    return Bar(what, stream) if stream.isatty() else Lines(what, stream)
