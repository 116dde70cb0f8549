"""Dashboard pages over real HTTP: every page answers on an empty database, roles decide what can be
pressed, forms need their CSRF token, and the two message catalogues say the same things."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import yaml

from gateway.api.app import create_app
from gateway.dashboard.i18n import MESSAGES
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.api import PASSWORD, bearer, token, user
from tests.support.packets import store_packets

PAGES = ["/ui/", "/ui/deliveries", "/ui/dead", "/ui/reconciliation", "/ui/journey", "/ui/exchange"]


@contextmanager
def login(base: str, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=20) as client:
        answer = client.post("/ui/login", data={"username": username, "password": PASSWORD, "next": "/ui/"})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
        yield client


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    vi = yaml.safe_load((MESSAGES / "vi.yaml").read_text(encoding="utf-8"))
    en = yaml.safe_load((MESSAGES / "en.yaml").read_text(encoding="utf-8"))
    assert vi.keys() == en.keys()
    for key in vi:
        assert set(re.findall(r"{(\w+)}", vi[key])) == set(re.findall(r"{(\w+)}", en[key])), key


def test_every_page_works_on_an_empty_database(gateway_factory: GatewayFactory, database_url: str) -> None:
    gw = gateway_factory(
        database_url=database_url, destinations={"national": national_destination("http://127.0.0.1:9/none")}
    )
    user(gw, "kiemtoan", "auditor")
    with BackgroundServer(create_app(gw)) as api:
        anonymous = httpx.get(f"{api.url}/ui/deliveries", timeout=20)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/ui/login")
        with login(api.url, "kiemtoan") as client:
            for page in PAGES:
                answer = client.get(page)
                assert answer.status_code == 200, (page, answer.text[:500])
                assert 'lang="vi"' in answer.text and "[" + "nav_" not in answer.text
            assert "Chưa có dữ liệu" in client.get("/ui/reconciliation").text
        # Some history: the charts' time buckets run in the database's own dialect.
        _, ids = store_packets(gw, 3)
        for delivery_id in ids:
            gw.delivery_service("t").attempt(delivery_id)  # the receiver is unreachable: failures
        with login(api.url, "kiemtoan") as client:
            overview = client.get("/ui/")
            assert overview.status_code == 200
            assert "3 Lỗi" in overview.text  # three failed attempts in this hour's bar
            for page in PAGES[1:]:
                assert client.get(page).status_code == 200


def test_auditor_reads_but_cannot_replay_and_forms_need_csrf(
    gateway_factory: GatewayFactory, sim_factory: SimFactory
) -> None:
    from gateway.sim.faults import FaultPlan

    sim = sim_factory(FaultPlan(script=("400",)))
    gw = gateway_factory(destinations={"national": national_destination(sim.receive_url)})
    _, (delivery_id,) = store_packets(gw, 1)
    assert gw.delivery_service("t").attempt(delivery_id).outcome == "rejected"
    user(gw, "kiemtoan", "auditor")
    user(gw, "vanhanh", "operator")
    with BackgroundServer(create_app(gw)) as api:
        with login(api.url, "kiemtoan") as auditor:
            page = auditor.get(f"/ui/deliveries/{delivery_id}").text
            assert 'id="replay"' not in page  # no button for a read-only role
            refused = auditor.post(f"/ui/deliveries/{delivery_id}/replay", data={"csrf": "x"})
            assert refused.status_code == 403
        with login(api.url, "vanhanh") as operator:
            page = operator.get(f"/ui/deliveries/{delivery_id}").text
            assert 'id="replay"' in page
            token = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
            assert token is not None
            forged = operator.post(f"/ui/deliveries/{delivery_id}/replay", data={"csrf": "0" * 32})
            # A page for the operator (issue 20: errors were raw JSON); a JSON client still gets problem+json.
            assert forged.status_code == 403 and forged.headers["content-type"].startswith("text/html")
            assert "Không có quyền" in forged.text
            as_json = operator.post(
                f"/ui/deliveries/{delivery_id}/replay", data={"csrf": "0" * 32}, headers={"Accept": "application/json"}
            )
            assert as_json.status_code == 403 and as_json.headers["content-type"] == "application/problem+json"
            done = operator.post(f"/ui/deliveries/{delivery_id}/replay", data={"csrf": token.group(1)})
            assert done.status_code == 303 and done.headers["location"].endswith("msg=replayed")


def test_a_delivery_id_out_of_range_is_refused_not_a_database_error(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    """Found by probing the dashboard's paths: an id past 64 bits reached the database (SQLite's
    OverflowError, PostgreSQL's out-of-range error) and answered 500."""
    gw = gateway_factory(database_url=database_url)
    user(gw, "kiemtoan", "auditor")
    app = create_app(gw)
    with BackgroundServer(app) as api, login(api.url, "kiemtoan") as client:
        for path in ("/ui/deliveries/2147483648", "/ui/deliveries/99999999999999999999", "/ui/deliveries/0"):
            assert client.get(path).status_code == 422, path
        assert client.get("/ui/deliveries/2147483647").status_code == 404  # the largest id: not found
        assert client.get("/ui/deliveries?before=2147483647").status_code == 200
        assert client.get("/ui/deliveries?before=2147483648").status_code == 422
        # The operator API: the same bound on its paths, and cursors past it mean "beyond every row".
        auth = bearer(token(app, "user", "kiemtoan", "auditor"))
        assert client.get("/v1/ops/deliveries/2147483648", headers=auth).status_code == 422
        page = client.get("/v1/ops/deliveries?cursor=999999999999999999", headers=auth)
        assert page.status_code == 200 and page.json()["items"] == []


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/ui/", "/v1/ops/queues"])
def test_login_never_redirects_outside_the_dashboard(gateway_factory: GatewayFactory, next_url: str) -> None:
    gw = gateway_factory()
    user(gw, "vanhanh", "operator")
    with BackgroundServer(create_app(gw)) as api:
        answer = httpx.post(
            f"{api.url}/ui/login", data={"username": "vanhanh", "password": PASSWORD, "next": next_url}, timeout=20
        )
    assert answer.headers["location"] == "/ui/"


UI_PUBLIC = {("GET", "/ui/login"), ("POST", "/ui/login"), ("POST", "/ui/logout"), ("GET", "/ui/lang/{lang}")}


def test_no_dashboard_route_answers_without_a_session(gateway_factory: GatewayFactory) -> None:
    from tests.integration.test_api_security import api_routes

    gw = gateway_factory()
    app = create_app(gw)
    routes = [r for r in api_routes(app.routes) if r.path.startswith("/ui")]
    assert len(routes) >= 12
    with BackgroundServer(app) as api:
        for route in routes:
            for method in route.methods:
                if (method, route.path) in UI_PUBLIC:
                    continue
                path = route.path.format(delivery_id=1, packet_id="x", lang="en", approval_id=1, proposal_id=1)
                answer = httpx.request(
                    method, f"{api.url}{path}", data={"csrf": "x", "reason": "abc", "mapping": "lao-cai-ktxh.yaml"}
                )
                # Pages send anonymous callers to the login page; nothing is done or shown.
                assert answer.status_code == 303, (method, path, answer.status_code)
                assert answer.headers["location"].startswith("/ui/login"), (method, path)
