"""Ingest runs (issue 16, item 6): batches committed under a ``running`` run stay invisible to report
building, reconciliation and the quarantine until the run completes; a failed run removes what it
stored; a run whose process died is found and cleaned up. On SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.base import PeriodRef, RawObservation, ReadItem, ReadProblem, SourceRef
from adapters.xlsx_templates import XlsxTemplateReader
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import load_regime
from gateway.clock import FrozenClock
from gateway.db.models import AuditEvent, IngestRun, Observation, QuarantineRecord
from gateway.demo import MAPPING, SAMPLE
from gateway.errors import Conflict
from gateway.ingest import IngestFailed, ingest, replay_quarantine
from gateway.ingest_runs import recover
from gateway.reconciliation.summary import summarise
from gateway.reports import build_reports
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination

REGIME = load_regime("KTXH-THANG")
COMMUNES = ["02647", "02674", "02680", "02683", "02686"]


class PausingReader:
    """Yields ``before`` values, then waits for ``go`` and yields the rest (or fails). Stands for
    a large workbook being parsed: the run has committed batches and is still reading."""

    name = "pausing"

    def __init__(self, source: str, before: int, after: int, *, fail: bool = False) -> None:
        self.source, self.before, self.after, self.fail = source, before, after, fail
        self.paused = threading.Event()
        self.go = threading.Event()

    def _items(self, start: int, stop: int) -> Iterator[ReadItem]:
        for i in range(start, stop):
            month, commune = divmod(i, len(COMMUNES))
            yield RawObservation(
                indicator_code="T0201",
                indicator_name=None,
                unit="người",
                period=PeriodRef("THANG", month % 12 + 1, 2026 + month // 12),
                admin_unit=COMMUNES[commune],
                value=1000 + i,
                ref=SourceRef(self.source, row=i + 2),
            )
        yield ReadProblem(SourceRef(self.source, row=stop + 2), f"unreadable row after {stop}")

    def read(self) -> Iterator[ReadItem]:
        yield from self._items(0, self.before)
        self.paused.set()
        assert self.go.wait(60)
        if self.fail:
            raise OSError("the share went away mid-read")
        yield from self._items(self.before, self.before + self.after)


def gateway(gateway_factory: GatewayFactory, database_url: str, **extra: object) -> Gateway:
    return gateway_factory(
        database_url=database_url,
        destinations={"national": national_destination("http://127.0.0.1:9/unused")},
        **extra,
    )


def stored_by_run(gw: Gateway, run_id: int) -> tuple[int, int]:
    with gw.sessions() as session:
        obs = session.scalar(select(func.count()).where(Observation.ingest_run_id == run_id)) or 0
        held = session.scalar(select(func.count()).where(QuarantineRecord.ingest_run_id == run_id)) or 0
    return obs, held


def build(gw: Gateway) -> int:
    return len(
        build_reports(
            gw.sessions,
            REGIME,
            sender=gw.settings.sender,
            destinations=gw.settings.destinations,
            sealer=gw.sealer,
            clock=gw.clock,
        )
    )


def running_run(gw: Gateway) -> int:
    with gw.sessions() as session:
        run_id = session.scalar(select(IngestRun.id).where(IngestRun.state == "running"))
    assert run_id is not None
    return run_id


@pytest.mark.parametrize("outcome", ["completes", "fails"])
def test_batches_of_a_running_ingest_are_invisible_until_it_completes(
    gateway_factory: GatewayFactory, database_url: str, outcome: str
) -> None:
    gw = gateway(gateway_factory, database_url)
    reader = PausingReader("big.xlsx", before=250, after=50, fail=outcome == "fails")
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["report"] = ingest(
                gw.sessions, reader, load_mapping(MAPPING), gw.clock, reporting_unit="H15", batch_size=100
            )
        except Exception as exc:
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert reader.paused.wait(60)
        run_id = running_run(gw)
        obs, held = stored_by_run(gw, run_id)
        assert obs >= 200 and held == 0  # committed in batches while reading, not at the end
        assert build(gw) == 0  # report building does not see them
        with gw.sessions() as session:
            assert summarise(session).read == 0
        assert replay_quarantine(gw.sessions, load_mapping(MAPPING), gw.clock, reporting_unit="H15") == (0, 0)
    finally:
        reader.go.set()
        thread.join(60)
    if outcome == "fails":
        error = result["error"]
        assert isinstance(error, IngestFailed) and "the share went away mid-read" in str(error)
        assert stored_by_run(gw, run_id) == (0, 0)
        with gw.sessions() as session:
            run = session.get(IngestRun, run_id)
            assert run is not None and run.state == "failed" and "OSError" in (run.error or "")
            assert session.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc())) == "ingest.failed"
        assert build(gw) == 0
    else:
        assert "error" not in result, result
        assert stored_by_run(gw, run_id) == (300, 2)
        assert build(gw) == 60  # 300 values of 5 communes: 60 months, each report once


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def abandoned_run(gw: Gateway, *, pid: int, heartbeat: datetime) -> int:
    """What a SIGKILLed ingest leaves: a running run with committed rows."""
    import socket

    with gw.sessions.begin() as session:
        run = IngestRun(
            source="killed.xlsx",
            adapter="xlsx",
            mapping_version="m",
            started_at=heartbeat,
            state="running",
            host=socket.gethostname(),
            pid=pid,
            heartbeat_at=heartbeat,
        )
        session.add(run)
        session.flush()
        session.add(
            Observation(
                ingest_run_id=run.id,
                regime_code="KTXH-THANG",
                form_code="BM02-XH",
                indicator_code="0201",
                source_indicator_code="T0201",
                unit="người",
                period_key="2026-THANG-10",
                reporting_unit="H15",
                disaggregation=[["DVHC", "02647"]],
                value="1",
                source_ref="killed.xlsx",
                content_hash="x",
                value_key="k",
                mapping_version="m",
                created_at=heartbeat,
            )
        )
        session.add(
            QuarantineRecord(
                ingest_run_id=run.id, source="killed.xlsx", location="row 3", raw={}, reason="r", created_at=heartbeat
            )
        )
        return run.id


def test_a_run_whose_process_is_gone_is_failed_and_cleaned_up_at_the_next_ingest(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    gw = gateway(gateway_factory, database_url)
    killed = abandoned_run(gw, pid=dead_pid(), heartbeat=datetime.now(UTC))
    alive = abandoned_run(gw, pid=1, heartbeat=datetime.now(UTC))  # pid 1 runs: another live ingest
    assert build(gw) == 0
    report = ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    assert [(a.run_id, a.removed_observations, a.removed_quarantine) for a in report.recovered] == [(killed, 1, 1)]
    assert "is gone" in report.recovered[0].describe()
    assert stored_by_run(gw, killed) == (0, 0) and stored_by_run(gw, alive) == (1, 1)
    with gw.sessions() as session:
        states = dict(session.execute(select(IngestRun.id, IngestRun.state)).all())
    assert states[killed] == "failed" and states[alive] == "running" and states[report.run_id] == "completed"


def test_a_run_without_heartbeat_past_its_lease_is_cleaned_up_and_a_live_one_is_not(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, tzinfo=UTC))
    gw = gateway(gateway_factory, database_url, clock=clock)
    import os

    stale = abandoned_run(gw, pid=os.getpid(), heartbeat=clock.now() - timedelta(seconds=61))
    fresh = abandoned_run(gw, pid=os.getpid(), heartbeat=clock.now() - timedelta(seconds=30))
    found = recover(gw.sessions, clock, lease_seconds=60)
    assert [a.run_id for a in found] == [stale] and "no heartbeat since" in found[0].why
    assert stored_by_run(gw, stale) == (0, 0) and stored_by_run(gw, fresh) == (1, 1)
    assert recover(gw.sessions, clock, lease_seconds=60) == []  # cleaned once


def test_the_same_content_while_it_is_being_read_is_refused(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    gw = gateway(gateway_factory, database_url)
    source = tmp_path / "one.csv"
    source.write_text("ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n", encoding="utf-8")

    class Slow(PausingReader):
        name = "csv"

    slow = Slow(str(source), before=10, after=0)
    thread = threading.Thread(
        target=ingest, args=(gw.sessions, slow, load_mapping(MAPPING), gw.clock), kwargs={"reporting_unit": "H15"}
    )
    thread.start()
    try:
        assert slow.paused.wait(60)
        twin = Slow(str(source), before=0, after=0)
        with pytest.raises(Conflict, match="is reading the same content"):
            ingest(gw.sessions, twin, load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    finally:
        slow.go.set()
        thread.join(60)


def test_removing_a_failed_runs_values_leaves_no_link_behind(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    """``observation_links`` has no foreign keys (migration 0014: PostgreSQL checked each by a trigger
    per row), so the delete of a failed run's values removes their links itself. A failed run's
    values are never built into a packet; the link here stands for one left by any other path."""
    from gateway.db.models import ObservationLink

    gw = gateway(gateway_factory, database_url)
    stale = abandoned_run(gw, pid=dead_pid(), heartbeat=datetime.now(UTC))
    with gw.sessions.begin() as session:
        observation = session.scalar(select(Observation.id).where(Observation.ingest_run_id == stale))
        session.add(ObservationLink(observation_id=observation, packet_id="00000000-0000-4000-8000-000000000001"))
    assert [a.run_id for a in recover(gw.sessions, gw.clock, lease_seconds=60)] == [stale]
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ObservationLink)) == 0
        assert session.scalar(select(func.count()).select_from(Observation)) == 0
