"""Adapters by name, built from a source and options. An unknown name fails with "did you mean ..."."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from pathlib import Path

from adapters.base import Reader
from adapters.csv_exports import CsvLayout, CsvReader
from adapters.json_api import JsonApiLayout, JsonApiReader
from adapters.sql_source import SqlLayout, SqlReader
from adapters.xlsx_templates import XlsxTemplateReader


def _xlsx(source: str, options: Mapping[str, str]) -> Reader:
    return XlsxTemplateReader(Path(source))


def _csv(source: str, options: Mapping[str, str]) -> Reader:
    return CsvReader(Path(source), CsvLayout(encoding=options.get("encoding"), delimiter=options.get("delimiter")))


def _json_api(source: str, options: Mapping[str, str]) -> Reader:
    return JsonApiReader(
        JsonApiLayout(url=source, bearer_token=options.get("bearer_token"), api_key=options.get("api_key"))
    )


def _sql(source: str, options: Mapping[str, str]) -> Reader:
    if not options.get("query"):
        raise UnknownAdapter("the sql adapter needs a query (--query 'SELECT ... AS ma_chi_tieu, ...')")
    return SqlReader(source, SqlLayout(query=options["query"]))


READERS: dict[str, Callable[[str, Mapping[str, str]], Reader]] = {
    "xlsx": _xlsx,
    "csv": _csv,
    "json-api": _json_api,
    "sql": _sql,
}


class UnknownAdapter(LookupError):
    pass


def reader_for(name: str, source: str | Path, options: Mapping[str, str] | None = None) -> Reader:
    try:
        factory = READERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, READERS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(READERS))}"
        raise UnknownAdapter(f"unknown adapter {name!r}{hint}") from None
    return factory(str(source), options or {})
