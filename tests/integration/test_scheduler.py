"""The scheduler: exactly one report per due run even with two schedulers, and catch-up with late
flags after a scheduler was stopped for three months (time travel with a frozen clock)."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import func, select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import load_regime, run_for
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import AuditEvent, Observation, Packet, ScheduledRun, unsent
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.scheduler import Scheduler
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination

REGIME = load_regime("KTXH-THANG")


def seeded(gateway_factory: GatewayFactory, database_url: str, clock: FrozenClock) -> Gateway:
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={"national": national_destination("http://127.0.0.1:9/unused")},
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    return gw


def test_two_schedulers_at_once_make_one_report_per_run(gateway_factory: GatewayFactory, database_url: str) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, 9, tzinfo=VN_TZ))
    first = seeded(gateway_factory, database_url, clock)
    second = gateway_factory(
        database_url=database_url,
        clock=clock,
        migrate=False,
        destinations={"national": national_destination("http://127.0.0.1:9/unused")},
    )
    barrier = threading.Barrier(2)
    results: dict[str, list[object]] = {}

    def run(name: str, gw: Gateway) -> None:
        barrier.wait()
        results[name] = list(Scheduler(gw, [REGIME], name=name).tick())

    threads = [threading.Thread(target=run, args=(n, g)) for n, g in (("a", first), ("b", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with first.sessions() as s:
        runs = {(r.period_key, r.late) for r in s.scalars(select(ScheduledRun))}
        packets = s.execute(
            select(Packet.form_code, Packet.period_key, func.count()).group_by(Packet.form_code, Packet.period_key)
        ).all()
    assert runs == {("2026-THANG-1", True), ("2026-THANG-2", True)}  # due by 1 March, both past deadline
    assert sorted((f, p, n) for f, p, n in packets) == [
        ("BM01-KT", "2026-THANG-1", 1),
        ("BM01-KT", "2026-THANG-2", 1),
        ("BM02-XH", "2026-THANG-1", 1),
        ("BM02-XH", "2026-THANG-2", 1),
        ("KPI", "2026-THANG-1", 1),  # the KPI data the mapping declares (DU_LIEU_CHI_SO), once per run too
        ("KPI", "2026-THANG-2", 1),
    ]
    assert len(results["a"]) + len(results["b"]) == 2  # each run executed by exactly one of them


def test_scheduler_catches_up_after_three_months_and_flags_late_runs(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    clock = FrozenClock(datetime(2026, 1, 20, 8, tzinfo=VN_TZ))
    gw = seeded(gateway_factory, database_url, clock)
    scheduler = Scheduler(gw, [REGIME], name="s1")
    assert scheduler.tick() == []  # January's push date (two days before the 26th) has not come
    clock.advance(datetime(2026, 1, 24, 8, tzinfo=VN_TZ) - clock.now())
    first = scheduler.tick()
    assert [(r.period_key, r.packets, r.late) for r in first] == [("2026-THANG-1", 2, False)]

    clock.advance(datetime(2026, 4, 28, 8, tzinfo=VN_TZ) - clock.now())  # stopped for three months
    caught_up = scheduler.tick()
    today = clock.now().date()
    expected = [(f"2026-THANG-{n}", 2, today > run_for(REGIME, f"2026-THANG-{n}").deadline) for n in (2, 3, 4)]
    assert [(r.period_key, r.packets, r.late) for r in caught_up] == expected
    assert [late for _, _, late in expected][:2] == [True, True]  # February and March missed their deadlines
    assert scheduler.tick() == []  # nothing runs twice
    with gw.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ScheduledRun)) == 4
        assert s.scalar(select(func.count()).where(ScheduledRun.late.is_(True))) == sum(e[2] for e in expected)


def test_data_that_comes_after_its_run_is_built_at_the_next_tick(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    """An empty first run, then a district's data after the push date, then a second district's: each
    report that was never built goes out at the next tick, and the run's record says so. Before, the
    run's row made every later tick skip the period, and the values stayed unsent for ever."""
    clock = FrozenClock(datetime(2026, 1, 24, 8, tzinfo=VN_TZ))
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={"national": national_destination("http://127.0.0.1:9/unused")},
    )
    scheduler = Scheduler(gw, [REGIME], name="s1")
    assert [(r.period_key, r.packets) for r in scheduler.tick()] == [("2026-THANG-1", 0)]

    clock.advance(datetime(2026, 1, 25, 9, tzinfo=VN_TZ) - clock.now())
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    late = scheduler.tick()
    # January's two forms for H15; February's values wait for February's own run.
    assert [(r.period_key, r.packets, r.late) for r in late] == [("2026-THANG-1", 2, False)]
    assert scheduler.tick() == []  # built once

    clock.advance(datetime(2026, 1, 28, 9, tzinfo=VN_TZ) - clock.now())  # after the 26th's deadline
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H16")
    later = scheduler.tick()
    assert [(r.period_key, r.packets, r.late) for r in later] == [("2026-THANG-1", 2, True)]
    with gw.sessions() as s:
        reports = s.execute(
            select(Packet.form_code, Packet.reporting_unit, Packet.revision)
            .where(Packet.period_key == "2026-THANG-1", Packet.packet_type == "SO_LIEU_BAO_CAO")
            .order_by(Packet.reporting_unit, Packet.form_code)
        ).all()
        kpi_units = sorted(
            s.scalars(select(Packet.reporting_unit).where(Packet.packet_type == "DU_LIEU_CHI_SO"))
        )
        run = s.scalars(select(ScheduledRun).where(ScheduledRun.period_key == "2026-THANG-1")).one()
        events = s.scalars(select(AuditEvent.subject).where(AuditEvent.action == "schedule.late_data")).all()
        unsent_january = s.scalar(
            select(func.count()).where(Observation.period_key == "2026-THANG-1", unsent())
        )
    # Each district's report once, revision 1: H15's was not rebuilt when H16's came.
    assert [tuple(r) for r in reports] == [
        ("BM01-KT", "H15", 1),
        ("BM02-XH", "H15", 1),
        ("BM01-KT", "H16", 1),
        ("BM02-XH", "H16", 1),
    ]
    assert kpi_units == ["H15", "H16"]  # the KPI data of each late district, once
    assert unsent_january == 0
    assert run.packets == 4
    assert run.note is not None and run.note.count("built from data that came after the run") == 2
    assert "no observations" not in run.note  # true when the run executed, not once its reports were built
    assert "2026-01-25T09:00+07:00: 2 report(s) built" in run.note  # the time with its offset
    assert events == ["run:KTXH-THANG:2026-THANG-1", "run:KTXH-THANG:2026-THANG-1"]


def test_a_run_whose_reports_went_out_by_hand_says_so_not_no_observations(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    """January's window closed on the 14th; an operator sent the forms on the 20th (``reports correct``);
    the run on the 24th built nothing. It said "no observations for this period" (found from outside)."""
    from gateway.lifecycle import ReportKey, correct

    clock = FrozenClock(datetime(2026, 1, 20, 9, tzinfo=VN_TZ))
    gw = seeded(gateway_factory, database_url, clock)
    for form in ("BM01-KT", "BM02-XH"):
        correct(gw, ReportKey("KTXH-THANG", form, "2026-THANG-1", "H15"), actor="operator:lan", reason="gửi sớm")
    clock.advance(datetime(2026, 1, 24, 8, tzinfo=VN_TZ) - clock.now())
    (result,) = Scheduler(gw, [REGIME], name="s1").tick()
    assert (result.period_key, result.packets) == ("2026-THANG-1", 0)
    assert result.note is not None and result.note.startswith("nothing new to send: every observation")
