"""Reports read and sealed by forked worker processes (``reports.build_workers``, issue 19) are the
reports one process builds: the same packets, figure for figure, in the same order, every
observation linked to the packet that carries it, in the one transaction of the run; a report a
worker cannot build fails the build as it fails on one process. On SQLite and PostgreSQL, with the
real fork and the real databases."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Observation, ObservationLink, Packet
from gateway.demo import MAPPING, SAMPLE
from gateway.errors import GatewayError
from gateway.ingest import ingest
from gateway.reports import build_in_session, parallel
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination

PERIOD = "2026-THANG-10"


def _built(gw: Any, clock: FrozenClock, workers: int, *, keep: bool) -> list[tuple[Any, ...]]:
    """Build the period with ``workers`` processes; each packet as (form, unit, revision, figures)."""
    with gw.sessions() as s:
        built = build_in_session(
            s,
            load_regime("KTXH-THANG"),
            sender=gw.settings.sender,
            destinations=gw.settings.destinations,
            sealer=gw.sealer,
            clock=clock,
            period_key=PERIOD,
            build_workers=workers,
        )
        out = []
        for b in built:
            packet = s.get(Packet, b.packet_id)
            assert packet is not None
            linked = s.scalar(select(func.count()).where(ObservationLink.packet_id == b.packet_id))
            figures = json.loads(packet.payload)["NoiDung"]["SoLieu"]
            assert linked == len(figures) == b.values and b.delivery_ids
            out.append((packet.form_code, packet.reporting_unit, packet.revision, figures))
        if keep:
            s.commit()
        else:
            s.rollback()
    return out


def _ingested(gateway_factory: GatewayFactory, database_url: str) -> tuple[Any, FrozenClock]:
    """A gateway with the bundled workbook ingested (several reports of one period)."""
    clock = FrozenClock(datetime(2026, 11, 20, 9, tzinfo=VN_TZ))
    gw = gateway_factory(
        database_url=database_url, clock=clock, destinations={"national": national_destination("http://127.0.0.1:9/")}
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    return gw, clock


def test_worker_processes_build_the_packets_one_process_builds(
    gateway_factory: GatewayFactory, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    gw, clock = _ingested(gateway_factory, database_url)
    alone = _built(gw, clock, 1, keep=False)  # rolled back: the same observations are built again below
    assert len(alone) >= 2, "the sample must make several reports for workers to share"
    with caplog.at_level(logging.WARNING, logger="gateway.reports.parallel"):
        side_by_side = _built(gw, clock, 2, keep=True)
    assert side_by_side == alone
    fallbacks = [r for r in caplog.records if r.name == "gateway.reports.parallel"]
    assert not fallbacks  # every report was built by a worker, none by the builder's fallback
    with gw.sessions() as s:
        unsent = s.scalar(
            select(func.count())
            .select_from(Observation)
            .where(Observation.period_key == PERIOD, Observation.packet_id.is_(None))
        )
    assert unsent == 0


def test_a_report_a_worker_cannot_build_fails_the_build_as_on_one_process(
    gateway_factory: GatewayFactory, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    gw, clock = _ingested(gateway_factory, database_url)
    with gw.sessions.begin() as s:  # an empty value: no packet may carry it (GiaTri minLength 1)
        last = "(SELECT MAX(id) FROM observations WHERE period_key = :p)"
        damaged = f"UPDATE observations SET value = '' WHERE id = {last}"
        s.execute(text(damaged), {"p": PERIOD})
    errors = []
    for workers in (1, 2):
        with pytest.raises(GatewayError) as failed:
            _built(gw, clock, workers, keep=False)
        errors.append((type(failed.value), re.sub(r"[0-9a-f-]{36}", "<uuid>", str(failed.value))))
    assert errors[0] == errors[1]  # the same error, naming the same figure (a new packet id each time)
    assert "/NoiDung/SoLieu/" in errors[0][1] and "GiaTri" in errors[0][1]
    assert "not built by a worker process" in caplog.text  # the worker failed; the builder raised
    with gw.sessions() as s:  # nothing of the failed build stayed
        assert s.scalar(select(func.count()).select_from(Packet)) == 0
        assert s.scalar(select(func.count()).select_from(ObservationLink)) == 0


def test_workers_are_used_for_a_large_period_only() -> None:
    assert parallel.workers_for(1, 68) == 1
    assert parallel.workers_for(4, 3) == 3  # never more than the reports
    assert parallel.workers_for(0, parallel.AUTO_FROM_REPORTS - 1) == 1
    assert parallel.workers_for(0, 68) >= 1


def _parent_pid_and_engine(tmp_path: Any) -> tuple[int, Any]:
    from gateway.db.engine import make_engine

    return os.getpid(), make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")


def test_a_silent_worker_is_stopped_and_the_builder_makes_the_rest(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A forked worker that never answers (here: it sleeps; in life, a lock another thread of a
    ``gateway run`` process held when it forked) cannot stall the run: after
    ``WORKER_SILENCE_SECONDS`` the workers are stopped and that report and the rest come back
    unmade, for the builder to make itself."""
    parent, engine = _parent_pid_and_engine(tmp_path)
    monkeypatch.setattr(parallel, "WORKER_SILENCE_SECONDS", 2.0)

    def make(session: Any, key: int) -> int:
        if os.getpid() != parent and key == 3:
            time.sleep(60)
        return key * 10

    with caplog.at_level(logging.WARNING, logger="gateway.reports.parallel"):
        started = time.monotonic()
        got = list(parallel.made_in_workers(engine, list(range(8)), make, 2))
    assert time.monotonic() - started < 30
    assert got[:3] == [(0, 0), (1, 10), (2, 20)]
    assert got[3:] == [(k, None) for k in range(3, 8)]
    assert "sent nothing for 2 s (report 3)" in caplog.text and "remaining 5 report(s)" in caplog.text
    engine.dispose()


def test_a_worker_forked_while_another_thread_holds_the_collector_pause_does_not_hang(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``gc_paused`` keeps a module lock; a thread of the builder's process (a delivery thread of
    ``gateway run`` parsing a packet) may hold it at the moment of the fork. The child starts with a
    fresh lock (``os.register_at_fork``), so its reports are made, not waited for."""
    from gateway.packets import validate

    _, engine = _parent_pid_and_engine(tmp_path)
    monkeypatch.setattr(parallel, "WORKER_SILENCE_SECONDS", 10.0)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with validate._gc_lock:
            held.set()
            release.wait(30)

    def make(session: Any, key: int) -> int:
        with validate.gc_paused():
            return key + 1

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.reports.parallel"):
            got = list(parallel.made_in_workers(engine, list(range(4)), make, 2))
    finally:
        release.set()
        holder.join()
    assert got == [(k, k + 1) for k in range(4)]
    assert not [r for r in caplog.records if r.name == "gateway.reports.parallel"]
    engine.dispose()
