"""Reconciliation finds each class when it is made to happen on purpose: the simulator returns,
refuses, loses or alters what it receives, the source changes after sending, a report goes out late
or twice. Real loopback HTTP, real packets, the receiver's copy fetched over its data URL."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import IngestRun, Observation
from gateway.reconciliation.export import to_csv, to_xlsx
from gateway.reconciliation.report import CLASSES
from gateway.reports import build_reports
from gateway.sim.faults import FaultPlan
from gateway.sim.national import DATA_PATH
from tests.conftest import GatewayFactory, SimFactory, national_destination

LAST = 1 + len(CLASSES)  # the summary sheet: a header row, then one row per class
ON_TIME = datetime(2026, 10, 20, 9, 0, tzinfo=VN_TZ)  # KTXH-THANG 2026-THANG-10 is due on 26 October
LATE = datetime(2026, 11, 3, 9, 0, tzinfo=VN_TZ)
PERIOD = "2026-THANG-10"
VALUES = {"0501": ("1250.5", "tỷ đồng"), "0601": ("310", "tỷ đồng"), "0201": ("7105", "người")}


def observe(gw: Any, values: dict[str, tuple[str, str]], now: datetime) -> None:
    with gw.sessions.begin() as s:
        run = IngestRun(source="test", adapter="test", mapping_version="test/1", started_at=now)
        s.add(run)
        s.flush()
        for indicator, (value, unit) in values.items():
            s.add(
                Observation(
                    ingest_run_id=run.id,
                    regime_code="KTXH-THANG",
                    form_code="BM01-KT",
                    indicator_code=indicator,
                    source_indicator_code=f"T{indicator}",
                    unit=unit,
                    period_key=PERIOD,
                    reporting_unit="H15",
                    disaggregation=[],
                    admin_code_list=None,
                    value=value,
                    source_ref=f"test.xlsx!B{indicator}",
                    content_hash=hashlib.sha256(f"{indicator}{value}".encode()).hexdigest(),
                    mapping_version="test/1",
                    created_at=now,
                )
            )


def send(gw: Any) -> list[int]:
    built = build_reports(
        gw.sessions,
        load_regime("KTXH-THANG"),
        sender=gw.settings.sender,
        destinations=gw.settings.destinations,
        sealer=gw.sealer,
        clock=gw.clock,
        period_key=PERIOD,
    )
    ids = [d for b in built for d in b.delivery_ids]
    service = gw.delivery_service("reconcile")
    for delivery_id in ids:
        service.attempt(delivery_id)
    return ids


Tweak = Callable[[Any], None]
SCENARIOS: dict[str, tuple[FaultPlan, datetime, Tweak | None]] = {
    "match": (FaultPlan(), ON_TIME, None),
    "late": (FaultPlan(), LATE, None),
    "returned": (FaultPlan(script=("return",)), ON_TIME, None),
    "rejected": (FaultPlan(script=("400",)), ON_TIME, None),
    "pending": (FaultPlan(p_503=1.0), ON_TIME, None),
    "missing_at_receiver": (FaultPlan(keep="lose"), ON_TIME, None),
    "duplicate": (FaultPlan(keep="duplicate"), ON_TIME, None),
}


@pytest.mark.parametrize("expected", list(SCENARIOS))
def test_each_class_is_found(
    expected: str, gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    plan, when, tweak = SCENARIOS[expected]
    sim = sim_factory(plan)
    destination = national_destination(sim.receive_url, max_attempts=5).model_copy(
        update={"data_url": f"{sim.url}{DATA_PATH}"}
    )
    gw = gateway_factory(database_url=database_url, destinations={"national": destination}, clock=FrozenClock(when))
    observe(gw, VALUES, when)
    send(gw)
    if tweak:
        tweak(gw)
    report = gw.reconcile(period=PERIOD)
    found = {line.classification for line in report.lines}
    if expected == "late":  # lateness is a fact beside the verdict: the values arrived exactly, late
        assert found == {"match"} and all(line.late for line in report.lines), [
            (line.indicator, line.classification, line.late, line.late_note) for line in report.lines
        ]
        assert report.summary["match"] == report.late == len(report.lines) >= 3
        assert "after the deadline" in report.lines[0].late_note
        return
    assert not any(line.late for line in report.lines)
    if expected == "duplicate":  # the receiver recorded one figure twice; the rest match
        assert report.summary["duplicate"] == 1 and found == {"duplicate", "match"}, [
            (line.indicator, line.classification, line.note, line.receiver_value) for line in report.lines
        ]
        return
    assert found == {expected}, [(line.indicator, line.classification, line.note) for line in report.lines]
    assert report.summary[expected] == len(report.lines) >= 3


def test_value_unit_and_unsent_against_source_and_receiver(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    altered = sim_factory(FaultPlan(keep="alter_value"))
    destinations = {
        "national": national_destination(altered.receive_url).model_copy(
            update={"data_url": f"{altered.url}{DATA_PATH}"}
        ),
    }
    gw = gateway_factory(database_url=database_url, destinations=destinations, clock=FrozenClock(ON_TIME))
    observe(gw, VALUES, ON_TIME)
    send(gw)
    lines = {line.indicator: line for line in gw.reconcile(period=PERIOD).lines}
    changed = [line for line in lines.values() if line.classification == "value_mismatch"]
    assert len(changed) == 1 and changed[0].receiver_value != changed[0].sent_value  # the receiver's copy differs
    assert {line.classification for line in lines.values()} == {"value_mismatch", "match"}

    # The source changes after sending, and a new indicator arrives that no packet carried.
    gw.clock.advance(timedelta(hours=1))
    observe(gw, {"0501": ("1300", "tỷ đồng"), "0701": ("42", "%")}, gw.clock.now())
    lines = {line.indicator: line for line in gw.reconcile(period=PERIOD).lines}
    assert lines["0501"].classification == "value_mismatch" and lines["0501"].source_value == "1300"
    assert lines["0701"].classification == "unsent" and lines["0701"].packet_id is None


def test_a_receiver_copy_that_is_not_a_report_is_named_not_a_crash(
    gateway_factory: GatewayFactory, sim_factory: SimFactory
) -> None:
    """A broken copy endpoint (figures as a string) used to stop the whole report with an AttributeError."""
    sim = sim_factory(FaultPlan(keep="garble"))
    destination = national_destination(sim.receive_url).model_copy(update={"data_url": f"{sim.url}{DATA_PATH}"})
    gw = gateway_factory(destinations={"national": destination}, clock=FrozenClock(ON_TIME))
    observe(gw, VALUES, ON_TIME)
    send(gw)
    report = gw.reconcile(period=PERIOD)
    assert report.lines and {line.classification for line in report.lines} == {"match"}
    (note,) = {line.note for line in report.lines}
    assert note.startswith("the receiver's copy could not be read: ") and PERIOD not in note, note
    assert {line.receiver_value for line in report.lines} == {None}


def test_a_receiver_that_cannot_be_reached_is_named_in_every_note(
    gateway_factory: GatewayFactory, sim_factory: SimFactory
) -> None:
    """Found from outside: reconciling after the demo (its simulator stopped) gave every line "the
    receiver's copy could not be read" and nothing about why."""
    sim = sim_factory(FaultPlan())
    destination = national_destination(sim.receive_url).model_copy(update={"data_url": f"{sim.url}{DATA_PATH}"})
    gw = gateway_factory(destinations={"national": destination}, clock=FrozenClock(ON_TIME))
    observe(gw, VALUES, ON_TIME)
    send(gw)
    sim.stop()
    notes = {line.note for line in gw.reconcile(period=PERIOD).lines}
    assert len(notes) == 1, notes
    (note,) = notes
    assert note.startswith("the receiver's copy could not be read: national: ") and "Connect" in note, note


