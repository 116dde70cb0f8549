"""``--format table|json|csv`` for every list command, as pip's ``list --format`` does.

A table is for a person at a terminal: long cells wrap, nothing is cut off. JSON (an array of
objects) and CSV (a header row, then one row per record) are for programs: every value in full, and
nothing else on stdout.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from gateway.cli.common import console

FORMATS = ("table", "json", "csv")
FormatOpt = Annotated[str, typer.Option("--format", help="table, json or csv (json and csv carry every value in full)")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, help="at most this many rows")]


class Listing:
    """Rows of one list command, printed in the chosen format."""

    def __init__(self, fmt: str, *columns: str, title: str | None = None) -> None:
        if fmt not in FORMATS:
            from gateway.cli.checks import CommandInputError

            raise CommandInputError(f"unknown --format {fmt!r}; one of {', '.join(FORMATS)}")
        self.fmt, self.columns, self.title = fmt, columns, title
        self.rows: list[tuple[Any, ...]] = []

    def add_row(self, *values: Any) -> None:
        """Values as they are: numbers stay numbers in JSON; a time is shown in Vietnam's time with its
        offset, in every format (a bare UTC time read as local was seven hours off)."""
        self.rows.append(tuple(shown(v) for v in values))

    def emit(self) -> None:
        if self.fmt == "json":
            records = [dict(zip(self.columns, row, strict=True)) for row in self.rows]
            sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=2, default=str) + "\n")
        elif self.fmt == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(self.columns)
            writer.writerows([_flat(v) for v in row] for row in self.rows)
        else:
            table = Table(*self.columns, title=self.title)
            for column in table.columns:
                column.overflow = "fold"  # wrap long values (ids, paths) rather than cut them
            for row in self.rows:
                table.add_row(*(str(_flat(v)) for v in row))
            console.print(table, markup=False)


def shown(value: Any) -> Any:
    from datetime import datetime

    if isinstance(value, datetime):
        from gateway.clock import VN_TZ, as_utc

        return as_utc(value).astimezone(VN_TZ).isoformat(timespec="seconds")
    return value


def _flat(value: Any) -> Any:
    """A value in one cell of a table or CSV: counts by name (a mapping, which JSON keeps as an object)
    as "acknowledged 23, returned 2"; nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return value
