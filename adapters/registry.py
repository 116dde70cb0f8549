"""Adapters by name. An unknown name fails with "did you mean ..."."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

from adapters.base import Reader
from adapters.xlsx_templates import XlsxTemplateReader

READERS: dict[str, Callable[[Path], Reader]] = {
    "xlsx": XlsxTemplateReader,
}


class UnknownAdapter(LookupError):
    pass


def reader_for(name: str, path: Path) -> Reader:
    try:
        return READERS[name](path)
    except KeyError:
        close = difflib.get_close_matches(name, READERS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(READERS))}"
        raise UnknownAdapter(f"unknown adapter {name!r}{hint}") from None
