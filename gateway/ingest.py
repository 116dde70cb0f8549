"""Ingest use case: read a source, map every record, store observations or quarantine records.

The count identity ``read == mapped + quarantined + blank`` holds for every run and is checked
before the run completes; a run that breaks it is a bug and fails, leaving nothing stored.

A run commits in batches and its rows stay invisible until it completes (``gateway.ingest_runs``),
so reading a large workbook never holds the database for its whole length. Reading again is safe:
the same content is a no-op (its hash is recorded per run); a value equal to the stored one is not
stored again; a value that differs, or a new value, in a report already sent makes a correction
(revision n+1 of that report only, through ``gateway.lifecycle``), and the run's summary names
each changed value.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, localcontext
from hashlib import sha256
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Column, Select, Table, and_, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Blank, PeriodRef, RawObservation, Reader, period_ref
from adapters.reasons import excerpt
from gateway import audit, ingest_runs, resources
from gateway.calendar import data_window
from gateway.clock import Clock
from gateway.coverage import Outside, outside_regime
from gateway.db.models import IngestRun, IngestState, Observation, Packet, QuarantineRecord
from gateway.errors import ConfigurationError, Conflict, GatewayError, NotFound
from mappings.indicators import (
    EXACT,
    IndicatorMapping,
    MappingError,
    MappingRejected,
    PreparedRule,
    load_mapping,
    plain,
)

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway

BATCH = 10_000
"""Observations per committed batch: fewer commits (and WAL checkpoints) per value; a batch of rows
as dicts is about 20 MB (issue 19: 2,000 -> 10,000 took a 100k-value CSV from 3,400 to 4,100 values/s)."""
SQLITE_CACHE_KIB = 16_384
"""SQLite's page cache for the connection an ingest writes with (the default is 2 MiB): each value
goes into five indexes, one of them keyed by a random SHA-256, so a batch touches index pages all
over the file, and with 2 MiB they were read back from the OS again and again (issue 19: 15-18% less
CPU per stored row with 16 MiB; 64 MiB did no better). It stays on that pooled connection."""
FLUSH_SECONDS = 2.0
"""A slow reader's batch is committed after this long even when not full, so progress shows."""
NAMED_CHANGES = 200
"""Changed values of sent reports a run's summary names one by one (all are counted)."""
NAMED_PER_REPORT = 20
OBSERVATIONS = cast(Table, Observation.__table__)
"""Core tables for the batch inserts: the ORM's bulk path costs as much again per row."""
QUARANTINE = cast(Table, QuarantineRecord.__table__)


class IngestFailed(GatewayError):
    """The run could not complete; what it had stored was removed (the message says why)."""


@dataclass(frozen=True)
class ChangedValue:
    """A value of a report that differs from what was stored (``was`` None: a value the report lacked)."""

    report: str
    indicator: str
    disaggregation: str
    was: str | None
    now: str
    where: str

    def describe(self) -> str:
        was = self.was if self.was is not None else "(none)"
        return f"{self.report} {self.indicator} [{self.disaggregation}]: {was} -> {self.now} ({self.where})"

    def as_json(self) -> dict[str, object]:
        return {
            "report": self.report,
            "indicator": self.indicator,
            "disaggregation": self.disaggregation,
            "was": self.was,
            "now": self.now,
            "where": self.where,
        }


@dataclass(frozen=True)
class Correction:
    report: str
    packet_id: str
    revision: int
    values: int


@dataclass
class IngestReport:
    run_id: int
    read: int = 0
    mapped: int = 0
    quarantined: int = 0
    blank: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    outside_regime: int = 0
    outside: Counter[str] = field(default_factory=Counter)
    """``regime period: reason`` -> values no regime will send."""
    changes: list[ChangedValue] = field(default_factory=list)
    """The first ``NAMED_CHANGES`` changed values of reports already sent."""
    changed_in_sent: int = 0
    corrections: list[Correction] = field(default_factory=list)
    to_correct: dict[str, str] = field(default_factory=dict)
    """Reports already sent with changed values that no correction was made for, and why."""
    state: str = IngestState.COMPLETED.value
    same_as: int | None = None
    """For an unchanged source: the run that read the same content."""
    content_hash: str | None = None
    recovered: list[ingest_runs.Abandoned] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.read == self.mapped + self.quarantined + self.blank

    @property
    def no_change(self) -> bool:
        return self.state == IngestState.UNCHANGED.value or (self.added == 0 and self.changed == 0)

    def summary(self) -> dict[str, object]:
        return {
            "reasons": dict(self.reasons),
            "outside_regime": dict(self.outside),
            "changed_in_sent_reports": self.changed_in_sent,
            "changes": [c.as_json() for c in self.changes],
            "corrections": [
                {"report": c.report, "packet": c.packet_id, "revision": c.revision, "values": c.values}
                for c in self.corrections
            ],
            "to_correct": self.to_correct,
        }


