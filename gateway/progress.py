"""Progress of a long command (ingest, demo, backup, db copy) for the person at the terminal.

Count, rate and, when the total is known before the work starts, the time left, as pip and Rich's
own examples show them. Nothing at all when the console is not a terminal (cron, CI, a pipe, a log
file): a bar redrawn with carriage returns is noise there, and the command's result line says what
was done. (Before, ingest drew a bare bar: 91 s for 115 k rows with no count, rate or ETA.)
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second (Rich's speed column is for bytes)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}/s" if speed else f"- {self.unit}/s", style="progress.data.speed")


class CountColumn(ProgressColumn):
    """``1,234/5,678 rows`` when the total is known, ``1,234 rows`` when it is not."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        done = f"{int(task.completed):,}"
        total = f"/{int(task.total):,}" if task.total is not None else ""
        return Text(f"{done}{total} {self.unit}", style="progress.download")


def progress_bar(console: Console, label: str, unit: str, *, eta: bool = True) -> Progress:
    """A progress display: label, bar, count, rate, elapsed and (with a known total) time left.
    Disabled (prints nothing) unless ``console`` is a terminal."""
    columns: list[ProgressColumn | str] = [
        SpinnerColumn(),
        TextColumn(label),
        BarColumn(),
        CountColumn(unit),
        RateColumn(unit),
        TimeElapsedColumn(),
    ]
    if eta:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
