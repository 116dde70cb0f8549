"""How source text appears in problem reasons and quarantine records: whole words only.

A reason is read by an operator deciding what to fix; a value cut in the middle of a word ("chưa có
số li") reads like a different value. Long text is shortened at a word boundary and marked with
``…``; legacy text is decoded before it gets here (``adapters.legacy_text.readable``).
"""

from __future__ import annotations

REASON_TEXT_LIMIT = 60
"""Characters of source text a reason quotes, about one line of a table."""


def excerpt(text: str, limit: int = REASON_TEXT_LIMIT) -> str:
    """``text`` with runs of whitespace as one space, cut to at most about ``limit`` characters at a
    word boundary and marked with ``…``; a first word longer than ``limit`` is kept whole."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    if cut <= 0:
        end = text.find(" ", limit)
        return text if end < 0 else text[:end] + " …"
    return text[:cut] + " …"
