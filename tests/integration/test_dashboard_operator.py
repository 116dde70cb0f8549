"""The dashboard as an operator uses it (issue 20, item 6), over real HTTP with the dashboard's own
session: downloads, "map again", the failing badge, the reconciliation's verdict and lateness, the
Vietnamese catalogue, Babel formatting, HTML error pages and search. Each test failed on the code
before: the download link needed a bearer token (401 JSON), the mapping list was read from one
folder and a bad choice answered 422 JSON, one retried 503 kept the badge red for 24 hours, late
values were never "Khớp", codes and English reasons showed in the Vietnamese pages, numbers were
written 7105 and 1250.5, a missing record was a JSON 404, and there was no search."""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import lxml.html
import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from adapters.xlsx_templates import XlsxTemplateReader
from gateway import resources
from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.clock import FrozenClock
from gateway.dashboard.views import COOKIE, LANG_COOKIE
from gateway.db.models import Delivery, DeliveryState, InboundPacket, Packet
from gateway.delivery.service import set_paused
from gateway.demo import MAPPING, SAMPLE
from gateway.inbound import InboundService
from gateway.ingest import ingest
from gateway.packets.model import PacketType, ReportStatus
from gateway.reconciliation.report import CLASSES
from gateway.sim.faults import FaultPlan
from gateway.sim.national import DATA_PATH
from gateway.sim.server import BackgroundServer
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.integration.test_reconciliation import LATE, ON_TIME, PERIOD, VALUES, observe, send
from tests.support.api import PASSWORD, user
from tests.support.packets import store_packets


@contextmanager
def session(base: str, username: str, lang: str = "vi") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as client:
        answer = client.post("/ui/login", data={"username": username, "password": PASSWORD, "next": "/ui/"})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
        client.cookies.set(LANG_COOKIE, lang)
        yield client


def text_of(page: str) -> str:
    """What a reader sees: the body's text and the titles shown on hover."""
    tree = lxml.html.fromstring(page)
    titles = " ".join(str(v) for v in tree.xpath("//body//@title"))
    return " ".join(" ".join(tree.body.itertext()).split()) + " " + titles


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None
    return found.group(1)


def attempt_now(gw: Gateway, delivery_id: int) -> str:
    """One attempt at once, as if its retry time had come (the test does not wait for the backoff)."""
    with gw.sessions.begin() as s:
        s.execute(update(Delivery).where(Delivery.id == delivery_id).values(next_attempt_at=gw.clock.now()))
    return gw.delivery_service("t").attempt(delivery_id).outcome


# ---------------------------------------------------------------- downloads
def test_excel_and_csv_downloads_work_with_the_dashboard_session(
    gateway_factory: GatewayFactory, sim_factory: SimFactory
) -> None:
    sim = sim_factory(FaultPlan())
    destination = national_destination(sim.receive_url).model_copy(update={"data_url": f"{sim.url}{DATA_PATH}"})
    gw = gateway_factory(destinations={"national": destination}, clock=FrozenClock(ON_TIME))
    observe(gw, VALUES, ON_TIME)
    send(gw)
    # A source value that would be a live formula in a spreadsheet (what a province's file may carry).
    observe(gw, {"0701": ("42", '=HYPERLINK("http://evil.example/","bấm")')}, ON_TIME)
    user(gw, "kiemtoan", "auditor")
    with BackgroundServer(create_app(gw)) as api, session(api.url, "kiemtoan") as client:
        page = lxml.html.fromstring(client.get("/ui/reconciliation").text)
        xlsx_href = page.get_element_by_id("download-xlsx").get("href")
        csv_href = page.get_element_by_id("download-csv").get("href")
        assert xlsx_href.startswith("/ui/") and csv_href.startswith("/ui/")  # was /v1/...: 401 without a token

        xlsx = client.get(xlsx_href)
        assert xlsx.status_code == 200, xlsx.text[:300]
        assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert xlsx.headers["content-disposition"] == f'attachment; filename="doi-soat-tat-ca-{PERIOD}.xlsx"'
        book = load_workbook(io.BytesIO(xlsx.content))
        details = book["Chi tiet"]
        headers = [c.value for c in details[1]]
        unit_cells = [row[headers.index("Đơn vị tính (nguồn)")] for row in details.iter_rows(min_row=2)]
        evil = [c for c in unit_cells if str(c.value).startswith("=")]
        assert evil and all(c.data_type == "s" for c in evil)  # text cells, never formulas

        got = client.get(csv_href)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        body = got.content.decode("utf-8")
        assert body.startswith("\ufeff")  # Excel reads UTF-8 CSV as UTF-8 only with a BOM
        rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
        assert len(rows) == 4 and {r["classification"] for r in rows} == {"match", "unsent"}
        assert [r["source_unit"] for r in rows if r["indicator"] == "0701"] == [
            '\'=HYPERLINK("http://evil.example/","bấm")'
        ]

    with BackgroundServer(create_app(gw)) as api:  # no session: the login page, not a file
        anonymous = httpx.get(f"{api.url}{xlsx_href}", timeout=20)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/ui/login")


