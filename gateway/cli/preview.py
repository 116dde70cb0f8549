"""Printing what a reader reads (``gateway ingest --dry-run``, ``gateway template check``): jsonl for
tools and tests, a table for people. Records are ``adapters.preview``'s; nothing is stored."""

from __future__ import annotations

import json
import sys
from collections import Counter

from rich.table import Table

from adapters.base import Blank, Reader, ReadProblem
from adapters.preview import record
from gateway.cli.common import console, err

TABLE = ("location", "indicator", "column", "period", "unit_code", "value", "unit", "name")
"""The table's columns: where first, the name last (it wraps; a problem's reason goes there)."""


def print_preview(reader: Reader, output_format: str, limit: int | None = None) -> Counter[str]:
    """Print every record (or the first ``limit``) and a count line on stderr; returns the counts.

    jsonl streams; the table is printed at the end, without the columns no record fills (a layout
    with no unit codes shows no unit_code column), so it fits a terminal."""
    counts: Counter[str] = Counter()
    rows: list[list[str]] = []
    shown = 0
    for item in reader.read():
        kind = "blank" if isinstance(item, Blank) else "problem" if isinstance(item, ReadProblem) else "value"
        counts[kind] += 1
        rec = record(item)
        if rec is None or (limit is not None and shown >= limit):
            continue
        shown += 1
        if output_format == "jsonl":
            sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
        elif "problem" in rec:
            rows.append([rec["location"], *[""] * (len(TABLE) - 2), f"PROBLEM: {rec['problem']}"])
        else:
            rows.append([str(rec[f]) if rec[f] is not None else "" for f in TABLE])
    if output_format == "table" and rows:
        keep = [i for i, name in enumerate(TABLE) if name in ("location", "name") or any(r[i] for r in rows)]
        table = Table(show_lines=False)
        for i in keep:
            name = TABLE[i]
            table.add_column(
                name,
                no_wrap=name in ("location", "indicator", "value"),
                overflow="fold",
                ratio=3 if name == "name" else 1,
            )
        for r in rows:
            table.add_row(*[r[i] for i in keep])
        console.print(table)
    more = f" (first {limit} shown)" if limit is not None and shown >= limit else ""
    err.print(
        f"read {sum(counts.values())}: values {counts['value']}, problems {counts['problem']}, "
        f"blank {counts['blank']}{more}; nothing stored",
        markup=False,
    )
    return counts
