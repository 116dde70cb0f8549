"""Report template layouts: propose one for a workbook, and check one against a workbook."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import app, console, err
from gateway.errors import ConfigurationError

template_app = typer.Typer(help="Report template layouts (mappings/templates/*.yaml).", no_args_is_help=True)
app.add_typer(template_app, name="template")


def _kind(path: Path, adapter: str | None) -> str:
    from gateway.cli import checks

    kind = adapter or ("csv" if path.suffix.lower() in (".csv", ".txt") else "xlsx")
    checks.one_of(kind, ("xlsx", "csv"), "--adapter")
    checks.readable_file(path, "workbook")
    return kind


@template_app.command("infer")
def template_infer(
    workbook: Annotated[Path, typer.Argument(help="a filled-in workbook (.xlsx) or its CSV export")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write the layout here (YAML)")] = None,
    adapter: Annotated[str | None, typer.Option(help="xlsx or csv (default: by the file's extension)")] = None,
) -> None:
    """Propose a layout: header rows, code/name/unit columns, value columns with their header text and
    a column code, the period, legacy fonts. What is unsure is printed to check; edit and keep the file."""
    from adapters.template_infer import InferError, infer
    from adapters.template_spec import dump_template
    from gateway.cli import checks

    kind = _kind(workbook, adapter)
    if output is not None:
        checks.output_path(output, "layout file")
    try:
        found = infer(workbook, kind)
    except InferError as exc:
        raise ConfigurationError(f"{workbook}: {exc}") from exc
    text = f"# Layout proposed by `gateway template infer {workbook.name}`: check it, edit it, keep it.\n"
    text += dump_template(found.spec)
    if output is None:
        console.print(text, markup=False, highlight=False, soft_wrap=True, end="")
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", markup=False)
    for note in found.notes:
        err.print(f"check: {note}", markup=False)
    if not found.notes:
        err.print("nothing unsure; still, read the layout before using it", markup=False)


@template_app.command("check")
def template_check(
    spec: Annotated[Path, typer.Argument(help="the layout (YAML)")],
    workbook: Annotated[Path, typer.Argument(help="a workbook (.xlsx) or CSV export in that layout")],
    rows: Annotated[int, typer.Option(min=1, help="records to show")] = 20,
    period: Annotated[str | None, typer.Option(help="the period, when the layout takes it from --period")] = None,
    unit: Annotated[str | None, typer.Option(help="the unit code, when the layout takes it from --unit")] = None,
    output_format: Annotated[str, typer.Option("--format", help="table or jsonl")] = "table",
    adapter: Annotated[str | None, typer.Option(help="xlsx or csv (default: by the file's extension)")] = None,
) -> None:
    """Show the first records as ingest would read them with this layout, and the counts of all.
    Exit 1 when the layout reads no value at all from the workbook."""
    from adapters.registry import reader_for
    from adapters.template_spec import TemplateError
    from gateway.cli import checks
    from gateway.cli.preview import print_preview

    checks.one_of(output_format, ("table", "jsonl"), "--format")
    checks.readable_file(spec, "layout file")
    kind = _kind(workbook, adapter)
    if period:
        period = checks.period_key(period)
    options = {k: v for k, v in {"template": str(spec), "period": period, "unit": unit}.items() if v}
    try:
        reader = reader_for(kind, workbook, options)
    except TemplateError as exc:
        raise ConfigurationError(str(exc)) from exc
    counts = print_preview(reader, output_format, limit=rows)
    raise typer.Exit(0 if counts["value"] else 1)