def test_unit_mismatch(gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str) -> None:
    sim = sim_factory(FaultPlan(keep="alter_unit"))
    destination = national_destination(sim.receive_url).model_copy(update={"data_url": f"{sim.url}{DATA_PATH}"})
    gw = gateway_factory(database_url=database_url, destinations={"national": destination}, clock=FrozenClock(ON_TIME))
    observe(gw, VALUES, ON_TIME)
    send(gw)
    report = gw.reconcile(period=PERIOD)
    mismatched = [line for line in report.lines if line.classification == "unit_mismatch"]
    assert len(mismatched) == 1 and mismatched[0].receiver_unit == "đồng"
    assert report.summary["unit_mismatch"] == 1 and report.summary["match"] == len(report.lines) - 1


def test_exports_match_the_json_figures(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    sim = sim_factory(FaultPlan(script=("ok", "return")))
    destination = national_destination(sim.receive_url).model_copy(update={"data_url": f"{sim.url}{DATA_PATH}"})
    gw = gateway_factory(database_url=database_url, destinations={"national": destination}, clock=FrozenClock(ON_TIME))
    observe(gw, VALUES, ON_TIME)
    send(gw)
    observe(gw, {"0701": ("42", "%")}, ON_TIME)
    report = gw.reconcile()  # no period: the latest with data
    as_json = json.loads(json.dumps(report.as_json()))
    assert as_json["period"] == PERIOD
    assert sum(as_json["summary"].values()) == len(as_json["lines"])

    book = load_workbook(io.BytesIO(to_xlsx(report)))
    summary = {
        row[1]: row[2] for row in book["Tong hop"].iter_rows(min_row=2, max_row=1 + len(CLASSES), values_only=True)
    }
    assert summary == as_json["summary"]
    details = book["Chi tiet"]
    assert details.freeze_panes == "A2"
    assert details["A1"].font.bold
    rows = list(details.iter_rows(min_row=2, values_only=True))
    assert len(rows) == len(as_json["lines"])
    headers = [c.value for c in details[1]]
    col = headers.index("Kết quả đối soát")
    assert sorted(r[col] for r in rows) == sorted(line["classification"] for line in as_json["lines"])
    value_col = headers.index("Giá trị đã gửi")
    assert {r[value_col] for r in rows} >= {"1250.5", "310"}  # decimal text, never floats

    csv_lines = to_csv(report).splitlines()
    assert len(csv_lines) == len(as_json["lines"]) + 1 and csv_lines[0].startswith("regime,period")


def test_reconciliation_api_serves_json_csv_and_xlsx(gateway_factory: GatewayFactory, sim_factory: SimFactory) -> None:
    import httpx

    from gateway.api.app import create_app
    from gateway.sim.server import BackgroundServer
    from tests.support.api import bearer, token, user

    sim = sim_factory(FaultPlan(script=("return",)))
    destination = national_destination(sim.receive_url).model_copy(update={"data_url": f"{sim.url}{DATA_PATH}"})
    gw = gateway_factory(destinations={"national": destination}, clock=FrozenClock(ON_TIME))
    observe(gw, VALUES, ON_TIME)
    send(gw)
    app = create_app(gw)
    auth = bearer(token(app, "user", user(gw, "kiemtoan", "auditor"), "auditor"))
    with BackgroundServer(app) as api:
        as_json = httpx.get(f"{api.url}/v1/reconciliation", headers=auth, timeout=20).json()
        assert as_json["period"] == PERIOD and as_json["summary"]["returned"] == 3
        xlsx = httpx.get(f"{api.url}/v1/reconciliation", params={"format": "xlsx"}, headers=auth, timeout=20)
        assert xlsx.headers["content-disposition"].endswith('.xlsx"')
        book = load_workbook(io.BytesIO(xlsx.content))
        summary = {
            row[1]: row[2] for row in book["Tong hop"].iter_rows(min_row=2, max_row=1 + len(CLASSES), values_only=True)
        }
        assert summary == as_json["summary"]
        csv_text = httpx.get(f"{api.url}/v1/reconciliation", params={"format": "csv"}, headers=auth, timeout=20).text
        assert csv_text.count("\n") == len(as_json["lines"]) + 1


def test_workbook_takes_text_a_worksheet_cannot_hold() -> None:
    """A control character in source text (a note, a unit) is replaced, not a crash of the export."""
    from gateway.reconciliation.report import Line, Reconciliation

    line = Line(
        regime="KTXH-THANG",
        period=PERIOD,
        reporting_unit="H15",
        indicator="0501",
        disaggregation="",
        destination="national",
        source_value="1",
        source_unit="t\x08ỷ đồng",
        sent_value="1",
        sent_unit="tỷ đồng",
        packet_id=None,
        revision=None,
        delivery_id=None,
        delivery_state=None,
        ack_status=None,
        receiver_value=None,
        receiver_unit=None,
        classification="unsent",
        note="bell \x07 in a note",
    )
    book = load_workbook(io.BytesIO(to_xlsx(Reconciliation("KTXH\x08THANG", PERIOD, [line]))))
    row = [c.value for c in book["Chi tiet"][2]]
    assert "t\ufffdỷ đồng" in row and "bell \ufffd in a note" in row


def test_the_command_shows_and_exports_the_late_count(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``gateway reconcile --format table`` showed the verdicts only; the late count (a fact beside
    them) was in the JSON alone. Now the table has it, the JSON keeps it and every CSV line says it."""
    import csv
    import sys

    from gateway import resources
    from gateway.cli import main

    sim = sim_factory(FaultPlan())
    gw = gateway_factory(destinations={"national": national_destination(sim.receive_url)}, clock=FrozenClock(LATE))
    observe(gw, VALUES, LATE)
    send(gw)
    expected = gw.reconcile(period=PERIOD)
    assert expected.late == len(expected.lines) == 3
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(gw.settings.data_dir))
    monkeypatch.setenv("GATEWAY_DATABASE__URL", gw.settings.database_url)
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    from gateway.cli.common import console

    monkeypatch.setattr(console, "width", 250)  # a wide terminal (its width was read when first imported)

    def run(*args: str) -> str:
        monkeypatch.setattr(sys, "argv", ["gateway", "reconcile", "--period", PERIOD, *args])
        try:
            with pytest.raises(SystemExit) as exited:
                main()
        finally:
            resources.reset()
        captured = capsys.readouterr()
        assert exited.value.code in (0, None), captured.err
        return captured.out

    table = run("--format", "table")
    rows = {line.split("│")[1].strip(): line for line in table.splitlines() if line.count("│") >= 3}
    assert rows["late"].split("│")[3].strip() == "3" and "gửi muộn" in rows["late"], table
    assert rows["match"].split("│")[3].strip() == "3", table  # the same lines, counted by their verdict too
    assert "after the deadline" in table  # the detail lists the late lines with their note
    as_json = json.loads(run("--format", "json"))
    assert as_json["late"] == 3 and as_json["summary"]["match"] == 3
    lines = list(csv.DictReader(io.StringIO(run("--format", "csv"))))
    assert [line["late"] for line in lines] == ["True"] * 3
    assert all("after the deadline" in line["late_note"] for line in lines)
