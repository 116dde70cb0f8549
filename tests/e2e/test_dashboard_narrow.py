"""The dashboard on a phone (390 px wide, headless Chromium): no page scrolls sideways (wide tables
scroll inside their own box), the quarantine's long reasons wrap at words in a readable column instead
of one letter per line (issue 20 measured that page at 16,000 px high), and the overview refreshes its
figures by itself. Screenshots go to test-output/dashboard/."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.api.app import create_app
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.sim.faults import FaultPlan
from gateway.sim.server import BackgroundServer
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.e2e.test_dashboard_browser import SHOTS, chromium
from tests.support.api import PASSWORD, user
from tests.support.packets import store_packets

WIDTH = 390


def login(page: Page, base: str) -> None:
    page.goto(f"{base}/ui/login")
    page.fill("#username", "trucban")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#nav-overview")).to_be_visible()


def measure(page: Page) -> dict[str, float]:
    return page.evaluate(
        """() => {
          const cells = [...document.querySelectorAll('td.err')].filter(c => c.textContent.trim().length > 30);
          return {
            width: document.documentElement.scrollWidth,
            height: document.documentElement.scrollHeight,
            narrowest: cells.length ? Math.min(...cells.map(c => c.getBoundingClientRect().width)) : 9999,
            cells: cells.length,
          };
        }"""
    )


@pytest.mark.slow
def test_pages_fit_a_phone_and_the_quarantine_reads_in_words(
    gateway_factory: GatewayFactory, sim_factory: SimFactory
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    sim = sim_factory(FaultPlan(p_503=1.0))
    gw = gateway_factory(destinations={"national": national_destination(sim.receive_url, max_attempts=1)})
    report = ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    assert report.quarantined >= 20  # what the demo workbook quarantines, with its real reasons
    packet_ids, (dead, *_) = store_packets(gw, 3)
    assert gw.delivery_service("t").attempt(dead).outcome == "dead"
    user(gw, "trucban", "operator")
    pages = {
        "overview": "/ui/",
        "deliveries": "/ui/deliveries",
        "quarantine": "/ui/dead",
        "reconciliation": "/ui/reconciliation",
        "delivery": f"/ui/deliveries/{dead}",
        "report": f"/ui/reports/{packet_ids[0]}",
        "search": f"/ui/search?q={packet_ids[0][:8]}",
        "not-found": "/ui/deliveries/2147483647",
    }
    with BackgroundServer(create_app(gw)) as api, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": 844}, device_scale_factor=1)
        try:
            login(page, api.url)
            found = {}
            for name, path in pages.items():
                page.goto(f"{api.url}{path}")
                found[name] = measure(page)
                page.screenshot(path=str(SHOTS / f"390-{name}.png"), full_page=True)
            print(found)
            for name, sizes in found.items():
                assert sizes["width"] <= WIDTH, (name, sizes)  # nothing scrolls the page sideways
            quarantine = found["quarantine"]
            assert quarantine["cells"] >= 20
            assert quarantine["narrowest"] >= 150, quarantine  # words, not letters, per line
            assert quarantine["height"] < 5000, quarantine  # 17,097 px before
            # The wide quarantine table scrolls inside its own box.
            page.goto(f"{api.url}/ui/dead")
            box = page.evaluate(
                "() => { const s = document.querySelector('#quarantine').parentElement;"
                " return [s.clientWidth, s.scrollWidth, getComputedStyle(s).overflowX]; }"
            )
            assert box[0] <= WIDTH and box[2] == "auto", box
        finally:
            browser.close()


@pytest.mark.slow
def test_the_overview_refreshes_its_figures_without_a_reload(
    gateway_factory: GatewayFactory, sim_factory: SimFactory
) -> None:
    sim = sim_factory(FaultPlan())
    gw = gateway_factory(destinations={"national": national_destination(sim.receive_url)})
    user(gw, "trucban", "operator")
    with BackgroundServer(create_app(gw)) as api, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": 844})
        try:
            login(page, api.url)
            page.goto(f"{api.url}/ui/?refresh=2")
            pending = page.locator('tr[data-destination="national"] td.num').first
            expect(pending).to_have_text("0")
            page.evaluate("() => { window.notReloaded = true; }")
            store_packets(gw, 2)  # two deliveries wait now
            expect(pending).to_have_text("2", timeout=10_000)
            assert page.evaluate("() => window.notReloaded") is True  # swapped in place, not reloaded
            before = page.locator("#refreshed-at").text_content()
            time.sleep(2.5)
            assert page.locator("#refreshed-at").text_content() != before
        finally:
            browser.close()
