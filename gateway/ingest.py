"""Ingest use case: read a source, map every record, store observations or quarantine records.

The count identity ``read == mapped + quarantined + blank`` holds for every run and is checked
before commit; a run that breaks it is a bug and is refused, never stored.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Blank, RawObservation, Reader, ReadProblem, period_ref
from adapters.reasons import excerpt
from gateway import audit
from gateway.calendar import data_window
from gateway.clock import Clock
from gateway.db.models import IngestRun, Observation, QuarantineRecord
from gateway.errors import Conflict, NotFound
from mappings.indicators import (
    EXACT,
    INDICATOR_MAPPINGS_DIR,
    IndicatorMapping,
    MappingError,
    MappingRejected,
    load_mapping,
    plain,
)

BATCH = 2000


@dataclass
class IngestReport:
    run_id: int
    read: int = 0
    mapped: int = 0
    quarantined: int = 0
    blank: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def balanced(self) -> bool:
        return self.read == self.mapped + self.quarantined + self.blank


def _reason_class(reason: str) -> str:
    return excerpt(reason.split(":")[0].split("(")[0].strip())  # whole words: never "chưa có số li"


def ingest(
    sessions: sessionmaker[Session],
    reader: Reader,
    mapping: IndicatorMapping,
    clock: Clock,
    *,
    reporting_unit: str,
    actor: str = "system",
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Read everything from ``reader`` in one transaction (a failed run leaves nothing half-stored)."""
    now = clock.now()
    with sessions.begin() as session:
        run = IngestRun(source=reader.source, adapter=reader.name, mapping_version=mapping.version, started_at=now)
        session.add(run)
        session.flush()
        report = IngestReport(run.id)
        pending: list[dict[str, object]] = []
        merged: dict[tuple[str, ...], dict[str, Any]] = {}  # pre-reform communes summed into new ones
        for item in reader.read():
            if isinstance(item, Blank):
                report.read += 1
                report.blank += 1
                continue
            if isinstance(item, ReadProblem):
                report.read += 1
                _quarantine(session, run.id, reader.source, str(item.ref), item.raw, item.reason, now, report)
                continue
            report.read += 1
            try:
                impossible = period_ref(item.period.period_type, item.period.number, item.period.year)
                if isinstance(impossible, str):  # the readers check this; an adapter of another's may not
                    raise MappingRejected(impossible)
                obs, converted_from = _observation(item, mapping, run.id, reporting_unit, now)
            except MappingRejected as exc:
                _quarantine(session, run.id, reader.source, str(item.ref), _raw(item), str(exc), now, report)
                continue
            report.mapped += 1
            if converted_from is not None:
                _merge(merged, obs, converted_from, item)
                continue
            pending.append(_row(obs))
            if len(pending) >= BATCH:
                # Core bulk inserts: no ORM identity map growing with the source, so memory stays flat.
                session.execute(insert(Observation), pending)
                pending.clear()
            if progress and report.read % 500 == 0:
                progress(report.read)
        rows, refused = _merged_rows(merged)
        pending.extend(rows)
        for item, reason in refused:  # a sum the profile cannot carry: each part goes back to quarantine
            report.mapped -= 1
            _quarantine(session, run.id, reader.source, str(item.ref), _raw(item), reason, now, report)
        if pending:
            session.execute(insert(Observation), pending)
        run.read, run.mapped, run.quarantined, run.blank = report.read, report.mapped, report.quarantined, report.blank
        if not report.balanced:
            raise AssertionError(f"ingest run {run.id}: read {report.read} != mapped + quarantined + blank")
        audit.record(
            session,
            at=now,
            actor=actor,
            action="ingest.completed",
            subject=f"ingest:{run.id}",
            detail={
                "source": reader.source,
                "read": report.read,
                "mapped": report.mapped,
                "quarantined": report.quarantined,
                "blank": report.blank,
                "mapping": mapping.version,
            },
        )
    if progress:
        progress(report.read)
    from gateway import metrics

    for outcome, n in (("mapped", report.mapped), ("quarantined", report.quarantined), ("blank", report.blank)):
        metrics.INGESTED.labels(outcome).inc(n)
    return report


