"""Reports held for approval (issue 17, what was left): one draft per report however often it is
built again, the draft replaced in place when the source changed (and a decision on the old figures
refused), the approver neither the preparer nor whoever read the data in, and the held figures
reconciled against the source, value by value."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.csv_exports import CsvReader
from adapters.xlsx_templates import XlsxTemplateReader
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import ApprovalRule, RegimeDef, load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import AuditEvent, Observation, ReportApproval
from gateway.demo import MAPPING, SAMPLE
from gateway.errors import Conflict
from gateway.ingest import ingest
from gateway.lifecycle import ReportKey, correct
from gateway.reports import build_reports
from gateway.reports.approval import ApprovalRefused, approve, detail, listing
from gateway.scheduler import Scheduler
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination
from tests.support.api import user

PERIOD = "2026-THANG-10"
GATEWAY = str(Path(sys.executable).parent / "gateway")
HEADER = "ma_chi_tieu,ky,ma_dvhc,gia_tri,don_vi_tinh\n"


def held_regime() -> RegimeDef:
    return load_regime("KTXH-THANG").model_copy(
        update={"start": date(2026, 10, 1), "approval": ApprovalRule(required=True, warn_hours=24 * 400)}
    )


def prepared(gateway_factory: GatewayFactory, database_url: str) -> tuple[Gateway, RegimeDef]:
    clock = FrozenClock(datetime.now(VN_TZ))
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={"national": national_destination("http://127.0.0.1:9/unused")},
    )
    ingest(
        gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15", actor="user:nhap"
    )
    regime = held_regime()
    Scheduler(gw, [regime], name="lan").tick()
    return gw, regime


def open_drafts(gw: Gateway) -> list[tuple[int, str, str]]:
    with gw.sessions() as s:
        return sorted(
            (a.id, a.form_code, a.packet_id)
            for a in s.scalars(select(ReportApproval).where(ReportApproval.state == "awaiting_approval"))
        )


def test_building_a_held_report_again_makes_no_second_draft(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, regime = prepared(gateway_factory, database_url)
    before = open_drafts(gw)
    assert [form for _, form, _ in before] == ["BM01-KT", "BM02-XH"]
    form_id, form, _ = before[0]
    key = ReportKey(regime.code, form, PERIOD, "H15")

    # The old code made a second draft each time: `reports correct`, and a build of the period's unsent
    # observations (the held observations were never marked used, so they were "unsent" again).
    monkeypatch.setattr("gateway.lifecycle.load_regime", lambda code: regime)
    correct(gw, key, actor="operator:lan", reason="kiểm tra lại")
    build_reports(
        gw.sessions,
        regime,
        sender=gw.settings.sender,
        destinations=gw.settings.destinations,
        sealer=gw.sealer,
        clock=gw.clock,
        period_key=PERIOD,
    )
    assert open_drafts(gw) == before  # the same drafts, untouched: nothing new in the source

    # The source changes one value of that report: the draft is replaced in place, not doubled.
    with gw.sessions() as s:
        obs = s.scalars(
            select(Observation)
            .where(Observation.form_code == form, Observation.period_key == PERIOD, Observation.reporting_unit == "H15")
            .order_by(Observation.id)
        ).first()
        assert obs is not None
        indicator, unit, old_value, commune = obs.source_indicator_code, obs.unit, obs.value, obs.disaggregation[0][1]
    new_value = str(int(float(old_value)) + 7)
    changed = tmp_path / "sua-so-lieu.csv"
    # Written by hand, the way a department sends a corrected figure (a provincial system's long export).
    changed.write_text(f"{HEADER}{indicator},{PERIOD},{commune},{new_value},{unit}\n", encoding="utf-8")
    ingest(gw.sessions, CsvReader(changed), load_mapping(MAPPING), gw.clock, reporting_unit="H15", actor="cli")
    correct(gw, key, actor="operator:lan", reason="Sở Tài chính sửa số liệu")
    after = open_drafts(gw)
    assert len(after) == 2 and after[0][0] == form_id and after[0][2] != before[0][2] and after[1] == before[1]

    figures = detail(gw, form_id)
    (line,) = [x for x in figures.lines if x.indicator == obs.indicator_code and x.disaggregation.endswith(commune)]
    assert line.reported == line.source == new_value and line.classification == "match"
    assert figures.summary["changed"] == 0 and figures.summary["match"] == figures.waiting.values
    assert str(changed) in (line.source_ref or "")

    user(gw, "lanhdao", "approver")
    with pytest.raises(Conflict, match="prepared again"):  # the approver looked at the first draft
        approve(gw, form_id, approver="lanhdao", expected_packet=before[0][2])
    sent = approve(gw, form_id, approver="lanhdao", expected_packet=after[0][2])
    with gw.sessions() as s:
        unsent = s.scalar(
            select(func.count())
            .select_from(Observation)
            .where(Observation.form_code == form, Observation.period_key == PERIOD, Observation.packet_id.is_(None))
        )
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert sent == after[0][2] and unsent == 0  # every observation it held, the replaced reading too
    assert actions.count("report.draft_replaced") == 1 and actions.count("report.awaiting_approval") == 2
    correct(gw, key, actor="operator:lan", reason="sau khi duyệt")  # after approval: a new draft, revision 2
    assert len(open_drafts(gw)) == 2


def test_held_figures_are_reconciled_against_the_source_and_the_reader_may_not_approve(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    gw, _ = prepared(gateway_factory, database_url)
    waiting = listing(gw)
    first = waiting[0]
    lines = detail(gw, first.id)
    assert len(lines.lines) == first.values and lines.summary["match"] == first.values
    assert all(x.source_ref and "lao-cai-ktxh-2026.xlsx" in x.source_ref for x in lines.lines)

    with gw.sessions() as s:  # the source is read again after the report was prepared: it says another value
        obs = s.scalars(
            select(Observation).where(Observation.form_code == first.form, Observation.period_key == PERIOD)
        ).first()
        assert obs is not None
        indicator, unit, value, national = obs.source_indicator_code, obs.unit, obs.value, obs.indicator_code
        commune = obs.disaggregation[0][1]
    changed = tmp_path / "doc-lai.csv"
    changed.write_text(f"{HEADER}{indicator},{PERIOD},{commune},{value}1,{unit}\n", encoding="utf-8")
    ingest(gw.sessions, CsvReader(changed), load_mapping(MAPPING), gw.clock, reporting_unit="H15", actor="cli")
    lines = detail(gw, first.id)
    (line,) = [x for x in lines.lines if x.indicator == national and x.disaggregation.endswith(commune)]
    assert (line.reported, line.source, line.classification) == (value, f"{value}1", "changed")
    assert lines.summary["changed"] == 1
    config = tmp_path / "gateway.toml"  # the CLI shows the same reconciliation
    config.write_text(
        f"data_dir = {json.dumps(str(gw.settings.data_dir))}\n"
        f"[database]\nurl = {json.dumps(gw.settings.database.url)}\n"
        f"[broker]\nurl = {json.dumps(gw.settings.broker.url)}\n",
        encoding="utf-8",
    )
    shown = subprocess.run(
        [GATEWAY, "reports", "approvals", "--show", str(first.id), "--format", "json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    (changed_row,) = [r for r in json.loads(shown.stdout) if r["classification"] == "changed"]
    assert (changed_row["reported"], changed_row["source"]) == (value, f"{value}1")
    listed = subprocess.run(  # the CLI runs on the real clock: October's deadline is long past
        [GATEWAY, "reports", "approvals", "--format", "json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert {r["due_soon"] for r in json.loads(listed.stdout)} == {"LATE"}  # it read "DUE SOON"

    user(gw, "nhap", "approver")  # the account that read the workbook in
    with pytest.raises(ApprovalRefused, match="read in the data"):
        approve(gw, first.id, approver="nhap")


def test_a_report_is_flagged_only_within_warn_hours_of_its_deadline(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    """October's deadline is Monday 26/10/2026 (the 25th is a Sunday), end of day, Vietnam time: with
    ``warn_hours: 24`` a report prepared on the 25th at 10:00 (37 h 59 min before) is not flagged,
    and is at 00:00 on the 26th (23 h 59 min before); counted by hand, not by the code under test."""
    clock = FrozenClock(datetime(2026, 10, 25, 10, 0, tzinfo=VN_TZ))
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={"national": national_destination("http://127.0.0.1:9/unused")},
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    regime = load_regime("KTXH-THANG").model_copy(
        update={"start": date(2026, 10, 1), "approval": ApprovalRule(required=True, warn_hours=24)}
    )
    Scheduler(gw, [regime], name="lan").tick()
    waiting = listing(gw)
    assert len(waiting) == 2 and not any(w.due_soon for w in waiting)
    assert all(w.deadline == datetime(2026, 10, 26, 23, 59, 59, tzinfo=VN_TZ) for w in waiting)
    clock.advance(timedelta(hours=13, minutes=59))  # 25/10 23:59: 24 h before
    assert not any(w.due_soon for w in listing(gw))
    clock.advance(timedelta(minutes=1))  # 26/10 00:00
    assert all(w.due_soon for w in listing(gw))