# ---------------------------------------------------------------- map again
def test_map_again_lists_the_mapping_files_and_shows_errors_as_pages(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    gw = gateway_factory()
    report = ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    assert report.quarantined > 0
    own = tmp_path / "data" / "indicators"
    own.mkdir(parents=True)
    shutil.copy(MAPPING, own / "lao-cai-ktxh-sua.yaml")  # the operator's corrected copy
    (own / "hong.yaml").write_text("version: [unclosed\n", encoding="utf-8")  # being edited
    resources.configure(tmp_path / "data", {})
    user(gw, "vanhanh", "operator")
    try:
        with BackgroundServer(create_app(gw)) as api, session(api.url, "vanhanh") as client:
            page = client.get("/ui/dead").text
            options = lxml.html.fromstring(page).xpath('//select[@id="replay-mapping"]/option/text()')
            assert options == ["hong.yaml", "lao-cai-ktxh-sua.yaml", "lao-cai-ktxh.yaml"]
            csrf = csrf_of(page)
            for mapping, status, says in (
                ("khong-co.yaml", 404, "Không có tệp ánh xạ khong-co.yaml"),
                ("../../etc/passwd", 404, "Không có tệp ánh xạ"),
                ("hong.yaml", 409, "Không dùng được tệp ánh xạ hong.yaml"),
                ("", 422, "Chưa có tệp ánh xạ"),
            ):
                answer = client.post("/ui/quarantine/replay", data={"mapping": mapping, "csrf": csrf})
                assert answer.status_code == status, (mapping, answer.text[:300])
                assert answer.headers["content-type"].startswith("text/html"), mapping
                assert says in text_of(answer.text), mapping
                assert 'id="nav-overview"' in answer.text  # a dashboard page, with the way back
            done = client.post("/ui/quarantine/replay", data={"mapping": "lao-cai-ktxh-sua.yaml", "csrf": csrf})
            assert done.status_code == 303 and "msg=quarantine_replayed" in done.headers["location"]
            assert "Đã ánh xạ lại 0 bản ghi" in client.get(done.headers["location"]).text
    finally:
        resources.reset()


# ---------------------------------------------------------------- failing badge
def overview_row(client: httpx.Client) -> tuple[bool, str]:
    tree = lxml.html.fromstring(client.get("/ui/").text)
    (row,) = tree.xpath('//tr[@data-destination="national"]')
    return "failing" in row.get("class", ""), " ".join(row.xpath('.//td[@class="health"]')[0].text_content().split())


def test_the_failing_badge_reflects_the_current_state_with_its_reason(
    gateway_factory: GatewayFactory, sim_factory: SimFactory
) -> None:
    sim = sim_factory(FaultPlan(script=("503",)))  # the first answer is a 503, every other one succeeds
    gw = gateway_factory(destinations={"national": national_destination(sim.receive_url, max_attempts=5)})
    _, ids = store_packets(gw, 24)
    outcomes = [attempt_now(gw, delivery_id) for delivery_id in ids]
    assert outcomes[0] == "retry" and outcomes[1:] == ["acknowledged"] * 23, outcomes
    assert attempt_now(gw, ids[0]) == "acknowledged"
    with gw.sessions() as s:
        assert set(s.scalars(select(Delivery.state))) == {DeliveryState.ACKNOWLEDGED.value}
    user(gw, "kiemtoan", "auditor")
    with BackgroundServer(create_app(gw)) as api, session(api.url, "kiemtoan") as client:
        failing, health = overview_row(client)
        assert not failing and health == "Bình thường", health  # a retried 503, then 24 of 24 acknowledged

        sim.set_faults(FaultPlan(p_503=1.0))  # the receiver fails now
        _, (new,) = store_packets(gw, 1)
        assert attempt_now(gw, new) == "retry"
        failing, health = overview_row(client)
        assert failing and "1 lần gửi lỗi trong 15 phút qua" in health, health

        sim.set_faults(FaultPlan())  # it recovers: the next attempt succeeds
        assert attempt_now(gw, new) == "acknowledged"
        assert overview_row(client) == (False, "Bình thường")

        with gw.sessions.begin() as s:
            set_paused(s, "national", True, reason="bảo trì theo lịch", now=gw.clock.now(), actor="user:admin")
        failing, health = overview_row(client)
        assert failing and "Tạm dừng: bảo trì theo lịch" in health, health
        client.cookies.set(LANG_COOKIE, "en")
        assert "Paused: bảo trì theo lịch" in overview_row(client)[1]
        client.cookies.set(LANG_COOKIE, "vi")
        with gw.sessions.begin() as s:
            set_paused(s, "national", False, reason=None, now=gw.clock.now(), actor="user:admin")
        assert overview_row(client) == (False, "Bình thường")

        # Found from outside: 30 packets refused by the receiver (TU_CHOI) left the badge "Bình
        # thường", since every POST itself succeeded. A rejection waits for an operator, as a dead one.
        sim.set_faults(FaultPlan(script=("reject",)))
        _, (refused,) = store_packets(gw, 1)
        assert attempt_now(gw, refused) == "rejected"
        failing, health = overview_row(client)
        assert failing and "1 gói tin bị bên nhận từ chối, chờ xử lý" in health, health
        page = lxml.html.fromstring(client.get("/ui/dead").text)  # listed where failures wait, with why
        (row,) = page.xpath(f'//tr[@data-delivery="{refused}"]')
        assert FaultPlan().reject_reason in row.text_content()


# ---------------------------------------------------------------- reconciliation
def test_late_values_that_match_are_a_match_and_late_apart(
    gateway_factory: GatewayFactory, sim_factory: SimFactory
) -> None:
    sim = sim_factory(FaultPlan())
    destination = national_destination(sim.receive_url).model_copy(update={"data_url": f"{sim.url}{DATA_PATH}"})
    gw = gateway_factory(destinations={"national": destination}, clock=FrozenClock(LATE))
    observe(gw, VALUES, LATE)
    send(gw)  # after the deadline, and the receiver holds exactly what was sent
    user(gw, "kiemtoan", "auditor")
    with BackgroundServer(create_app(gw)) as api, session(api.url, "kiemtoan") as client:
        tree = lxml.html.fromstring(client.get("/ui/reconciliation").text)
        counts = {td.get("data-class"): td.text_content() for td in tree.xpath("//td[@data-class]")}
        assert set(counts) == set(CLASSES) and "late" not in counts
        assert counts["match"] == "3" and tree.get_element_by_id("late-total").text_content() == "3"
        verdicts = [b.text_content() for b in tree.xpath('//table[@id="lines"]//span[contains(@class, "verdict")]')]
        lateness = [b.text_content() for b in tree.xpath('//table[@id="lines"]//span[contains(@class, "late-badge")]')]
        assert verdicts == ["Khớp"] * 3 and lateness == ["Gửi muộn"] * 3
        only_late = lxml.html.fromstring(client.get("/ui/reconciliation", params={"late": "true"}).text)
        assert len(only_late.xpath('//table[@id="lines"]/tbody/tr')) == 3
        rows = list(csv.DictReader(io.StringIO(client.get("/ui/reconciliation.csv").text.lstrip("\ufeff"))))
        assert [(r["classification"], r["late"]) for r in rows] == [("match", "True")] * 3
        # The page reuses its report only while nothing changed: a new value shows at once.
        observe(gw, {"0701": ("42", "%")}, LATE)
        again = lxml.html.fromstring(client.get("/ui/reconciliation").text)
        assert again.get_element_by_id("total").text_content() == "4"
        assert [td.text_content() for td in again.xpath('//td[@data-class="unsent"]')] == ["1"]


# ---------------------------------------------------------------- language and formatting
ENGLISH_REASONS = (
    "unknown indicator code",
    "is not a number",
    "receiver accepted",
    "replay requested",
    "no report packet carried",
    "the receiver never got it",
    ": HTTP 503: ",
    "gave up after",
)


def known_codes() -> set[str]:
    return (
        {s.value for s in DeliveryState}
        | {s.value for s in ReportStatus}
        | {t.value for t in PacketType}
        | set(CLASSES)
        | {
            "TransientDeliveryError",
            "RejectedDeliveryError",
            "CredentialsError",
            "delivery.pending",
            "delivery.acknowledged",
            "delivery.dead",
            "packet.stored",
            "half_open",
        }
    )


def test_vietnamese_pages_show_no_codes_or_english_reasons_and_english_is_there(
    gateway_factory: GatewayFactory, sim_factory: SimFactory
) -> None:
    sim = sim_factory(FaultPlan(p_503=1.0))
    gw = gateway_factory(destinations={"national": national_destination(sim.receive_url, max_attempts=2)})
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    _, (dead, ok) = store_packets(gw, 2)
    assert [attempt_now(gw, dead) for _ in range(2)] == ["retry", "dead"]
    sim.set_faults(FaultPlan())
    gw.delivery_service("dashboard").replay([dead], actor="user:vanhanh")
    assert attempt_now(gw, dead) == "acknowledged"
    assert attempt_now(gw, ok) == "acknowledged"
    with gw.sessions() as s:
        packet = s.get(Delivery, dead).packet_id  # type: ignore[union-attr]
        period = s.get(Packet, packet).period_key  # type: ignore[union-attr]
    # A packet taken in and refused (unsigned): the exchange page lists its type and reason.
    example = (resources.bundled("packet-examples") / "valid" / "CHE_DO_BAO_CAO.json").read_bytes()
    answer = InboundService(gw).receive(example, channel="api:bo", client="bo", client_unit=None)
    with gw.sessions() as s:
        refused = s.scalars(select(InboundPacket)).one()
        assert refused.state == "refused" and refused.reason, answer
    user(gw, "kiemtoan", "auditor")
    pages = [
        "/ui/",
        "/ui/deliveries",
        "/ui/dead",
        "/ui/reconciliation",
        f"/ui/deliveries/{dead}",
        f"/ui/reports/{packet}",
        f"/ui/journey?delivery={dead}",
        f"/ui/search?q={period}",
        "/ui/exchange",
    ]
    codes = known_codes()
    word = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
    with BackgroundServer(create_app(gw)) as api, session(api.url, "kiemtoan") as client:
        for path in pages:
            answer = client.get(path)
            assert answer.status_code == 200, path
            shown = text_of(answer.text)
            raw = sorted({w for w in word.findall(shown) if w in codes})
            assert raw == [], (path, raw)
            english = [r for r in ENGLISH_REASONS if r in shown]
            assert english == [], (path, english)
            assert not re.search(r"\[[a-z_]+\]", shown), path  # a key missing from the catalogue
            assert not re.search(r"\b(delivery|packet|report):\S", shown), path  # an audit subject as stored
        client.cookies.set(LANG_COOKIE, "en")
        dead_page = text_of(client.get(f"/ui/deliveries/{dead}").text)
        assert "Acknowledged" in dead_page and "Transient error (retried)" in dead_page
        assert "national: HTTP 503: " in dead_page  # English shows the reason as written
        quarantine = text_of(client.get("/ui/dead").text)
        assert "unknown indicator code" in quarantine or "is not a number" in quarantine


@pytest.mark.parametrize(
    ("lang", "expected"), [("vi", ("7.105", "1.250,5", "33,3 %")), ("en", ("7,105", "1,250.5", "33.3%"))]
)
def test_numbers_and_percentages_are_written_the_languages_way(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, lang: str, expected: tuple[str, str, str]
) -> None:
    sim = sim_factory(FaultPlan())
    destination = national_destination(sim.receive_url).model_copy(update={"data_url": f"{sim.url}{DATA_PATH}"})
    gw = gateway_factory(destinations={"national": destination}, clock=FrozenClock(ON_TIME))
    observe(gw, VALUES, ON_TIME)  # 0201 = 7105 people, 0501 = 1250.5 billion dong
    send(gw)
    user(gw, "kiemtoan", "auditor")
    with BackgroundServer(create_app(gw)) as api, session(api.url, "kiemtoan", lang) as client:
        shown = text_of(client.get("/ui/reconciliation").text)
        thousands, decimal, percent = expected
        assert thousands in shown and decimal in shown
        assert percent not in shown  # 3 of 3 match: 100 %
        assert ("100,0 %" if lang == "vi" else "100.0%") in shown
        assert "7105 " not in shown and "1250.5" not in shown
        day = text_of(client.get("/ui/deliveries").text)
        dated = r"\b\d\d/10/2026 \d\d:\d\d:\d\d\b" if lang == "vi" else r"\bOct \d\d?, 2026, \d\d?:\d\d:\d\d\s[AP]M"
        assert re.search(dated, day), day[:500]


# ---------------------------------------------------------------- errors and search
def test_dashboard_errors_are_pages_and_the_api_keeps_problem_json(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory()
    user(gw, "kiemtoan", "auditor")
    with BackgroundServer(create_app(gw)) as api:
        anonymous = httpx.get(f"{api.url}/ui/khong-co-trang-nay", timeout=20)
        assert anonymous.status_code == 404 and anonymous.headers["content-type"].startswith("text/html")
        assert "Không tìm thấy" in anonymous.text and 'lang="vi"' in anonymous.text
        api_404 = httpx.get(f"{api.url}/v1/khong-co", timeout=20)
        assert api_404.status_code == 404 and api_404.headers["content-type"] == "application/problem+json"
        with session(api.url, "kiemtoan") as client:
            for path, status in (
                ("/ui/deliveries/2147483647", 404),
                ("/ui/reports/khong-co-goi-tin", 404),
                ("/ui/deliveries/0", 422),
                ("/ui/deliveries?before=abc", 422),
                ("/ui/reconciliation.xlsx", 404),  # nothing to reconcile yet
            ):
                answer = client.get(path)
                assert answer.status_code == status, path
                assert answer.headers["content-type"].startswith("text/html"), path
                tree = lxml.html.fromstring(answer.text)
                assert (
                    tree.get_element_by_id("error-title")
                    .text_content()
                    .startswith({404: "Không tìm thấy", 422: "Dữ liệu gửi lên không hợp lệ"}[status])
                ), path
                assert tree.get_element_by_id("nav-overview") is not None  # signed in: the navigation stays
            too_long = client.get("/ui/search", params={"q": "x" * 5000})  # the edge's limit, before any route
            assert too_long.status_code == 414 and too_long.headers["content-type"].startswith("text/html")
            assert 'id="error-title"' in too_long.text
            client.cookies.set(LANG_COOKIE, "en")
            assert "Not found" in client.get("/ui/deliveries/2147483647").text
            as_json = client.get("/ui/deliveries/2147483647", headers={"Accept": "application/json"})
            assert as_json.headers["content-type"] == "application/problem+json"


def test_search_finds_packets_by_id_period_and_values_by_indicator(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory()
    observe(gw, VALUES, ON_TIME)
    packet_ids, delivery_ids = store_packets(gw, 3)
    user(gw, "kiemtoan", "auditor")
    with BackgroundServer(create_app(gw)) as api, session(api.url, "kiemtoan") as client:
        by_id = lxml.html.fromstring(client.get("/ui/search", params={"q": packet_ids[1][:8]}).text)
        assert by_id.xpath('//table[@id="search-packets"]//a/@href') == [f"/ui/reports/{packet_ids[1]}"]
        by_period = lxml.html.fromstring(client.get("/ui/search", params={"q": "2026-THANG-2"}).text)
        assert by_period.xpath('//table[@id="search-packets"]//a/@href') == [f"/ui/reports/{packet_ids[1]}"]
        values = lxml.html.fromstring(client.get("/ui/search", params={"q": PERIOD}).text)
        assert len(values.xpath('//table[@id="search-values"]/tbody/tr')) == len(VALUES)
        by_indicator = lxml.html.fromstring(client.get("/ui/search", params={"q": "0201"}).text)
        rows = by_indicator.xpath('//table[@id="search-values"]/tbody/tr')
        assert len(rows) == 1 and "7.105" in rows[0].text_content()
        provincial = lxml.html.fromstring(client.get("/ui/search", params={"q": "T0501"}).text)
        assert len(provincial.xpath('//table[@id="search-values"]/tbody/tr')) == 1
        by_number = client.get("/ui/search", params={"q": str(delivery_ids[0])}).text
        assert f'href="/ui/deliveries/{delivery_ids[0]}"' in by_number
        nothing = client.get("/ui/search", params={"q": "khong-co-gi"}).text
        assert 'id="search-empty"' in nothing
        assert client.get("/ui/search", params={"q": "%"}).text.count("/ui/reports/") == 0  # no LIKE wildcard
        assert 'action="/ui/search"' in client.get("/ui/").text  # in every page's header


def test_overview_refreshes_itself(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory()
    user(gw, "kiemtoan", "auditor")
    with BackgroundServer(create_app(gw)) as api, session(api.url, "kiemtoan") as client:
        tree = lxml.html.fromstring(client.get("/ui/", params={"refresh": 5}).text)
        assert tree.body.get("data-refresh") == "5"
        assert tree.xpath('//noscript/meta[@http-equiv="refresh"]/@content') == ["5"]
        assert tree.get_element_by_id("live") is not None
        assert client.get("/ui/", params={"refresh": 1}).status_code == 422
    script = (Path(__file__).resolve().parents[2] / "gateway/dashboard/static/app.js").read_text(encoding="utf-8")
    assert "https://" not in script and "http://" not in script  # no CDN


# ---------------------------------------------------------------- login and logout from another site
def test_login_and_logout_posted_from_another_site_are_refused(gateway_factory: GatewayFactory) -> None:
    """Found from outside: the two forms without a CSRF token took a post from any site (a page
    elsewhere could log an operator out, or into an account of its choosing)."""
    gw = gateway_factory()
    user(gw, "vanhanh", "operator")
    form = {"username": "vanhanh", "password": PASSWORD, "next": "/ui/"}
    with BackgroundServer(create_app(gw)) as api, httpx.Client(base_url=api.url, timeout=30) as client:
        evil = client.post("/ui/login", data=form, headers={"origin": "http://evil.example"})
        assert evil.status_code == 403 and COOKIE not in evil.cookies
        own = client.post("/ui/login", data=form, headers={"origin": api.url})
        assert own.status_code == 303 and own.cookies.get(COOKIE)
        refused = client.post("/ui/logout", headers={"referer": "http://evil.example/page"})
        assert refused.status_code == 403
        assert client.get("/ui/").status_code == 200  # still signed in
        assert client.post("/ui/logout", headers={"origin": api.url}).status_code == 303
        assert client.get("/ui/", follow_redirects=False).status_code in (302, 303, 307)