def _reason_class(reason: str) -> str:
    """The reason a run's summary counts under: up to its first colon, parenthesised asides left out
    (a commune's name), the rest of the sentence kept. Cutting at the first parenthesis made
    "commune '04183' (Xã Mường Lầm) belongs to province 14, not 15" a bare "commune '04183'". What is
    quoted is the source's own text and is kept whole: a code 'A(1)' or a value '12:30' is neither an
    aside nor the end of the sentence (they were cut there, naming a code the file does not have)."""
    head: list[str] = []
    quote: str | None = None
    depth = 0
    for at, char in enumerate(reason):
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "'\"" and (at == 0 or not reason[at - 1].isalnum()):  # an opening quote, not an apostrophe
            quote = char
        elif char == "(":
            depth += 1
            continue
        elif char == ")" and depth:
            depth -= 1
            continue
        elif char == ":" and not depth:
            break
        if not depth:
            head.append(char)
    return excerpt(re.sub(r"\s{2,}", " ", "".join(head)).strip())  # whole words: never "chưa có số li"


def value_key(
    regime: str,
    form: str,
    indicator: str,
    period: str,
    unit: str,
    disaggregation: Iterable[Any],
    column: str | None = None,
) -> str:
    """What a value is of (report, indicator, form column, disaggregation), hashed; equal keys are one
    SoLieu. Without a column it is the digest migration 0005 gave existing rows (a copy lives there)."""
    parts = [regime, form, indicator, period, unit, *("=".join(map(str, p)) for p in disaggregation)]
    if column:
        parts.append(f"MaCot={column}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def source_hash(reader: Reader) -> str | None:
    """SHA-256 of the source's bytes when it is a file (an API or a database has no bytes to hash
    before reading: its run records the hash of the records read instead)."""
    path = Path(reader.source)
    try:
        if not path.is_file():
            return None
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _input_hash(
    content: str, reader: Reader, mapping: IndicatorMapping, reporting_unit: str, options: Mapping[str, object]
) -> str:
    """Everything that decides what a read stores: equal means reading again stores nothing new.
    Hashed, never stored, so an API key in a layout never reaches the database."""
    try:
        mapping_bytes = mapping.path.read_bytes()
    except OSError:
        mapping_bytes = b""
    parts = [
        content,
        reader.name,
        repr(getattr(reader, "layout", None)),
        json.dumps({k: _option_fingerprint(v) for k, v in sorted(options.items())}),
        mapping.version,
        hashlib.sha256(mapping_bytes).hexdigest(),
        reporting_unit,
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _option_fingerprint(value: object) -> str:
    """An option as it decides the read: a file (a template layout) by its content, not its name."""
    text = str(value)
    try:
        path = Path(text)
        if len(text) < 4096 and path.is_file():
            return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except (OSError, ValueError):
        pass
    return text


def _identical_run(session: Session, input_hash: str) -> IngestRun | None:
    """The latest finished run of the same input, if no run stored anything after it (a run of
    another source may have changed the values since: then the source is read again)."""
    match = session.scalars(
        select(IngestRun)
        .where(
            IngestRun.input_hash == input_hash,
            IngestRun.state.in_((IngestState.COMPLETED.value, IngestState.UNCHANGED.value)),
        )
        .order_by(IngestRun.id.desc())
        .limit(1)
    ).first()
    if match is None:
        return None
    later = session.scalar(
        select(IngestRun.id)
        .where(
            IngestRun.id > match.id,
            IngestRun.state == IngestState.COMPLETED.value,
            (IngestRun.added + IngestRun.changed) > 0,
        )
        .limit(1)
    )
    return None if later is not None else match


def _running_twin(session: Session, input_hash: str) -> IngestRun | None:
    return session.scalars(
        select(IngestRun).where(IngestRun.input_hash == input_hash, IngestRun.state == IngestState.RUNNING.value)
    ).first()


REPORT_COLUMNS = ("regime_code", "form_code", "period_key", "reporting_unit")
LOOKUP_CHUNK = 5000
"""Value keys per lookup statement (under SQLite's bound-parameter limit with a batch of 100,000)."""
_DB_ONLY = ("disaggregation_db", "created_at_db", "report")
"""Row keys that are not columns: a column's value as the database driver takes it (worked out once
per key), and the name of the report the value belongs to."""
LOOKUP_LIMIT = 65_536


class _RowMaker:
    """Observation rows of one run, as plain dicts for the batch insert (ORM objects cost more than
    reading the source). What repeats is worked out once per key, not per value (issue 19): a
    period's data window, the mapping's rule per (indicator, unit), the place per (code, date), the
    disaggregation with its JSON for the database and its part of the value key."""

    def __init__(
        self, mapping: IndicatorMapping, run_id: int, reporting_unit: str, now: datetime, dialect: Dialect | None
    ) -> None:
        self.mapping = mapping
        self.reporting_unit = reporting_unit
        self.dialect_name = dialect.name if dialect is not None else None
        self.to_json = _processor(OBSERVATIONS.c.disaggregation, dialect)
        self.fixed: dict[str, Any] = {
            "ingest_run_id": run_id,
            "reporting_unit": reporting_unit,
            "admin_code_list": mapping.spec.admin_code_list,
            "mapping_version": mapping.version,
            "created_at": now,
            "created_at_db": _processor(OBSERVATIONS.c.created_at, dialect)(now),
        }
        self.periods: dict[PeriodRef, tuple[date, str] | str] = {}
        self.cuts: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[list[list[str]], object, str]] = {}
        self.heads: dict[tuple[PreparedRule, str], tuple[str, str, str, str]] = {}

    def period(self, period: PeriodRef) -> tuple[date, str]:
        """The period's last day of data and its key, or ``MappingRejected`` for an impossible period
        (the readers check this; an adapter of another's may not)."""
        found = self.periods.get(period)
        if found is None:
            checked = period_ref(period.period_type, period.number, period.year)
            if isinstance(checked, str):
                found = checked
            else:
                found = (data_window(period.period_type, period.number, period.year)[1], period.key)
            if len(self.periods) >= LOOKUP_LIMIT:
                self.periods.clear()
            self.periods[period] = found
        if isinstance(found, str):
            raise MappingRejected(found)
        return found

    def head(self, rule: PreparedRule, period_key: str) -> tuple[str, str, str, str]:
        """What every value of one rule in one period shares: the report's name, and the leading
        parts of the value key and of the content digest (worked out once, not per value)."""
        found = self.heads.get((rule, period_key))
        if found is None:
            found = (
                f"{rule.regime_code}/{rule.form_code}/{period_key}/{self.reporting_unit}",
                "|".join((rule.regime_code, rule.form_code, rule.indicator_code, period_key, self.reporting_unit, "")),
                f"{rule.indicator_code}|{period_key}|",
                f"|{rule.unit}",
            )
            if len(self.heads) >= LOOKUP_LIMIT:
                self.heads.clear()
            self.heads[(rule, period_key)] = found
        return found

    def row(self, item: RawObservation) -> tuple[dict[str, Any], str | None]:
        """The observation's row and the pre-reform unit code it was converted from; ``MappingRejected``
        says why the value cannot be mapped (checks in the order ``IndicatorMapping.apply`` makes them)."""
        end, period_key = self.period(item.period)
        mapping = self.mapping
        rule = mapping.rule(item.indicator_code, item.unit)
        value = rule.value_text(item.value)
        admin, converted_from = mapping.place(item.admin_unit, end)
        breakdown = mapping.breakdown(item.disaggregation) if item.disaggregation else ()
        cut = self.cuts.get((admin, breakdown))
        if cut is None:
            pairs = [["DVHC", admin], *[[d, v] for d, v in breakdown]]
            cut = (pairs, self.to_json(pairs), "|".join("=".join(p) for p in pairs))
            if len(self.cuts) >= LOOKUP_LIMIT:
                self.cuts.clear()
            self.cuts[(admin, breakdown)] = cut
        name, key_head, digest_head, digest_tail = self.head(rule, period_key)
        column = item.column
        key = key_head + cut[2]
        content = f"{digest_head}{admin}|{value}{digest_tail}"  # content_digest's text, its parts joined by |
        if column:
            key += f"|MaCot={column}"
        if column is not None:
            content += f"|MaCot={column}"
        return {
            **self.fixed,
            "regime_code": rule.regime_code,
            "form_code": rule.form_code,
            "indicator_code": rule.indicator_code,
            "source_indicator_code": item.indicator_code,
            "unit": rule.unit,
            "period_key": period_key,
            "disaggregation": cut[0],
            "disaggregation_db": cut[1],
            "column_code": column,
            "value": value,
            "source_ref": str(item.ref),
            "content_hash": sha256(content.encode()).hexdigest(),
            "value_key": sha256(key.encode()).hexdigest(),
            "report": name,
        }, converted_from


def _processor(column: Column[Any], dialect: Dialect | None) -> Callable[[Any], object]:
    """How the dialect's driver takes the column's values (JSON as text, SQLite's datetime as text)."""
    if dialect is None:
        return lambda value: value
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


def _insert_observations(session: Session, rows: list[dict[str, Any]], prepared_for: str | None) -> None:
    """Insert rows at the driver's speed (issue 19): PostgreSQL (psycopg) by ``COPY``, SQLite by one
    ``executemany`` of prepared tuples, others by the Core insert. SQLAlchemy's per-row parameter
    processing cost more than reading, mapping and hashing the value together."""
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name != prepared_for:  # the rows' driver values were made for another database
        prepared_for = None
    columns = [c.name for c in OBSERVATIONS.columns if c.name != "id"]
    sources = [f"{c}_db" if f"{c}_db" in _DB_ONLY else c for c in columns]
    if prepared_for == "postgresql" and dialect.driver == "psycopg":
        pick = itemgetter(*sources)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY observations ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(pick(row))
        return
    if prepared_for == "sqlite":
        compiled = OBSERVATIONS.insert().compile(dialect=dialect, column_keys=columns)
        if compiled.positiontup is not None:
            by_name = dict(zip(columns, sources, strict=True))
            pick = itemgetter(*(by_name[name] for name in compiled.positiontup))
            conn.exec_driver_sql(compiled.string, list(map(pick, rows)))
            return
    session.execute(OBSERVATIONS.insert(), [{k: v for k, v in row.items() if k not in _DB_ONLY} for row in rows])


def stored_values(
    report: tuple[str, ...], keys: list[str], run_id: int
) -> Select[str | None, str, str | None, int, str | None]:
    """The stored value (and its packet) of each of ``keys`` in one report (regime, form, period,
    unit), oldest first, among what this run and completed runs stored. The report's columns lead
    ``ix_observations_report`` and the value key ends it (migration 0014), so this is an index
    range scan however many values other reports hold."""
    regime, form, period, unit = report
    return (
        select(
            Observation.value_key,
            Observation.value,
            Observation.packet_id,
            Observation.ingest_run_id,
            Observation.source_ref,
        )
        .where(
            Observation.period_key == period,
            Observation.regime_code == regime,
            Observation.form_code == form,
            Observation.reporting_unit == unit,
            Observation.value_key.in_(keys),
            or_(Observation.ingest_run_id == run_id, ingest_runs.visible_observation()),
        )
        .order_by(Observation.id)
    )


class _Batches:
    """Rows waiting for the next commit, and what the run learnt from the ones committed."""

    def __init__(self, sessions: sessionmaker[Session], run_id: int, report: IngestReport, now: datetime) -> None:
        self.sessions, self.run_id, self.report, self.now = sessions, run_id, report, now
        self.source = ""  # the reader's source, named in quarantine records
        self.rows: list[tuple[dict[str, Any], int]] = []
        self.quarantine: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.touched_reports: dict[str, dict[str, Any]] = {}
        """Reports that got a new or changed value: name -> its key columns (checked for a packet at the end)."""
        self.changes_per_report: dict[str, int] = {}
        self.named: dict[str, list[ChangedValue]] = {}
        self.seen: set[int] = set()
        """The first 64 bits of every value key this run stored (a small int a value, not the 64-char key)."""
        self.reports_elsewhere: set[tuple[str, ...]] = set()
        self.prepared_for: str | None = None
        """The database the rows' driver values were made for (``_RowMaker``)."""

    def due(self, size: int) -> bool:
        return len(self.rows) + len(self.quarantine) >= size or (
            bool(self.rows or self.quarantine) and time.monotonic() - self.last_flush > FLUSH_SECONDS
        )

    def flush(self) -> None:
        if not self.rows and not self.quarantine:
            return
        with self.sessions.begin() as session:
            state = session.scalar(select(IngestRun.state).where(IngestRun.id == self.run_id))
            if state != IngestState.RUNNING.value:
                raise IngestFailed(f"ingest run {self.run_id} was declared abandoned ({state}) while it ran")
            if self.prepared_for == "sqlite":
                session.connection().exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            stored = self._compare(session) if self.rows else []
            if stored:  # an empty list would insert one row of defaults
                _insert_observations(session, stored, self.prepared_for)
            if self.quarantine:
                session.execute(QUARANTINE.insert(), self.quarantine)
            session.execute(update(IngestRun).where(IngestRun.id == self.run_id).values(heartbeat_at=self.now))
        self.rows.clear()
        self.quarantine.clear()
        self.last_flush = time.monotonic()

    def _to_look_up(self, session: Session) -> dict[tuple[str, ...], set[str]]:
        """The keys of the batch that may have a stored value, by report: those of a report that has
        visible observations of other runs, and those this run stored before (``seen``, by a 64-bit
        prefix: a collision only costs a lookup). A first load of a report looks nothing up (issue
        19: the lookup cost more than the insert)."""
        seen = self.seen
        elsewhere: dict[str, bool] = {}
        keys: dict[tuple[str, ...], set[str]] = {}
        for row, _ in self.rows:
            name = row["report"]
            stored = elsewhere.get(name)
            if stored is None:
                stored = elsewhere[name] = self._stored_elsewhere(session, tuple(row[k] for k in REPORT_COLUMNS))
            key = row["value_key"]
            if stored or (seen and int(key[:16], 16) in seen):
                keys.setdefault(tuple(row[k] for k in REPORT_COLUMNS), set()).add(key)
        return keys

    def _stored_elsewhere(self, session: Session, report: tuple[str, ...]) -> bool:
        """Whether the report has observations other runs made visible (asked again each batch until
        it has: a run of another source may complete meanwhile)."""
        if report in self.reports_elsewhere:
            return True
        regime, form, period, unit = report
        found = (
            session.connection()
            .execute(
                select(Observation.id)
                .where(
                    Observation.regime_code == regime,
                    Observation.form_code == form,
                    Observation.period_key == period,
                    Observation.reporting_unit == unit,
                    Observation.ingest_run_id != self.run_id,
                    ingest_runs.visible_observation(),
                )
                .limit(1)
            )
            .first()
        )
        if found is not None:
            self.reports_elsewhere.add(report)
        return found is not None

    def _compare(self, session: Session) -> list[dict[str, Any]]:
        """The rows to insert: new values and changed ones; a value equal to the stored one is counted
        and dropped (reading a source twice never stores it twice). A second, different value for
        the same indicator, unit, period and place within this source is not a change: it is
        quarantined naming both places, and the first one stays (the later one used to win
        silently, counted as "changed"; found by an outside test)."""
        current: dict[str | None, tuple[str, str | None, str | None]] = {}  # value, packet, where this run read it
        run_id = self.run_id
        for of_report, wanted in self._to_look_up(session).items():
            keys = sorted(wanted)
            for start in range(0, len(keys), LOOKUP_CHUNK):
                query = stored_values(of_report, keys[start : start + LOOKUP_CHUNK], run_id)
                for key, value, packet, run, where in session.connection().execute(query):
                    # the latest of each key wins, as in report building
                    current[key] = (value, packet, (where or "an earlier record") if run == run_id else None)
        out = []
        report = self.report
        seen = self.seen
        touched, per_report, named_per = self.touched_reports, self.changes_per_report, self.named
        for row, parts in self.rows:
            key = row["value_key"]
            before = current.get(key)
            if before is not None and before[0] == row["value"]:
                report.unchanged += parts
                continue
            if before is not None and before[2] is not None:
                self._conflict(row, parts, before[0], before[2])
                continue
            name = row["report"]
            if before is None:
                report.added += parts
            else:
                report.changed += parts
            count = per_report.get(name)
            if count is None:
                touched[name] = {k: row[k] for k in REPORT_COLUMNS}
                named_per[name] = []
                count = 0
            per_report[name] = count + parts
            seen.add(int(key[:16], 16))
            named = named_per[name]
            if len(named) < NAMED_PER_REPORT:
                named.append(
                    ChangedValue(
                        report=name,
                        indicator=row["indicator_code"]
                        + (f" MaCot={row['column_code']}" if row.get("column_code") else ""),
                        disaggregation=", ".join("=".join(map(str, p)) for p in row["disaggregation"]),
                        was=before[0] if before else None,
                        now=row["value"],
                        where=str(row["source_ref"])[:200],
                    )
                )
            current[key] = (row["value"], None, row["source_ref"])  # the same key later in the batch meets this
            out.append(row)
        return out

    def _conflict(self, row: dict[str, Any], parts: int, kept: str, kept_at: str) -> None:
        """Quarantine ``row``: this source gave another value for its key at ``kept_at``."""
        report = self.report
        place = next((v for d, v in row["disaggregation"] if d == "DVHC"), None)
        reason = (  # before the colon, what the run's summary counts it under
            f"a second value in the same source: {row['indicator_code']} ({row['unit']}, {row['period_key']}, "
            f"{place}) is {row['value']} here and {kept} at {str(kept_at)[:200]}, which is kept; correct the "
            "source and ingest it again"
        )
        raw: dict[str, object] = {
            "indicator": row["source_indicator_code"],
            "unit": row["unit"],
            "period": row["period_key"],
            "admin_unit": place,
            "column": row["column_code"],
            "value": row["value"],
        }
        report.mapped -= parts
        self.quarantine.append(
            _quarantine_row(self.run_id, self.source, row["source_ref"], raw, reason, self.now, report, parts)
        )


def ingest(
    sessions: sessionmaker[Session],
    reader: Reader,
    mapping: IndicatorMapping,
    clock: Clock,
    *,
    reporting_unit: str,
    actor: str = "system",
    progress: Callable[[int], None] | None = None,
    gateway: Gateway | None = None,
    options: Mapping[str, object] | None = None,
    batch_size: int = BATCH,
    lease_seconds: float = ingest_runs.DEFAULT_LEASE_SECONDS,
) -> IngestReport:
    """Read everything from ``reader`` under one run row, committed in batches.

    ``gateway``, when given, builds and queues the corrections (revision n+1) of reports already
    sent whose values this run changed; without it they are listed in ``to_correct``.
    ``options`` are the reader's options (they decide what is read, so they are part of the input
    whose hash makes reading again a no-op)."""
    recovered = ingest_runs.recover(sessions, clock, lease_seconds=lease_seconds, actor=actor)
    content = source_hash(reader)
    input_hash = _input_hash(content, reader, mapping, reporting_unit, options or {}) if content else None
    host, pid = ingest_runs.this_process()
    now = clock.now()
    with sessions.begin() as session:
        if input_hash is not None:
            twin = _running_twin(session, input_hash)
            if twin is not None:
                raise Conflict(
                    f"ingest run {twin.id} is reading the same content (process {twin.pid} on {twin.host}, "
                    f"since {twin.started_at:%Y-%m-%d %H:%M}); wait for it to finish"
                )
            same = _identical_run(session, input_hash)
        else:
            same = None
        run = IngestRun(
            source=reader.source,
            adapter=reader.name,
            mapping_version=mapping.version,
            started_at=now,
            state=IngestState.UNCHANGED.value if same else IngestState.RUNNING.value,
            content_hash=content,
            input_hash=input_hash,
            reporting_unit=reporting_unit,
            host=host,
            pid=pid,
            heartbeat_at=now,
            finished_at=now if same else None,
            summary={"same_as": same.id} if same else None,
        )
        session.add(run)
        session.flush()
        run_id = run.id
        if same is not None:
            audit.record(
                session,
                at=now,
                actor=actor,
                action="ingest.unchanged",
                subject=f"ingest:{run_id}",
                detail={"source": reader.source, "same_as": same.id, "content_hash": content},
            )
    report = IngestReport(run_id, content_hash=content, recovered=recovered)
    if same is not None:
        report.state, report.same_as = IngestState.UNCHANGED.value, same.id
        return report
    try:
        with ingest_runs.Heartbeat(sessions, run_id, clock, interval=max(0.5, lease_seconds / 4)):
            hash_records = content is None
            sent = _read(sessions, reader, mapping, clock, report, reporting_unit, progress, batch_size, hash_records)
            _complete(sessions, reader, mapping, clock, report, sent, actor, gateway)
    except BaseException as exc:
        why = f"{type(exc).__name__}: {exc}" if not isinstance(exc, GatewayError) else str(exc)
        ingest_runs.fail(sessions, run_id, why, clock, actor=actor)
        if isinstance(exc, GatewayError | KeyboardInterrupt | SystemExit):
            raise
        raise IngestFailed(f"ingest run {run_id} failed and stored nothing: {why}") from exc
    if progress:
        progress(report.read)
    _count_ingested(report)
    return report


def _count_ingested(report: IngestReport) -> None:
    """Add the run's values to ``gateway_ingested_values`` where this process has metrics loaded (a
    process that serves them: the API, a worker or scheduler with its listener). A ``gateway ingest``
    process serves none, and importing them (prometheus_client) for a counter nobody reads cost it
    about 0.1 s wall (0.03 s CPU) on every run (issue 19: the one-row ingest's start-up goal is 0.5 s)."""
    metrics = sys.modules.get("gateway.metrics")
    if metrics is None:
        return
    for outcome, n in (("mapped", report.mapped), ("quarantined", report.quarantined), ("blank", report.blank)):
        metrics.INGESTED.labels(outcome).inc(n)


def _read(
    sessions: sessionmaker[Session],
    reader: Reader,
    mapping: IndicatorMapping,
    clock: Clock,
    report: IngestReport,
    reporting_unit: str,
    progress: Callable[[int], None] | None,
    batch_size: int,
    hash_records: bool,
) -> list[str]:
    """Read and store in batches; returns the reports already sent that this run changed."""
    now = clock.now()
    run_id = report.run_id
    batches = _Batches(sessions, run_id, report, now)
    bind = sessions.kw.get("bind")
    rows = _RowMaker(mapping, run_id, reporting_unit, now, getattr(bind, "dialect", None))
    batches.prepared_for = rows.dialect_name
    batches.source = reader.source
    merged: dict[tuple[str, ...], dict[str, Any]] = {}  # pre-reform communes summed into new ones
    coverage: dict[tuple[str, str], Outside | None] = {}
    digest = hashlib.sha256() if hash_records else None
    make, stored, quarantine = rows.row, batches.rows, batches.quarantine
    source = reader.source
    with _collector_paused():
        for item in reader.read():
            report.read += 1
            if digest is not None:
                digest.update(repr(item).encode())
            if isinstance(item, RawObservation):
                try:
                    obs, converted_from = make(item)
                except MappingRejected as exc:
                    quarantine.append(_quarantine_row(run_id, source, item.ref, _raw(item), str(exc), now, report))
                else:
                    report.mapped += 1
                    where = (obs["regime_code"], obs["period_key"])
                    if where not in coverage:  # a source has few periods: the regime is read once per run
                        coverage[where] = outside_regime(*where)
                    if coverage[where] is not None:
                        _count_outside(report, where, coverage)
                    if converted_from is not None:
                        _merge(merged, obs, converted_from, item)
                    else:
                        stored.append((obs, 1))
            elif isinstance(item, Blank):
                report.blank += 1
                continue
            else:
                quarantine.append(_quarantine_row(run_id, source, item.ref, item.raw, item.reason, now, report))
            if len(stored) + len(quarantine) >= batch_size or (
                time.monotonic() - batches.last_flush > FLUSH_SECONDS and (stored or quarantine)
            ):
                batches.flush()
            if progress and report.read % 500 == 0:
                progress(report.read)
    summed, refused = _merged_rows(merged)
    batches.rows.extend(summed)
    for item, reason in refused:  # a sum the profile cannot carry: each part goes back to quarantine
        report.mapped -= 1
        batches.quarantine.append(_quarantine_row(run_id, reader.source, item.ref, _raw(item), reason, now, report))
    batches.flush()
    if digest is not None:
        report.content_hash = digest.hexdigest()
    if not report.balanced:
        raise AssertionError(f"ingest run {run_id}: read {report.read} != mapped + quarantined + blank")
    return _settle_sent(sessions, batches, report)


def _count_outside(report: IngestReport, where: tuple[str, str], known: dict[tuple[str, str], Outside | None]) -> None:
    """Count a value no regime will send (``known[where]``, the regime's reason, is not None)."""
    why = known[where]
    if why is not None:
        regime, period = where
        report.outside_regime += 1
        report.outside[str(why) if why.kind == "before_start" else f"{regime} {period}: {why}"] += 1


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic-garbage collection while a source is read (issue 19): a batch holds tens of thousands
    of rows, and the collector walked them again and again (10-20% of an ingest's CPU). Reading,
    mapping and storing make no cycles that matter, and reference counting still frees every row;
    the collector resumes (and runs once) when the read ends, as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
            gc.collect(1)


def _settle_sent(sessions: sessionmaker[Session], batches: _Batches, report: IngestReport) -> list[str]:
    """The touched reports that were already sent (a value added to one changes it too): they need a
    correction, and their changed values are named in the run's summary."""
    if not batches.touched_reports:
        return []
    sent: set[str] = set()
    names = list(batches.touched_reports)
    with sessions() as session:
        for start in range(0, len(names), 200):
            chunk = [batches.touched_reports[n] for n in names[start : start + 200]]
            condition = or_(
                *(
                    and_(
                        Packet.regime_code == k["regime_code"],
                        Packet.form_code == k["form_code"],
                        Packet.period_key == k["period_key"],
                        Packet.reporting_unit == k["reporting_unit"],
                    )
                    for k in chunk
                )
            )
            for r, f, p, u in session.execute(
                select(Packet.regime_code, Packet.form_code, Packet.period_key, Packet.reporting_unit)
                .where(condition, Packet.packet_type == "SO_LIEU_BAO_CAO")
                .distinct()
            ):
                sent.add(f"{r}/{f}/{p}/{u}")
    ordered = sorted(sent)
    report.changed_in_sent = sum(batches.changes_per_report[n] for n in ordered)
    report.changes = [c for n in ordered for c in batches.named[n]][:NAMED_CHANGES]
    return ordered


def _complete(
    sessions: sessionmaker[Session],
    reader: Reader,
    mapping: IndicatorMapping,
    clock: Clock,
    report: IngestReport,
    to_correct: list[str],
    actor: str,
    gateway: Gateway | None,
) -> None:
    """Make the run visible, and correct the reports already sent that it changed, in one transaction."""
    now = clock.now()
    published: list[int] = []
    with sessions.begin() as session:
        run = session.get(IngestRun, report.run_id)
        if run is None or run.state != IngestState.RUNNING.value:
            raise IngestFailed(f"ingest run {report.run_id} was declared abandoned while it ran")
        run.state = IngestState.COMPLETED.value
        session.flush()  # its observations are visible from here on, to the corrections below too
        if gateway is not None and to_correct:
            # Imported only when a sent report changed: the lifecycle brings the report builder, the
            # packet codecs and signing, a sixth of a small ingest's CPU (issue 19).
            from gateway.lifecycle import ReportKey, correct_in_session

            for name in to_correct:
                regime, form, period, unit = name.split("/", 3)
                try:
                    with session.begin_nested():  # a report that cannot be built leaves the others
                        built = correct_in_session(
                            session,
                            gateway,
                            ReportKey(regime, form, period, unit),
                            actor=actor,
                            reason=f"ingest run {report.run_id} of {reader.source} changed its values",
                        )
                except (GatewayError, LookupError) as exc:
                    report.to_correct[name] = f"the correction could not be built: {exc}"
                    continue
                revision = session.scalar(select(Packet.revision).where(Packet.id == built.packet_id)) or 0
                report.corrections.append(Correction(name, built.packet_id, revision, built.values))
                published.extend(built.delivery_ids)
        elif gateway is None:
            report.to_correct = {name: "no gateway was given to build the correction" for name in to_correct}
        run.read, run.mapped, run.quarantined, run.blank = report.read, report.mapped, report.quarantined, report.blank
        run.added, run.changed, run.unchanged = report.added, report.changed, report.unchanged
        run.outside_regime = report.outside_regime
        run.content_hash = report.content_hash
        run.summary = report.summary()
        run.finished_at = now
        audit.record(
            session,
            at=now,
            actor=actor,
            action="ingest.completed",
            subject=f"ingest:{report.run_id}",
            detail={
                "source": reader.source,
                "read": report.read,
                "mapped": report.mapped,
                "quarantined": report.quarantined,
                "blank": report.blank,
                "added": report.added,
                "changed": report.changed,
                "unchanged": report.unchanged,
                "outside_regime": report.outside_regime,
                "corrections": [c.packet_id for c in report.corrections],
                "mapping": mapping.version,
                "content_hash": report.content_hash,
            },
        )
    if gateway is not None and published:
        gateway.publish(published)


def _jsonable(value: object) -> object:
    """The value as JSON can hold it: as is, or as text (a Decimal, bytes, a date; and NaN or an
    infinity, which PostgreSQL's JSON type refuses and would fail the whole ingest with)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return value


def _raw(item: RawObservation) -> dict[str, object]:
    """What a quarantine record keeps of an observation, to show and to replay."""
    return {
        "indicator": item.indicator_code,
        "unit": item.unit,
        "period": item.period.key,
        "admin_unit": item.admin_unit,
        "column": item.column,
        "value": _jsonable(item.value),
    }


def _merge(
    merged: dict[tuple[str, ...], dict[str, Any]], obs: dict[str, Any], old_code: str, item: RawObservation
) -> None:
    """Values of pre-reform communes that merged are summed into their new commune (never renamed:
    two old communes becoming one must add up)."""
    key = (
        obs["regime_code"],
        obs["form_code"],
        obs["indicator_code"],
        obs["period_key"],
        obs["unit"],
        obs["reporting_unit"],
        obs["column_code"] or "",
        *("=".join(pair) for pair in obs["disaggregation"]),
    )
    entry = merged.setdefault(key, {"row": obs, "sum": Decimal(0), "from": [], "items": []})
    with localcontext(EXACT):  # exact or an error, never rounded to 28 digits
        entry["sum"] += Decimal(obs["value"])
    entry["from"].append(f"{old_code} @ {obs['source_ref']}")
    entry["items"].append(item)


def _merged_rows(
    merged: dict[tuple[str, ...], dict[str, Any]],
) -> tuple[list[tuple[dict[str, Any], int]], list[tuple[RawObservation, str]]]:
    """The re-aggregated rows with how many records each sums, and the parts of any sum too long to
    carry (with the reason)."""
    rows = []
    refused: list[tuple[RawObservation, str]] = []
    for key, entry in merged.items():
        row = dict(entry["row"])
        try:
            row["value"] = plain(entry["sum"])
        except MappingRejected as exc:
            commune = next((v for d, v in row["disaggregation"] if d == "DVHC"), "?")
            refused.extend((item, f"summed into commune {commune}: {exc}") for item in entry["items"])
            continue
        row["source_ref"] = ("re-aggregated from pre-reform communes: " + "; ".join(entry["from"]))[:1000]
        row["admin_code_list"] = "QD19-2025"
        row["content_hash"] = hashlib.sha256("|".join([*key, str(row["value"])]).encode()).hexdigest()
        rows.append((row, len(entry["items"])))
    return rows, refused


def _observation(
    item: RawObservation, mapping: IndicatorMapping, run_id: int, reporting_unit: str, now: datetime
) -> tuple[dict[str, Any], str | None]:
    """One observation's row as the ORM takes it (a quarantine replay), and the pre-reform unit code
    it was converted from."""
    row, converted_from = _RowMaker(mapping, run_id, reporting_unit, now, None).row(item)
    return {k: v for k, v in row.items() if k not in _DB_ONLY}, converted_from


def _quarantine_row(
    run_id: int,
    source: str,
    where: object,
    raw: dict[str, object],
    reason: str,
    now: datetime,
    report: IngestReport,
    parts: int = 1,
) -> dict[str, Any]:
    """A quarantine record at ``where`` (a record's ``SourceRef``, or a stored row's location), counted
    ``parts`` times (a sum of several source records counts each)."""
    report.quarantined += parts
    report.reasons[_reason_class(reason)] += parts
    return {
        "ingest_run_id": run_id,
        "source": source,
        "location": str(where)[:1000],
        "raw": raw,
        "reason": reason,
        "state": "open",
        "created_at": now,
    }


def replay_mapping(name: str) -> IndicatorMapping:
    """The mapping an operator chose (by file name, from the API or the dashboard) to replay the
    quarantine with: one of the indicator mappings on the search path (the operator's folders, then
    the bundled ``mappings/indicators``; ``gateway.resources``), the list the dashboard offers.
    ``NotFound`` for any other name, ``Conflict`` when the file does not load (a mapping being
    edited), never a 500."""
    path = resources.listing("indicators", "*.yaml").get(name)
    if path is None:
        raise NotFound(f"mapping {name!r} is not an indicator mapping file (mappings/indicators or the data folder)")
    try:
        return load_mapping(path)
    except (MappingError, ConfigurationError) as exc:
        raise Conflict(f"mapping {name!r} cannot be used: {exc}") from exc


def replay_quarantine(
    sessions: sessionmaker[Session],
    mapping: IndicatorMapping,
    clock: Clock,
    *,
    reporting_unit: str,
    actor: str = "system",
) -> tuple[int, int]:
    """Map every open quarantine record that holds a value again; returns (replayed, still open).

    Records of unreadable input (no indicator, period and value) stay open: the source must be fixed
    and read again."""
    from adapters.base import PeriodRef, SourceRef
    from adapters.long_format import PERIOD_KEY

    now = clock.now()
    replayed = still = 0
    with sessions.begin() as session:
        open_records = select(QuarantineRecord).where(
            QuarantineRecord.state == "open", ingest_runs.visible_quarantine()
        )
        for record in session.scalars(open_records):
            raw = record.raw or {}
            match = PERIOD_KEY.match(str(raw.get("period", "")))
            if not raw.get("indicator") or match is None or "value" not in raw or record.ingest_run_id is None:
                still += 1
                continue
            item = RawObservation(
                indicator_code=str(raw["indicator"]),
                indicator_name=None,
                unit=raw.get("unit"),
                period=PeriodRef(match["type"], int(match["number"]), int(match["year"])),
                admin_unit=raw.get("admin_unit"),
                value=raw["value"],
                ref=SourceRef(record.source, record=record.location),
                column=str(raw["column"]) if raw.get("column") else None,
            )
            try:
                row, _ = _observation(item, mapping, record.ingest_run_id, reporting_unit, now)
            except MappingRejected as exc:
                record.reason = str(exc)
                still += 1
                continue
            row["source_ref"] = record.location
            session.add(Observation(**row))
            record.state = "replayed"
            replayed += 1
        audit.record(
            session,
            at=now,
            actor=actor,
            action="quarantine.replayed",
            subject="quarantine",
            detail={"replayed": replayed, "still_open": still, "mapping": mapping.version},
        )
    return replayed, still
