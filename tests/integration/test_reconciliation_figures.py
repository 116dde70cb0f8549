"""Reconciliation reads the figures the outbox stored beside each packet, never the packet bytes
(issue 20: parsing every packet of a period made the first reconciliation 0.7-0.8 s CPU at 2,000
packets). The stored figures are what the stored bytes carry (compared on packets built by the
product's own report path, JSON and XML, with columns, disaggregations and a correction); a
reconciliation from stored figures is line for line the one computed by parsing the bytes (the old
computation); a database upgraded from 0011 gets its figures on first use. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, delete, event, func, insert, select

from gateway import calendar
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.engine import upgrade
from gateway.db.models import Base, Delivery, DeliveryAttempt, IngestRun, Observation, Packet, PacketFigures
from gateway.packets import model as m
from gateway.packets.validate import write_packet
from gateway.reconciliation import figures
from gateway.reconciliation.report import _parsed_figures, reconcile
from gateway.reports import build_reports
from gateway.sim.faults import FaultPlan
from gateway.sim.national import DATA_PATH
from tests.conftest import GatewayFactory, SimFactory, national_destination

PERIOD = "2026-THANG-10"
WHEN = datetime(2026, 10, 20, 9, 0, tzinfo=VN_TZ)
# (form, indicator, column, commune or None, value, unit): the shapes provinces send (Biểu 01's month and
# cumulative columns, Biểu 02's values by commune), with decimal text as read from their workbooks.
VALUES = [
    ("BM01-KT", "0501", "TH", None, "1250.50", "tỷ đồng"),
    ("BM01-KT", "0501", "LK", None, "10034.5", "tỷ đồng"),
    ("BM01-KT", "0601", None, None, "310", "tỷ đồng"),
    ("BM02-XH", "0201", None, "02647", "7105", "người"),
    ("BM02-XH", "0201", None, "02650", "0", "người"),
    ("BM02-XH", "0201", None, "02653", "-12.5", "người"),
]


def observe(gw: Any, rows: list[tuple[str, str, str | None, str | None, str, str]], now: datetime) -> None:
    with gw.sessions.begin() as s:
        run = IngestRun(source="test", adapter="test", mapping_version="test/1", started_at=now)
        s.add(run)
        s.flush()
        for form, indicator, column, commune, value, unit in rows:
            s.add(
                Observation(
                    ingest_run_id=run.id,
                    regime_code="KTXH-THANG",
                    form_code=form,
                    indicator_code=indicator,
                    column_code=column,
                    source_indicator_code=f"T{indicator}",
                    unit=unit,
                    period_key=PERIOD,
                    reporting_unit="H15",
                    disaggregation=[["DVHC", commune]] if commune else [],
                    value=value,
                    source_ref=f"test.xlsx!{indicator}{column or ''}{commune or ''}",
                    content_hash=hashlib.sha256(f"{indicator}{column}{commune}{value}".encode()).hexdigest(),
                    mapping_version="test/1",
                    created_at=now,
                )
            )


def build_and_send(gw: Any) -> None:
    built = build_reports(
        gw.sessions,
        load_regime("KTXH-THANG"),
        sender=gw.settings.sender,
        destinations=gw.settings.destinations,
        sealer=gw.sealer,
        clock=gw.clock,
        period_key=PERIOD,
    )
    service = gw.delivery_service("figures")
    for delivery_id in [d for b in built for d in b.delivery_ids]:
        service.attempt(delivery_id)


@contextmanager
def statements(gw: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()).lower())

    event.listen(gw.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(gw.engine, "before_cursor_execute", record)


def reads_packet_bytes(seen: list[str]) -> list[str]:
    return [s for s in seen if "packets.payload" in s]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_stored_figures_are_the_bytes_figures_and_reconcile_as_parsing_them_did(
    fmt: str, gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    sim = sim_factory(FaultPlan(keep="alter_value", script=("ok", "ok", "return")))
    destination = national_destination(sim.receive_url).model_copy(
        update={"data_url": f"{sim.url}{DATA_PATH}", "format": fmt}
    )
    gw = gateway_factory(database_url=database_url, destinations={"national": destination}, clock=FrozenClock(WHEN))
    observe(gw, VALUES, WHEN)
    build_and_send(gw)
    gw.clock.advance(timedelta(hours=2))  # a correction: revision 2 of Biểu 01, and a value no packet carried
    observe(
        gw,
        [("BM01-KT", "0601", None, None, "311", "tỷ đồng"), ("BM01-KT", "0701", None, None, "42", "%")],
        gw.clock.now(),
    )
    build_and_send(gw)

    with gw.sessions() as s:
        rows = s.execute(
            select(Packet.id, Packet.payload, Packet.revision, PacketFigures.figures).join(
                PacketFigures, PacketFigures.packet_id == Packet.id
            )
        ).all()
        reports = s.scalar(select(func.count()).select_from(Packet).where(Packet.packet_type == "SO_LIEU_BAO_CAO"))
    assert len(rows) == reports >= 3 and max(r.revision for r in rows) == 2
    for row in rows:  # what the outbox stored == what the stored bytes carry, read by the hostile-input parser
        assert figures.decode(row.figures) == figures.decode(_parsed_figures(row.payload, gw.profile, row.id))
    assert any(key[1] for row in rows for key in figures.decode(row.figures))  # disaggregated values are there
    assert any("/LK" in key[0] for row in rows for key in figures.decode(row.figures))  # and form columns

    with statements(gw) as seen:
        stored = gw.reconcile(period=PERIOD)
    assert seen and reads_packet_bytes(seen) == []  # the packet bytes are never selected
    classes = {line.classification for line in stored.lines}
    assert {"match", "returned"} <= classes, classes  # and, in JSON, the altered copy's value_mismatch

    # The old computation: every packet's figures parsed from its bytes (what a database upgraded from
    # 0011 gets on first use). Line for line the same report.
    with gw.sessions.begin() as s:
        s.execute(delete(PacketFigures))
    with statements(gw) as seen:
        parsed = gw.reconcile(period=PERIOD)
    assert reads_packet_bytes(seen)  # this time it had to read them
    assert [line.as_dict() for line in parsed.lines] == [line.as_dict() for line in stored.lines]
    assert parsed.summary == stored.summary and parsed.late == stored.late
    with gw.sessions() as s:  # and it wrote them back, as the outbox had
        again = {k: v for k, v in s.execute(select(PacketFigures.packet_id, PacketFigures.figures))}
    assert {k: figures.decode(v) for k, v in again.items()} == {r.id: figures.decode(r.figures) for r in rows}


def _packet(unit: str, values: list[tuple[str, str]]) -> m.Envelope:
    """A report packet as a gateway before 0012 stored it (hand-made, not by the report path)."""
    return m.Envelope(
        packet_id=uuid.uuid4(),
        packet_type=m.PacketType.SO_LIEU_BAO_CAO,
        profile="qcvn125-gw/0",
        created_at=WHEN,
        sender=m.Unit(code="H15", name="UBND tỉnh Lào Cai"),
        receiver=m.Unit(code="G01", name="Hệ thống thông tin báo cáo Chính phủ"),
        body=m.ReportFigures(
            regime_code="KTXH-THANG",
            form_code="BM01-KT",
            period=calendar.period("THANG", 10, 2026),
            reporting_unit=m.Unit(code=unit, name=f"Xã {unit}"),
            revision=1,
            sent_at=WHEN,
            figures=[m.Figure(indicator_code=code, value=value, unit="tỷ đồng") for code, value in values],
        ),
    )


def test_a_database_from_before_0012_gets_its_figures_on_first_use(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    sent = _database_from_before_0012(database_url)
    gw = gateway_factory(database_url=database_url, clock=FrozenClock(WHEN))  # upgrades to head
    with gw.sessions() as s:
        assert s.scalar(select(func.count()).select_from(PacketFigures)) == 0
    with gw.engine.connect() as conn:  # the migrated table is the one the models declare
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "packet_figures" in repr(d)] == []
    report = gw.reconcile(period=PERIOD)
    verdicts = {(line.reporting_unit, line.indicator): (line.classification, line.sent_value) for line in report.lines}
    assert verdicts == {
        ("U1", "0501"): ("match", "1250.5"),
        ("U1", "0601"): ("value_mismatch", "310"),  # the source says 300 now
        ("U2", "0501"): ("match", "7"),
    }
    with gw.sessions() as s:
        stored = {k: v for k, v in s.execute(select(Packet.reporting_unit, PacketFigures.figures).join(Packet))}
    assert {unit: figures.decode(text) for unit, text in stored.items()} == {
        unit: {(code, ""): [(value, "tỷ đồng")] for code, value in values} for unit, values in sent.items()
    }
    with statements(gw) as seen:  # from now on, as for packets the outbox stored: no packet bytes read
        again = gw.reconcile(period=PERIOD)
    assert reads_packet_bytes(seen) == [] and [x.as_dict() for x in again.lines] == [x.as_dict() for x in report.lines]


def test_two_first_reconciliations_at_once_both_succeed(gateway_factory: GatewayFactory, database_url: str) -> None:
    """After the upgrade, two people open the period at the same moment: on PostgreSQL both parse the
    packets and write the same rows; the second used to fail on the primary key."""
    _database_from_before_0012(database_url)
    gw = gateway_factory(database_url=database_url, clock=FrozenClock(WHEN))
    first = gw.sessions()
    reconcile(first, profile=gw.profile, period=PERIOD)  # its rows written, not yet committed
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with gw.sessions() as s:
                assert len(reconcile(s, profile=gw.profile, period=PERIOD).lines) == 3
                s.commit()
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.5)  # PostgreSQL: the second waits on the first's uncommitted rows; SQLite: on its lock
    first.commit()
    first.close()
    thread.join(timeout=60)
    assert not thread.is_alive() and failures == []
    with gw.sessions() as s:
        assert s.scalar(select(func.count()).select_from(PacketFigures)) == 2


def _database_from_before_0012(database_url: str) -> dict[str, list[tuple[str, str]]]:
    """A database at 0011 holding two report packets, their deliveries and the source values."""
    engine = create_engine(database_url)
    upgrade(engine, "0011")
    sent = {"U1": [("0501", "1250.5"), ("0601", "310")], "U2": [("0501", "7")]}
    source = {("U1", "0501"): "1250.5", ("U1", "0601"): "300", ("U2", "0501"): "7"}
    with engine.begin() as conn:
        run = conn.execute(
            insert(IngestRun)
            .values(source="old", adapter="csv", mapping_version="m/1", started_at=WHEN, state="completed")
            .returning(IngestRun.id)
        ).scalar_one()
        for number, (unit, values) in enumerate(sent.items(), start=1):
            envelope = _packet(unit, values)
            payload = write_packet(envelope, "json")
            pid = str(envelope.packet_id)
            conn.execute(
                insert(Packet).values(
                    id=pid, packet_type="SO_LIEU_BAO_CAO", profile="qcvn125-gw/0", regime_code="KTXH-THANG",
                    form_code="BM01-KT", period_key=PERIOD, reporting_unit=unit, revision=1,
                    content_type="application/json", payload=payload,
                    payload_hash=hashlib.sha256(payload).hexdigest(), value_count=len(values), created_at=WHEN,
                )
            )  # fmt: skip
            conn.execute(
                insert(Delivery).values(
                    id=number, packet_id=pid, destination="national", state="acknowledged",
                    idempotency_key=f"{pid}:national", attempts=1, next_attempt_at=WHEN,
                    drain_order=WHEN, ack_status="DA_TIEP_NHAN", created_at=WHEN, updated_at=WHEN,
                )
            )  # fmt: skip
            conn.execute(
                insert(DeliveryAttempt).values(
                    delivery_id=number, number=1, started_at=WHEN, duration_ms=5, http_status=200, outcome="ok"
                )
            )
        for (unit, code), value in source.items():
            conn.execute(
                insert(Observation).values(
                    ingest_run_id=run, regime_code="KTXH-THANG", form_code="BM01-KT", indicator_code=code,
                    source_indicator_code=f"T{code}", unit="tỷ đồng", period_key=PERIOD, reporting_unit=unit,
                    disaggregation=[], value=value, source_ref="old.csv", content_hash="0" * 64,
                    mapping_version="m/1", created_at=WHEN,
                )
            )  # fmt: skip
    engine.dispose()
    return sent
