"""The exchange page in a real browser (Chromium via Playwright): a regime received on the intake,
reports of a regime that needs approval, and the packets received, Vietnamese first, English with one
click. Screenshots go to test-output/dashboard/."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.api.app import create_app
from gateway.calendar.regimes import ApprovalRule, load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import RegimeProposal, ReportApproval
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.packets.profile import load_profile
from gateway.scheduler import Scheduler
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from gateway.signing.testpki import party
from gateway.sim.server import BackgroundServer
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination
from tests.e2e.test_dashboard_browser import SHOTS, chromium
from tests.support.api import PASSWORD, bearer, client, token, user

EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "qcvn125" / "examples" / "valid" / "CHE_DO_BAO_CAO.json"


@pytest.mark.slow
def test_the_exchange_page_shows_the_inbox_approvals_and_packets_received(
    gateway_factory: GatewayFactory, test_pki: Path
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    clock = FrozenClock(datetime.now(VN_TZ))
    gw = gateway_factory(
        clock=clock,
        destinations={"national": national_destination("http://127.0.0.1:9/unused")},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    regime = load_regime("KTXH-THANG").model_copy(
        update={"start": date(2026, 10, 1), "approval": ApprovalRule(required=True, warn_hours=24 * 400)}
    )
    Scheduler(gw, [regime], name="lan").tick()
    user(gw, "kiemtoan", "auditor")
    app = create_app(gw)
    receiver = token(app, "client", client(gw, "receiver", unit="G01")[0], "receiver")
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["MaGoiTin"] = str(uuid.uuid4())
    doc["ThoiGianTao"] = datetime.now(VN_TZ).isoformat(timespec="seconds")
    doc["DonViGui"], doc["DonViNhan"] = doc["DonViNhan"], doc["DonViGui"]
    national, _ = party(test_pki, "national", load_profile())
    signed = national.sign(json.dumps(doc, ensure_ascii=False).encode("utf-8"))

    with BackgroundServer(app) as api, sync_playwright() as playwright:
        posted = httpx.post(f"{api.url}/v1/intake/packets", content=signed, headers=bearer(receiver), timeout=30)
        assert posted.status_code == 200 and posted.headers["x-trang-thai"] == "DA_TIEP_NHAN"
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page: Page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(f"{api.url}/ui/login")
            page.fill("#username", "kiemtoan")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.click("#nav-exchange")
            expect(page.locator("h1")).to_have_text("Gói tin nhận, chế độ mới và báo cáo chờ duyệt")
            expect(page.locator("#approvals tbody tr.flagged")).to_have_count(2)
            expect(page.locator("#approvals")).to_contain_text("sắp đến hạn")
            expect(page.locator("#proposals")).to_contain_text("KTXH-THANG")
            expect(page.locator("#proposals")).to_contain_text("Chế độ báo cáo")
            expect(page.locator("#inbound")).to_contain_text(doc["MaGoiTin"])
            expect(page.locator("#inbound")).to_contain_text("Đã tiếp nhận")
            page.screenshot(path=str(SHOTS / "6-exchange.png"), full_page=True)
            page.click("#lang-switch")
            expect(page.locator("h2").first).to_have_text("Reports awaiting approval")
            page.screenshot(path=str(SHOTS / "7-exchange-english.png"), full_page=True)
        finally:
            browser.close()


def sign_in(page: Page, url: str, name: str) -> None:
    page.goto(f"{url}/ui/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")


@pytest.mark.slow
def test_an_approver_decides_in_the_browser_and_an_admin_accepts_a_regime(
    gateway_factory: GatewayFactory, test_pki: Path
) -> None:
    """The approver's own pages: after login the reports awaiting approval (no operator pages in the
    menu, and the operator pages refuse the role), one report's figures beside the source, a refusal
    for the preparer shown on the page, approval and rejection with a reason; then an admin accepts a
    regime received, from the regime inbox page. Vietnamese first, English with one click."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    clock = FrozenClock(datetime.now(VN_TZ))
    gw = gateway_factory(
        clock=clock,
        destinations={"national": national_destination("http://127.0.0.1:9/unused")},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    regime = load_regime("KTXH-THANG").model_copy(
        update={"start": date(2026, 10, 1), "approval": ApprovalRule(required=True, warn_hours=24 * 400)}
    )
    Scheduler(gw, [regime], name="lan").tick()  # prepared by "scheduler:lan"
    user(gw, "lan", "approver")
    user(gw, "lanhdao", "approver")
    user(gw, "quantri", "admin")
    app = create_app(gw)
    receiver = token(app, "client", client(gw, "receiver", unit="G01")[0], "receiver")
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["MaGoiTin"] = str(uuid.uuid4())
    doc["ThoiGianTao"] = datetime.now(VN_TZ).isoformat(timespec="seconds")
    doc["DonViGui"], doc["DonViNhan"] = doc["DonViNhan"], doc["DonViGui"]
    national, _ = party(test_pki, "national", load_profile())
    signed = national.sign(json.dumps(doc, ensure_ascii=False).encode("utf-8"))

    with BackgroundServer(app) as api, sync_playwright() as playwright:
        posted = httpx.post(f"{api.url}/v1/intake/packets", content=signed, headers=bearer(receiver), timeout=30)
        assert posted.headers["x-trang-thai"] == "DA_TIEP_NHAN"
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page: Page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda dialog: dialog.accept())  # the confirm() before approving
            sign_in(page, api.url, "lan")  # the preparer: may look, may not approve
            expect(page).to_have_url(f"{api.url}/ui/approvals")
            expect(page.locator("#nav-overview")).to_have_count(0)
            expect(page.locator("#nav-approvals")).to_have_text("Phê duyệt")
            expect(page.locator("#approvals tbody tr.flagged")).to_have_count(2)
            page.locator("#approvals a.approval-link").first.click()
            page.click("#approve")
            expect(page.locator("p.flash")).to_contain_text("khác người lập")
            expect(page.locator("#approval-state")).to_have_text("Chờ phê duyệt")
            cookies = {c["name"]: c["value"] for c in page.context.cookies()}
            refused = httpx.get(f"{api.url}/ui/deliveries", cookies=cookies, timeout=20, follow_redirects=False)
            assert refused.status_code == 403  # the operator pages refuse the approver role
            page.click("form[action='/ui/logout'] button")

            sign_in(page, api.url, "lanhdao")
            page.locator("#approvals a.approval-link").first.click()
            expect(page.locator("h1")).to_contain_text("BM01-KT")
            expect(page.locator("#approval-summary [data-class=match]")).not_to_have_text("0")
            expect(page.locator("#approval-summary [data-class=changed]")).to_have_text("0")
            expect(page.locator("#figures tbody tr").first).to_contain_text("Khớp nguồn")
            expect(page.locator("#figures")).to_contain_text("lao-cai-ktxh-2026.xlsx")
            page.screenshot(path=str(SHOTS / "8-approval.png"))  # the top: facts, reconciliation, actions
            page.click("#approve")
            expect(page.locator("#approval-state")).to_contain_text("Đã duyệt")
            expect(page.locator("#approve")).to_have_count(0)
            page.goto(f"{api.url}/ui/approvals")
            page.locator("#approvals a.approval-link").first.click()
            expect(page.locator("h1")).to_contain_text("BM02-XH")
            page.fill("#reject-reason", "Số liệu xã Bản Xèo chưa khớp với Chi cục Thống kê")
            page.click("#reject")
            expect(page.locator("#approval-state")).to_contain_text("Đã trả lại nguồn")
            page.goto(f"{api.url}/ui/approvals?all=true")
            expect(page.locator("#approvals")).to_contain_text("lanhdao")
            page.click("#lang-switch")
            expect(page.locator("h1")).to_have_text("Reports awaiting approval")
            page.click("#lang-switch")
            page.click("form[action='/ui/logout'] button")

            sign_in(page, api.url, "quantri")
            page.click("#nav-regimes")
            expect(page.locator("#proposals")).to_contain_text("KTXH-THANG")
            page.screenshot(path=str(SHOTS / "9-regime-inbox.png"), full_page=True)
            page.locator("button[id^=accept-]").first.click()
            expect(page.locator("p.flash")).to_contain_text("Đã chấp nhận")
            expect(page.locator("#proposals")).to_contain_text("Không có")
        finally:
            browser.close()
    with gw.sessions() as s:
        states = sorted((a.state, a.decided_by) for a in s.scalars(select(ReportApproval)))
        accepted = s.scalars(select(RegimeProposal)).one()
    assert states == [("approved", "lanhdao"), ("rejected", "lanhdao")]
    assert accepted.state == "accepted" and accepted.decided_by == "user:quantri"
    assert Path(accepted.target).is_file()
