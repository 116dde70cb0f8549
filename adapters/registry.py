"""Adapters by name, built from a source and options. An unknown name fails with "did you mean ...".

Options (all text, as the command line gives them): ``encoding``, ``delimiter`` (csv), ``query``
(sql), ``bearer_token``/``api_key`` (json-api); for xlsx and csv, ``template`` (a layout file, see
``adapters.template_spec``) with ``period`` (``2026-THANG-10``) and ``unit`` overriding the layout's
sources. Without a template, xlsx and csv read the built-in shapes (``XlsxTemplateLayout``, the long
CSV format)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from pathlib import Path

from adapters.base import PeriodRef, Reader, period_ref
from adapters.long_format import PERIOD_KEY
from adapters.template_paths import TemplateError, resolve

# Each reader is imported by its factory: a CSV ingest need not import openpyxl, httpx and tenacity
# (the json-api reader) first, nor build the layouts' pydantic models (issue 19: command start-up).


def _templated(kind: str, source: str, options: Mapping[str, str]) -> Reader:
    """A reader by layout; ``TemplateError`` when the layout or the period given is wrong."""
    from adapters.template_reader import TemplateReader
    from adapters.template_spec import load_template

    spec = load_template(resolve(options["template"]))
    if kind == "csv" and (options.get("encoding") or options.get("delimiter")):
        csv_opts = spec.csv.model_copy(update={k: v for k in ("encoding", "delimiter") if (v := options.get(k))})
        spec = spec.model_copy(update={"csv": csv_opts})
    period: PeriodRef | None = None
    if options.get("period"):
        key = PERIOD_KEY.match(options["period"].strip())
        checked = period_ref(key["type"], int(key["number"]), int(key["year"])) if key else None
        if not isinstance(checked, PeriodRef):
            raise TemplateError(
                f"--period {options['period']!r} is not a period like 2026-THANG-10"
                + (f" ({checked})" if isinstance(checked, str) else "")
            )
        period = checked
    return TemplateReader(Path(source), spec, adapter=kind, period=period, unit=options.get("unit") or None)


def _untemplated(kind: str, options: Mapping[str, str]) -> None:
    given = [f"--{k}" for k in ("period", "unit") if options.get(k)]
    if given:
        raise TemplateError(f"{' and '.join(given)} apply to a template layout: give --template (adapter {kind})")


def _xlsx(source: str, options: Mapping[str, str]) -> Reader:
    if options.get("template"):
        return _templated("xlsx", source, options)
    _untemplated("xlsx", options)
    from adapters.xlsx_templates import XlsxTemplateReader

    return XlsxTemplateReader(Path(source))


def _csv(source: str, options: Mapping[str, str]) -> Reader:
    if options.get("template"):
        return _templated("csv", source, options)
    _untemplated("csv", options)
    from adapters.csv_exports import CsvLayout, CsvReader

    return CsvReader(Path(source), CsvLayout(encoding=options.get("encoding"), delimiter=options.get("delimiter")))


def _json_api(source: str, options: Mapping[str, str]) -> Reader:
    _no_template("json-api", options)
    from adapters.json_api import JsonApiLayout, JsonApiReader

    return JsonApiReader(
        JsonApiLayout(url=source, bearer_token=options.get("bearer_token"), api_key=options.get("api_key"))
    )


def _sql(source: str, options: Mapping[str, str]) -> Reader:
    _no_template("sql", options)
    if not options.get("query"):
        raise UnknownAdapter("the sql adapter needs a query (--query 'SELECT ... AS ma_chi_tieu, ...')")
    from adapters.sql_source import SqlLayout, SqlReader

    return SqlReader(source, SqlLayout(query=options["query"]))


def _no_template(kind: str, options: Mapping[str, str]) -> None:
    given = [f"--{k}" for k in ("template", "period", "unit") if options.get(k)]
    if given:
        raise TemplateError(f"{', '.join(given)}: template layouts are for xlsx and csv sources, not {kind}")


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
