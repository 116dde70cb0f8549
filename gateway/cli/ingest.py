"""Reading sources: ingest, quarantine, mapping checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    err,
    gateway_for,
)
from gateway.cli.output import FormatOpt, LimitOpt, Listing
from gateway.errors import ConfigurationError

if TYPE_CHECKING:
    from gateway.ingest import IngestReport

quarantine_app = typer.Typer(help="Inspect quarantined input.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
mapping_app = typer.Typer(help="Indicator mapping files.", no_args_is_help=True)
app.add_typer(mapping_app, name="mapping")


@mapping_app.command("check")
def mapping_check(files: Annotated[list[Path], typer.Argument(help="mapping files (YAML)")]) -> None:
    """Report unknown units, incompatible units, undeclared forms, duplicate or conflicting rules, with lines."""
    from gateway.cli import checks
    from mappings.check import check_file

    for path in files:
        checks.readable_file(path, "mapping file")
    total = 0
    for path in files:
        findings = check_file(path)
        total += len(findings)
        for finding in findings:
            console.print(finding.render(path), markup=False, soft_wrap=True)
        if not findings:
            console.print(f"{path}: ok", markup=False)
    raise typer.Exit(1 if total else 0)


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="file, URL (json-api) or SQLAlchemy URL (sql)")],
    adapter: Annotated[str, typer.Option(help="xlsx, csv, json-api or sql")],
    mapping: Annotated[
        Path | None, typer.Option(help="indicator mapping file (mappings/indicators/*.yaml); not needed with --dry-run")
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(help="xlsx/csv: template layout (mappings/templates/*.yaml); default: the mapping's template"),
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="with a template: the period of every value, 2026-THANG-10")
    ] = None,
    unit: Annotated[str | None, typer.Option(help="with a template: the unit code of every value")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="read and print what is read; store nothing")] = False,
    output_format: Annotated[str, typer.Option("--format", help="with --dry-run: jsonl or table")] = "table",
    query: Annotated[str | None, typer.Option(help="sql: the query (columns aliased to the long format)")] = None,
    encoding: Annotated[
        str | None, typer.Option(help="csv: utf-8, utf-16, cp1258, tcvn3, vni (default: detect)")
    ] = None,
    reporting_unit: Annotated[str | None, typer.Option(help="default: our sender code")] = None,
    config: ConfigOpt = None,
) -> None:
    """Read a source: every record becomes an observation or a quarantine record with a reason.

    With --dry-run nothing is stored: one record per value read (indicator, name, unit, column,
    period, unit_code, value, location) and one per problem, as jsonl or a table."""
    import os

    from adapters.registry import READERS, UnknownAdapter, reader_for
    from adapters.template_spec import TemplateError, resolve
    from gateway.cli import checks
    from gateway.ingest import ingest as run_ingest
    from mappings.indicators import MappingError, load_mapping

    checks.one_of(output_format, ("table", "jsonl"), "--format")
    if encoding is not None:
        checks.csv_encoding(encoding, adapter)

    if adapter not in READERS:
        raise checks.CommandInputError(f"unknown adapter {adapter!r}{checks.hint(adapter, READERS)}")
    if adapter in ("xlsx", "csv"):  # a file: a missing one used to count as one quarantined record, exit 0
        checks.readable_file(Path(source), "source file")
    if mapping is not None:
        checks.readable_file(mapping, "mapping file")
    if period:
        period = checks.period_key(period)
    mapped = None
    try:
        if mapping is not None:
            mapped = load_mapping(mapping)
            if template is None and mapped.spec.template and adapter in ("xlsx", "csv"):
                template = str(resolve(mapped.spec.template, mapping.parent))
        elif not dry_run:
            raise MappingError("--mapping is needed to store observations (or use --dry-run to preview)")
        options = {
            k: v
            for k, v in {
                "query": query,
                "encoding": encoding,
                "template": template,
                "period": period,
                "unit": unit,
                "bearer_token": os.environ.get("GATEWAY_SOURCE_BEARER_TOKEN"),
                "api_key": os.environ.get("GATEWAY_SOURCE_API_KEY"),
            }.items()
            if v
        }
        reader = reader_for(adapter, source, options)
    except (UnknownAdapter, MappingError, TemplateError) as exc:
        raise ConfigurationError(str(exc)) from exc
    if dry_run:
        from gateway.cli.preview import print_preview

        print_preview(reader, output_format)
        return
    assert mapped is not None
    gw = gateway_for(config, create=True)
    from gateway.progress import progress_bar

    # Count and rate on a terminal, and the time left when the number of records is known before
    # reading (a long-format CSV: one record per line); nothing when stderr is not a terminal.
    total = _csv_records(Path(source)) if adapter == "csv" and not template else None
    with progress_bar(err, "reading", "records", eta=total is not None) as progress:
        task = progress.add_task("reading", total=total)
        report = run_ingest(
            gw.sessions,
            reader,
            mapped,
            gw.clock,
            reporting_unit=reporting_unit or gw.settings.sender.code,
            actor="cli",
            progress=lambda n: progress.update(task, completed=n),
            gateway=gw,
            options=options,
            batch_size=gw.settings.ingest.batch_size,
            lease_seconds=gw.settings.ingest.lease_seconds,
        )
    print_ingest_report(report)


def _csv_records(path: Path) -> int | None:
    """Records in a long-format CSV (lines after the header), counted at disk speed for the ETA."""
    lines, last = 0, b"\n"
    try:
        with path.open("rb") as source:
            while block := source.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
    except OSError:
        return None
    lines += last != b"\n"
    return max(lines - 1, 0)


def print_ingest_report(report: IngestReport) -> None:
    """What an ingest did, in the order an operator asks: was anything new, what changed in reports
    already sent (and the corrections queued), what will never be sent, what was quarantined."""

    def say(text: str) -> None:
        console.print(text, markup=False, soft_wrap=True)

    for abandoned in report.recovered:
        err.print(f"note: {abandoned.describe()}", markup=False, soft_wrap=True)
    if report.state == "unchanged":
        say(
            f"unchanged: the same content was read by ingest run {report.same_as}; nothing stored, nothing sent "
            f"(ingest run {report.run_id}, SHA-256 {report.content_hash})"
        )
        return
    say(f"read {report.read}: mapped {report.mapped}, quarantined {report.quarantined}, blank {report.blank}")
    if report.no_change and report.unchanged:
        say(f"unchanged: all {report.unchanged:,} values equal the stored ones; nothing stored")
    else:
        say(
            f"stored: {report.added:,} new, {report.changed:,} changed; "
            f"{report.unchanged:,} unchanged (not stored again)"
        )
    if report.changed_in_sent:
        say(f"changed in reports already sent: {report.changed_in_sent:,}")
        for change in report.changes:
            say(f"  {change.describe()}")
        if report.changed_in_sent > len(report.changes):
            more = report.changed_in_sent - len(report.changes)
            say(f"  ... and {more:,} more (the summary of ingest run {report.run_id})")
    for c in report.corrections:
        say(f"correction queued: {c.report} revision {c.revision} as packet {c.packet_id}")
    for name, why in report.to_correct.items():
        say(f"to correct: {name}: {why}; then run gateway reports correct")
    if report.outside_regime:
        say(f"outside every regime: {report.outside_regime:,} (stored, never sent)")
        for where, count in sorted(report.outside.items()):
            say(f"  {count:,}: {where}")
    for reason, count in report.reasons.most_common():
        say(f"  quarantined {count}: {reason}")


@quarantine_app.command("replay")
def quarantine_replay(
    mapping: Annotated[Path, typer.Option(help="the (fixed) mapping to apply")],
    reporting_unit: Annotated[str | None, typer.Option()] = None,
    config: ConfigOpt = None,
) -> None:
    """Map open quarantine records again (after fixing a mapping); those that map become observations."""
    from gateway.cli import checks

    checks.readable_file(mapping, "mapping file")
    from gateway.ingest import replay_quarantine
    from mappings.indicators import load_mapping

    gw = gateway_for(config)
    done, still = replay_quarantine(
        gw.sessions,
        load_mapping(mapping),
        gw.clock,
        reporting_unit=reporting_unit or gw.settings.sender.code,
        actor="cli",
    )
    console.print(f"replayed {done} record(s); {still} still quarantined")


@quarantine_app.command("list")
def quarantine_list(config: ConfigOpt = None, limit: LimitOpt = 50, fmt: FormatOpt = "table") -> None:
    """Quarantined input with where and why, and the values stored that no regime will send."""
    from sqlalchemy import select

    from gateway.coverage import unsent_outside
    from gateway.db.models import QuarantineRecord
    from gateway.ingest_runs import visible_quarantine

    table = Listing(fmt, "id", "location", "reason", "raw")
    gw = gateway_for(config)
    with gw.sessions() as session:
        query = select(QuarantineRecord).where(visible_quarantine()).order_by(QuarantineRecord.id).limit(limit)
        for q in session.execute(query).scalars():
            table.add_row(q.id, q.location, q.reason, q.raw if fmt == "json" else json.dumps(q.raw, ensure_ascii=False))
        outside = unsent_outside(session)
    table.emit()
    if outside and fmt == "table":  # json and csv carry the records alone
        total = sum(g.values for g in outside)
        console.print(f"outside every regime: {total:,} value(s) stored that no regime will send", markup=False)
        listing = Table("regime", "period", "values", "why")
        for g in outside:
            listing.add_row(g.regime, g.period, f"{g.values:,}", g.reason)
        console.print(listing)
