"""A rich progress bar with ETA, a no-op when disabled (collect and import share it)."""

from __future__ import annotations


class Progress:
    """``with Progress(total, label, enabled) as bar: bar.advance()``."""

    def __init__(self, total: int | None, label: str, enabled: bool):
        self.bar = None
        if enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(),
                                    MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                    TimeRemainingColumn(), transient=False)
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
