"""A template's value columns reach the wire: Biểu 01's "Thực hiện tháng 10", "Lũy kế" and "So cùng
kỳ (%)" are three values of one indicator, stored with their column codes and sent as ``MaCot`` TH,
LK and CK in one ``SO_LIEU_BAO_CAO`` (before, the model had no column: the three collided and the
last one read won). The subtotal row is checked, never sent. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import httpx
from sqlalchemy import select

from adapters.template_reader import TemplateReader
from adapters.template_spec import load_template
from gateway.api.app import create_app
from gateway.calendar.regimes import load_regime
from gateway.db.models import Observation, Packet
from gateway.ingest import ingest
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet
from gateway.reconciliation.report import reconcile
from gateway.reports import build_reports
from gateway.sim.server import BackgroundServer
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination
from tests.support.api import bearer, client_token

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "templates"
MAPPING = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"


def test_column_codes_are_stored_and_sent_as_macot(gateway_factory: GatewayFactory, database_url: str) -> None:
    gw = gateway_factory(
        database_url=database_url, destinations={"national": national_destination("http://127.0.0.1:9/")}
    )
    reader = TemplateReader(CORPUS / "bieu01-ktxh.xlsx", load_template(CORPUS / "bieu01-ktxh.yaml"))
    report = ingest(gw.sessions, reader, load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    expected = json.loads((CORPUS / "bieu01-ktxh.expected.json").read_text(encoding="utf-8"))
    assert (report.mapped, report.quarantined) == (len(expected["observations"]), len(expected["problems"]))
    with gw.sessions() as s:
        stored = {(o.source_indicator_code, o.column_code) for o in s.scalars(select(Observation))}
    assert stored == {(e["indicator"], e["column"]) for e in expected["observations"]}

    built = build_reports(
        gw.sessions,
        load_regime("KTXH-THANG"),
        sender=gw.settings.sender,
        destinations={"national": gw.settings.destinations["national"]},
        sealer=gw.sealer,
        clock=gw.clock,
        period_key="2026-THANG-10",
    )
    sent: dict[str, dict[str | None, str]] = defaultdict(dict)
    with gw.sessions() as s:
        for packet in built:
            for figure in read_packet(s.get(Packet, packet.packet_id).payload).body.figures:  # type: ignore[attr-defined]
                assert figure.column_code not in sent[figure.indicator_code], "one value per indicator and column"
                sent[figure.indicator_code][figure.column_code] = figure.value
    assert sum(p.values for p in built) == len(expected["observations"])  # no subtotal among them
    by_source = {(e["indicator"], e["column"]): e["value"] for e in expected["observations"]}
    assert sent["0201"] == {c: by_source[("T0201", c)] for c in ("TH", "LK", "CK")}  # người -> người
    assert sent["0401"] == {c: by_source[("T0401", c)] for c in ("TH", "LK", "CK")}  # % -> %
    assert set(sent["0601"]) == {"TH", "CK"}  # its LK cell reads "chưa có số liệu": quarantined
    with gw.sessions() as s:
        payload = s.get(Packet, built[0].packet_id).payload
        lines = reconcile(s, profile=load_profile(), period="2026-THANG-10", regime="KTXH-THANG").lines
    assert b'"MaCot"' in payload or b"<MaCot>" in payload
    # reconciliation tells the columns apart too: one line per value, each sent as read
    assert sorted(line.indicator for line in lines if line.indicator.startswith("0201")) == [
        "0201/CK",
        "0201/LK",
        "0201/TH",
    ]
    assert len(lines) == len(expected["observations"])
    assert all(line.sent_value == line.source_value for line in lines)

    # and so does a ministry pulling the series of an indicator
    app = create_app(gw)
    ministry = bearer(client_token(gw, app, "ministry", regimes=("KTXH-THANG",), indicators=("*",)))
    with BackgroundServer(app) as server:
        series = httpx.get(f"{server.url}/v1/indicators/0201/series", headers=ministry, timeout=10).json()
        only_lk = httpx.get(f"{server.url}/v1/indicators/0201/series?column=LK", headers=ministry, timeout=10).json()
    assert {(p["column"], p["value"]) for p in series["points"]} == {
        (c, by_source[("T0201", c)]) for c in ("TH", "LK", "CK")
    }
    assert [(p["column"], p["value"]) for p in only_lk["points"]] == [("LK", by_source[("T0201", "LK")])]
