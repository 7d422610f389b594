"""One progress bar for every stage that runs long (collect, import, relabel, evaluate, export).

``with Progress(total, label, enabled) as bar: bar.advance()`` draws a rich bar with done/total,
elapsed time and ETA on stderr; disabled it does nothing.  :func:`progress_enabled` is the one
rule for when bars show, Lightning's training bars (reward, train) included: ``trainer.progress``
is true and stderr is a terminal (logs and CI get the stages' one-line summaries instead).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress_enabled(wanted: Any = True) -> bool:
    """Bars on: ``wanted`` (pass ``cfg.trainer.progress``) and stderr is a terminal."""
    return bool(wanted) and sys.stderr.isatty()


class Progress:
    """``with Progress(total, label, enabled) as bar: bar.advance()``."""

    def __init__(self, total: int | None, label: str, enabled: bool):
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(),
                                    MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                    TimeRemainingColumn(), transient=False,
                                    console=Console(stderr=True))
            self.task = self.bar.add_task(label, total=total)

    def __enter__(self) -> "Progress":
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def ticked(items: Iterable[T], tick: Callable[[], None] | None) -> Iterator[T]:
    """``items``, calling ``tick()`` after the loop body of each one has run."""
    for item in items:
        yield item
        if tick is not None:
            tick()
