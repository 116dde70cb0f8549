"""The dashboard in a real browser (Debian's Chromium driven by Playwright), against the real API on
loopback and a simulator that fails on purpose: log in, see the failing destination, open a dead
delivery, replay it, see it acknowledged once the receiver recovers, switch to English and back.
Screenshots go to test-output/dashboard/."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.db.models import AuditEvent, Delivery
from gateway.sim.faults import FaultPlan
from gateway.sim.server import BackgroundServer
from tests.conftest import Sim, national_destination
from tests.support.api import PASSWORD, user
from tests.support.packets import store_packets

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "dashboard"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium not found: install Debian's `chromium` package (ops/ci/ensure-packages.sh does)"
    return found


def wait_state(gw: Gateway, delivery_id: int, state: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    service = gw.delivery_service("browser-test")
    while True:
        with gw.sessions() as s:
            found = s.get(Delivery, delivery_id)
            assert found is not None
            current = found.state
        if current == state or time.monotonic() > deadline:
            return str(current)
        service.attempt(delivery_id)
        time.sleep(0.1)


@pytest.mark.slow
def test_operator_replays_a_dead_delivery_in_the_browser(
    gateway_factory: Callable[..., Gateway], sim_factory: Callable[..., Sim]
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    sim = sim_factory(FaultPlan(p_503=1.0))
    destination = national_destination(sim.receive_url, max_attempts=2, circuit_threshold=50)
    gw = gateway_factory(destinations={"national": destination})
    user(gw, "trucban", "operator")
    _, (dead_id, other_id) = store_packets(gw, 2)
    assert wait_state(gw, dead_id, "dead") == "dead"
    assert wait_state(gw, other_id, "dead") == "dead"

    with BackgroundServer(create_app(gw)) as api, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page: Page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("dialog", lambda dialog: dialog.accept())
        try:
            page.goto(f"{api.url}/ui/")
            expect(page).to_have_url(f"{api.url}/ui/login?next=/ui/")  # no session: the login page
            expect(page.locator("h1")).to_have_text("Đăng nhập")  # Vietnamese by default
            page.fill("#username", "trucban")
            page.fill("#password", "not the password")
            page.click("#login-submit")
            expect(page.locator(".error")).to_be_visible()
            page.fill("#username", "trucban")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")

            row = page.locator('tr[data-destination="national"]')
            expect(row).to_have_class("failing")
            expect(row.locator(".badge.bad").first).to_have_text("Đang lỗi")
            expect(page.locator("svg.chart").first).to_be_visible()
            page.screenshot(path=str(SHOTS / "1-overview-failing.png"), full_page=True)

            page.click("#nav-dead")
            page.click(f'tr[data-delivery="{dead_id}"] a.delivery-link')
            expect(page.locator("h1 .state")).to_have_text("Gửi thất bại")
            expect(page.locator("#attempts tbody tr")).to_have_count(2)
            page.screenshot(path=str(SHOTS / "2-dead-delivery.png"), full_page=True)

            sim.set_faults(FaultPlan())  # the receiver recovers
            page.click("#replay")  # confirm dialog accepted
            expect(page.locator(".flash")).to_have_text("Đã đưa gói tin vào hàng đợi gửi lại.")
            assert wait_state(gw, dead_id, "acknowledged") == "acknowledged"
            page.reload()
            expect(page.locator("h1 .state")).to_have_text("Đã tiếp nhận")
            page.screenshot(path=str(SHOTS / "3-replayed-acknowledged.png"), full_page=True)

            page.click("#lang-switch")
            expect(page.locator("h1 .state")).to_have_text("Acknowledged")
            expect(page.locator("#nav-overview")).to_have_text("Overview")
            page.screenshot(path=str(SHOTS / "4-english.png"), full_page=True)
            page.click("#lang-switch")
            expect(page.locator("#nav-overview")).to_have_text("Tổng quan")

            page.click("#nav-overview")
            expect(page.locator('tr[data-destination="national"] td.num').nth(3)).to_have_text("1")  # acknowledged
            page.screenshot(path=str(SHOTS / "5-overview-after.png"), full_page=True)
        finally:
            browser.close()

    with gw.sessions() as s:
        replays = s.scalars(
            select(AuditEvent).where(
                AuditEvent.subject == f"delivery:{dead_id}", AuditEvent.action == "delivery.pending"
            )
        ).all()
    replayed = [e.actor for e in replays if e.detail.get("why") == "replay requested"]
    assert replayed == ["user:trucban"]  # the replay is attributed to the operator
    for shot in ("1-overview-failing", "2-dead-delivery", "3-replayed-acknowledged", "4-english", "5-overview-after"):
        assert (SHOTS / f"{shot}.png").stat().st_size > 5000
