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
    from rich.progress import Progress

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
    source: Annotated[
        str | None, typer.Argument(help="file, URL (json-api) or SQLAlchemy URL (sql); not with --manifest")
    ] = None,
    adapter: Annotated[str | None, typer.Option(help="xlsx, csv, json-api or sql")] = None,
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
    reporting_unit: Annotated[
        str | None, typer.Option(help="default: our sender code (with --manifest: for entries naming none)")
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(help="a CSV or YAML list of files (source, adapter, mapping ...) read by one process"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="with --manifest: files read at once (default: the cores)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Read a source: every record becomes an observation or a quarantine record with a reason.

    With --dry-run nothing is stored: one record per value read (indicator, name, unit, column,
    period, unit_code, value, location) and one per problem, as jsonl or a table.

    With --manifest, many files in one process: each is its own ingest run with its own result line;
    a file that fails is named and the others are read (exit 1); a wrong manifest reads nothing (exit 2)."""
    import os

    from gateway.cli import checks

    if manifest is not None:
        given = {
            "SOURCE": source,
            "--adapter": adapter,
            "--mapping": mapping,
            "--template": template,
            "--period": period,
            "--unit": unit,
            "--query": query,
            "--encoding": encoding,
            "--dry-run": dry_run or None,
        }
        named = [name for name, value in given.items() if value is not None]
        if named:
            raise checks.CommandInputError(
                f"{', '.join(named)}: with --manifest each file's settings are in the manifest ({manifest})"
            )
        checks.readable_file(manifest, "manifest")
        ingest_manifest(manifest, workers, reporting_unit, config)
        return
    if source is None or adapter is None:
        raise checks.CommandInputError("give a SOURCE and its --adapter, or a --manifest of files")
    if workers is not None:
        raise checks.CommandInputError("--workers is for --manifest (one source is read by one process)")

    from adapters.registry import READERS, UnknownAdapter, reader_for
    from adapters.template_paths import TemplateError, resolve
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
    gw = gateway_for(config, create=True, lazy=True)
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


def ingest_manifest(manifest: Path, workers: int | None, reporting_unit: str | None, config: Path | None) -> None:
    """``gateway ingest --manifest``: check the whole manifest, then read its files in a pool of
    workers forked from this process (``gateway.ingest_manifest``); one result line per file."""
    import time

    from gateway import ingest_manifest as im

    entries = im.read_manifest(manifest)  # ManifestError: exit 2 before anything is read
    gw = gateway_for(config, create=True, lazy=True)  # the schema is checked (and made) once, here
    settings = gw.settings
    gw.close()  # the workers open their own connections
    plans = im.plan(entries)
    im.warm_regimes(plans)
    count = workers or im.default_workers(sum(p.problem is None for p in plans))
    total_bytes = sum(p.size for p in plans) or 1
    started = time.perf_counter()
    progress = _manifest_progress(len(plans))
    task = progress.add_task("reading", total=total_bytes, files=0)
    done_bytes = 0

    def on_done(result: im.FileResult) -> None:
        nonlocal done_bytes
        done_bytes += next((p.size for p in plans if p.entry == result.entry), 0)
        progress.update(task, completed=done_bytes, files=progress.tasks[0].fields["files"] + 1)

    try:
        results = im.ingest_all(
            settings, plans, workers=count, reporting_unit=reporting_unit, on_start=progress.start, on_done=on_done
        )
    finally:
        progress.stop()
    seconds = time.perf_counter() - started
    failed = [r for r in results if not r.ok]
    values = 0
    for r in results:
        if r.report is not None:
            values += r.report.read
            print_ingest_report(r.report, name=f"{r.entry.name} ({r.seconds:.1f} s)")
        else:
            console.print(f"{r.entry.name}: failed: {r.error}", markup=False, soft_wrap=True)
    peak = max((r.worker_peak_rss_mb for r in results), default=0.0)
    console.print(
        f"{len(results)} files: {len(results) - len(failed)} ingested, {len(failed)} failed; read {values:,} values "
        f"in {seconds:.1f} s ({values / seconds if seconds else 0:,.0f} values/s), {min(count, len(results))} "
        f"worker(s), largest worker peak RSS {peak:.0f} MB",
        markup=False,
        soft_wrap=True,
    )
    if failed:
        for r in failed:
            err.print(f"failed: {r.entry.name} ({r.entry.where}): {r.error}", markup=False, soft_wrap=True)
        names = ", ".join(r.entry.name for r in failed)
        err.print(f"error: {len(failed)} of {len(results)} files failed: {names}", markup=False, soft_wrap=True)
        raise typer.Exit(1)


def _manifest_progress(files: int) -> Progress:
    """Files done of the total, values read (every worker's, live) and their rate, elapsed and the
    time left (by the bytes of the files done); nothing when stderr is not a terminal."""
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

    from gateway.ingest_manifest import values_read

    class Values(ProgressColumn):
        """Values read so far by every worker, and per second since the start."""

        def render(self, task: Task) -> Text:
            values, elapsed = values_read(), task.elapsed or 0.0
            rate = f"{values / elapsed:,.0f}" if elapsed > 0.5 else "-"
            return Text(f"{values:,} values {rate} values/s", style="progress.data.speed")

    return Progress(
        SpinnerColumn(),
        TextColumn("reading"),
        BarColumn(),
        TextColumn(f"{{task.fields[files]}}/{files} files"),
        Values(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def print_ingest_report(report: IngestReport, *, name: str | None = None) -> None:
    """What an ingest did, in the order an operator asks: was anything new, what changed in reports
    already sent (and the corrections queued), what will never be sent, what was quarantined.

    With ``name`` (a file of a manifest) the first line starts with it and the others are indented."""
    lines = 0

    def say(text: str) -> None:
        nonlocal lines
        if name is not None:
            text = f"{name}: {text}" if lines == 0 else f"  {text.strip()}"
        lines += 1
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
    total = sum(g.values for g in outside)
    if outside and fmt != "table":
        # JSON and CSV carry the records alone (a program reads them); the values no regime will send
        # are said on stderr, where they were not said at all (found from outside).
        err.print(
            f"outside every regime: {total:,} value(s) stored that no regime will send "
            f"({', '.join(f'{g.regime} {g.period}: {g.values:,}' for g in outside)}); "
            "`gateway quarantine list` shows why",
            markup=False,
        )
    if outside and fmt == "table":
        console.print(f"outside every regime: {total:,} value(s) stored that no regime will send", markup=False)
        listing = Table("regime", "period", "values", "why")
        for g in outside:
            listing.add_row(g.regime, g.period, f"{g.values:,}", g.reason)
        console.print(listing)
