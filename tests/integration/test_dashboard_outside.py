"""The dashboard's quarantine page shows the values stored that no regime will send (issue 16, item
10), in Vietnamese and in English, over real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.api.app import create_app
from gateway.dashboard.views import LANG_COOKIE
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.sim.server import BackgroundServer
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory
from tests.support.api import PASSWORD, user


def test_values_outside_every_regime_are_on_the_quarantine_page(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    gw = gateway_factory(database_url=database_url)
    report = ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    assert report.outside_regime == 1332
    user(gw, "vanhanh", "operator")
    with BackgroundServer(create_app(gw)) as api, httpx.Client(base_url=api.url, timeout=20) as client:
        login = client.post("/ui/login", data={"username": "vanhanh", "password": PASSWORD, "next": "/ui/"})
        assert login.status_code == 303
        vi = client.get("/ui/dead").text
        assert "Ngoài mọi chế độ báo cáo" in vi
        assert "1.332 giá trị đã lưu nhưng không chế độ báo cáo nào sẽ gửi" in vi
        assert "Kỳ 2025-THANG-11 trước ngày bắt đầu của chế độ KTXH-THANG (2026-01-01)" in vi
        assert "<td>666</td>" in vi and "2025-THANG-12" in vi
        client.cookies.set(LANG_COOKIE, "en")
        en = client.get("/ui/dead").text
        assert "Outside every regime" in en and "1,332 values are stored that no regime will send" in en
        assert "2025-THANG-12 is before the start of KTXH-THANG (2026-01-01)" in en
