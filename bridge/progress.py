"""Progress of a long job over a known number of frames: a rich bar on a terminal, a plain line elsewhere."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class FrameProgress:
    """Frames done, frames per second and time left; off a terminal, one line every `plain_every_s`."""

    def __init__(self, console: Console, label: str, total: int | None, plain_every_s: float = 5.0):
        self.console, self.label, self.total = console, label, total or None
        self.plain_every_s = plain_every_s
        self.done = 0
        self._started = self._said = time.monotonic()
        self._bar: Progress | None = None
        self._task = None

    def __enter__(self) -> FrameProgress:
        if self.console.is_terminal:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[fps]:.1f} fps"), TimeRemainingColumn(),
                                 console=self.console, transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, fps=0.0)
        return self

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, advance=1, fps=self.fps(now))  # type: ignore[arg-type]
        elif now - self._said >= self.plain_every_s:
            self._said = now
            self.console.print(self.line(now), highlight=False, soft_wrap=True)

    def fps(self, now: float | None = None) -> float:
        elapsed = (now or time.monotonic()) - self._started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self, now: float | None = None) -> str:
        fps = self.fps(now)
        of = f"/{self.total}" if self.total else ""
        left = f", {max(0.0, (self.total - self.done) / fps):.0f} s left" if self.total and fps > 0 else ""
        return f"{self.label}: {self.done}{of} frames, {fps:.1f} fps{left}"

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, tb)