def _jsonable(value: object) -> object:
    """The value as JSON can hold it: as is, or as text (a Decimal, bytes, a date; and NaN or an
    infinity, which PostgreSQL's JSON type refuses and would fail the whole ingest with)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return value


_COLUMNS = [c.key for c in Observation.__table__.columns if c.key != "id"]


def _row(obs: Observation) -> dict[str, object]:
    return {key: getattr(obs, key) for key in _COLUMNS}


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
    merged: dict[tuple[str, ...], dict[str, Any]], obs: Observation, old_code: str, item: RawObservation
) -> None:
    """Values of pre-reform communes that merged are summed into their new commune (never renamed:
    two old communes becoming one must add up)."""
    key = (
        obs.regime_code,
        obs.form_code,
        obs.indicator_code,
        obs.period_key,
        obs.unit,
        obs.reporting_unit,
        obs.column_code or "",
        *("=".join(pair) for pair in obs.disaggregation),
    )
    entry = merged.setdefault(key, {"row": _row(obs), "sum": Decimal(0), "from": [], "items": []})
    with localcontext(EXACT):  # exact or an error, never rounded to 28 digits
        entry["sum"] += Decimal(obs.value)
    entry["from"].append(f"{old_code} @ {obs.source_ref}")
    entry["items"].append(item)


def _merged_rows(
    merged: dict[tuple[str, ...], dict[str, Any]],
) -> tuple[list[dict[str, object]], list[tuple[RawObservation, str]]]:
    """The re-aggregated rows, and the parts of any sum too long to carry (with the reason)."""
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
        rows.append(row)
    return rows, refused


def _observation(
    item: RawObservation, mapping: IndicatorMapping, run_id: int, reporting_unit: str, now: datetime
) -> tuple[Observation, str | None]:
    _, end = data_window(item.period.period_type, item.period.number, item.period.year)
    mapped = mapping.apply(item, end)
    return Observation(
        ingest_run_id=run_id,
        regime_code=mapped.regime_code,
        form_code=mapped.form_code,
        indicator_code=mapped.indicator_code,
        source_indicator_code=mapped.source_indicator_code,
        unit=mapped.unit,
        period_key=mapped.period_key,
        reporting_unit=reporting_unit,
        disaggregation=[["DVHC", mapped.admin_unit], *[[d, v] for d, v in mapped.disaggregation]],
        column_code=mapped.column,
        admin_code_list=mapping.spec.admin_code_list,
        value=mapped.value,
        source_ref=str(item.ref),
        content_hash=mapped.content_hash,
        mapping_version=mapping.version,
        created_at=now,
    ), mapped.converted_from


def _quarantine(
    session: Session,
    run_id: int,
    source: str,
    location: str,
    raw: dict[str, object],
    reason: str,
    now: datetime,
    report: IngestReport,
) -> None:
    session.add(
        QuarantineRecord(
            ingest_run_id=run_id, source=source, location=location, raw=raw, reason=reason, state="open", created_at=now
        )
    )
    report.quarantined += 1
    report.reasons[_reason_class(reason)] += 1


def replay_mapping(name: str) -> IndicatorMapping:
    """The mapping an operator chose (by file name, from the API or the dashboard) to replay the
    quarantine with: ``NotFound`` outside ``mappings/indicators``, ``Conflict`` when the file does not
    load (a mapping being edited), never a 500."""
    path = (INDICATOR_MAPPINGS_DIR / name).resolve()
    if path.parent != INDICATOR_MAPPINGS_DIR.resolve() or not path.is_file():
        raise NotFound(f"mapping {name!r} is not a file in mappings/indicators")
    try:
        return load_mapping(path)
    except MappingError as exc:
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
    from sqlalchemy import select

    from adapters.base import PeriodRef, SourceRef
    from adapters.long_format import PERIOD_KEY

    now = clock.now()
    replayed = still = 0
    with sessions.begin() as session:
        for record in session.scalars(select(QuarantineRecord).where(QuarantineRecord.state == "open")):
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
                obs, _ = _observation(item, mapping, record.ingest_run_id, reporting_unit, now)
            except MappingRejected as exc:
                record.reason = str(exc)
                still += 1
                continue
            obs.source_ref = record.location
            session.add(obs)
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
