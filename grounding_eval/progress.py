"""What a long run shows: rich progress bars on stderr, and one-line notes (cache reuse, timings)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@dataclass
class Reporter:
    """Bars and notes on `console`; silent when not `enabled` (--quiet, or a non-main process)."""

    console: Console
    enabled: bool

    @contextlib.contextmanager
    def bar(self, description: str, total: int) -> Iterator[Any]:
        """A bar of `total` steps; yields `advance(n=1)`."""
        if not self.enabled or total == 0:
            yield lambda n=1: None
            return
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False) as prog:
            task = prog.add_task(description, total=total)
            yield lambda n=1: prog.advance(task, n)

    def note(self, text: str) -> None:
        if self.enabled:
            self.console.print(text)
