"""The API's authorisation matrix and abuse limits, over real loopback HTTP.

Every route of the app is visited by every kind of caller: the expected status follows from the
permission the route declares and the permission table, so a new route without a permission, or a
role that suddenly reaches too far, fails here.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from gateway import outbox
from gateway.api.app import create_app
from gateway.auth.principals import PERMISSIONS, Permission
from gateway.db.models import AuditEvent, Delivery
from gateway.packets import model as m
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory, national_destination
from tests.support.api import PASSWORD, bearer, client, token, user
from tests.support.packets import report_packet, status_packet, store_packets

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/v1/token"), ("GET", "/")}  # "/" redirects to /ui/
DASHBOARD = "/ui"  # cookie sessions: tests/integration/test_dashboard_pages.py walks these routes
DOCS = {"/openapi.json", "/docs", "/redoc"}  # any token, per api.docs: tests/security/test_exposure.py


@dataclass
class Api:
    gw: Any
    app: Any
    url: str
    packet_id: str
    delivery_id: int
    tokens: dict[str, str]

    def call(self, method: str, path: str, who: str | None, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **(bearer(self.tokens[who]) if who else {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=20, **kwargs)


def permission_of(route: APIRoute) -> Permission | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        found = getattr(dep.call, "permission", None)
        if isinstance(found, Permission):
            return found
        stack.extend(dep.dependencies)
    return None


@pytest.fixture
def api(gateway_factory: GatewayFactory, tmp_path: Path) -> Iterator[Api]:
    gw = gateway_factory(
        destinations={"national": national_destination("http://127.0.0.1:9/none")},
        api={"rate_limit_per_second": 1000, "rate_limit_burst": 1000},
    )
    packet_ids, delivery_ids = store_packets(gw, 3)
    with gw.sessions.begin() as s:
        s.get(Delivery, delivery_ids[0]).state = "delivered"  # the intake has something to acknowledge
        s.get(Delivery, delivery_ids[1]).state = "dead"
    app = create_app(gw)
    tokens = {}
    for role in ("admin", "operator", "auditor", "approver"):
        tokens[role] = token(app, "user", user(gw, f"an-{role}", role), role)
    for role, grants in (
        ("ministry", {"regimes": ("KTXH-THANG",), "indicators": ("*",)}),
        ("ministry-other", {"regimes": ("OTHER",), "indicators": ("9999",)}),
        # One indicator of the packet: every route answers as for a full grant, with the data filtered
        # (tests/security/test_grants.py checks what each route then carries).
        ("ministry-one", {"regimes": ("KTXH-THANG",), "indicators": ("0501",)}),
        ("receiver", {}),
        ("metrics", {}),
    ):
        real = role.split("-")[0]
        client_id, _ = client(gw, real, **grants)
        tokens[role] = token(app, "client", client_id, real)
    with BackgroundServer(app) as server:
        yield Api(gw, app, server.url, packet_ids[0], delivery_ids[1], tokens)


def request_for(api: Api, route: APIRoute, method: str) -> tuple[str, dict[str, Any]]:
    """A request that exercises the route, naming data the ministry grant covers (KTXH-THANG)."""
    path = route.path.format(
        packet_id=api.packet_id,
        delivery_id=api.delivery_id,
        indicator="0501",
        kind="DANH_MUC_CHI_TIEU",
        approval_id=1,  # none held: an allowed caller gets 404, others 403
        proposal_id=1,
    )
    kwargs: dict[str, Any] = {}
    if path in ("/v1/reports", "/v1/packets"):
        kwargs["params"] = {"regime": "KTXH-THANG"}
    if path.endswith(("/cancel", "/reject", "/decline")):
        kwargs["json"] = {"reason": "sent by hand"}
    if path.endswith("/approve"):
        kwargs["json"] = {}
    if path.endswith("/quarantine/replay"):
        kwargs["json"] = {"mapping": "lao-cai-ktxh.yaml"}
    if path == "/v1/intake/status":
        kwargs["content"] = status_packet(api.packet_id, m.ReportStatus.DA_TIEP_NHAN)
    return path, kwargs


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, including those of included routers (FastAPI keeps them behind a wrapper)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(api_routes(route.original_router.routes))
    return found


def test_authorisation_matrix(api: Api) -> None:
    routes = api_routes(api.app.routes)
    documented = {(method.upper(), path) for path, ops in api.app.openapi()["paths"].items() for method in ops}
    assert documented <= {(m, r.path) for r in routes for m in r.methods}  # the walk sees every route
    checked = 0
    for route in routes:
        for method in route.methods:
            if (method, route.path) in PUBLIC or route.path.startswith(DASHBOARD) or route.path in DOCS:
                continue
            permission = permission_of(route)
            assert permission is not None, f"{method} {route.path} declares no permission"
            path, kwargs = request_for(api, route, method)
            for who in api.tokens:
                role = who.split("-")[0]
                answer = api.call(method, path, who, **dict(kwargs))
                allowed = role in PERMISSIONS[permission]
                if who == "ministry-other" and allowed:
                    # Authenticated and entitled to pull, but not to this data: refused and audited,
                    # except catalogues, which describe codes and are open to every puller.
                    expected_denied = "/catalogues/" not in path
                    assert (answer.status_code == 403) == expected_denied, (who, method, path, answer.text)
                elif allowed:
                    assert answer.status_code < 500 and answer.status_code not in (401, 403), (
                        who,
                        method,
                        path,
                        answer.status_code,
                        answer.text,
                    )
                else:
                    assert answer.status_code == 403, (who, method, path, answer.status_code, answer.text)
                    assert answer.headers["content-type"] == "application/problem+json"
                checked += 1
            for bad in ("none", "expired", "just-expired", "forged", "garbage"):
                answer = anonymous(api, method, path, bad, **dict(kwargs))
                assert answer.status_code == 401, (bad, method, path, answer.status_code, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
    assert checked >= 16 * len(api.tokens)
    with api.gw.sessions() as s:
        denied = s.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert denied, "every 403 is audited"
    assert {e.actor.split(":")[0] for e in denied} == {"user", "client"}


def anonymous(api: Api, method: str, path: str, kind: str, **kwargs: Any) -> httpx.Response:
    security = api.app.state.security
    kid, secret = security.tokens.keys[0]
    now = int(time.time())
    claims = {"iss": "vn-report-gateway", "sub": "user:an-admin", "role": "admin", "iat": now, "exp": now + 600}
    value = {
        "none": None,
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, secret, "HS256", headers={"kid": kid}),
        # two seconds past its exp: refused (PyJWT's leeway let it through for another 30 s)
        "just-expired": jwt.encode({**claims, "iat": now - 600, "exp": now - 2}, secret, "HS256", headers={"kid": kid}),
        "forged": jwt.encode(claims, b"not-the-key-" * 4, "HS256", headers={"kid": kid}),
        "garbage": "not.a.token",
    }[kind]
    headers = {"authorization": f"Bearer {value}"} if value else {}
    return httpx.request(method, f"{api.url}{path}", headers=headers, timeout=20, **kwargs)


def test_ministry_lists_only_what_its_grant_covers(api: Api) -> None:
    mine = api.call("GET", "/v1/reports", "ministry").json()["items"]
    other = api.call("GET", "/v1/reports", "ministry-other").json()["items"]
    assert len(mine) == 3 and other == []
    assert api.call("GET", "/v1/indicators/0501/series", "ministry-other").status_code == 403
    assert api.call("GET", "/v1/catalogues/DANH_MUC_CHI_TIEU", "ministry-other").status_code == 200


def test_a_ministry_granted_some_indicators_lists_only_packets_holding_them(api: Api) -> None:
    """Found from outside: a ministry granted one indicator saw every packet of the regime in the
    lists, with the full value count, though each packet without its indicator answered 403."""
    envelope = report_packet(month=9, values=1)  # holds 0500 only, outside ministry-one's grant (0501)
    payload = api.gw.sealer.seal(envelope, "json", ["national"])
    with api.gw.sessions.begin() as s:
        outbox.store(s, envelope, payload, "json", ["national"], now=api.gw.clock.now(), value_count=1)
    for path in ("/v1/reports", "/v1/packets"):
        full = {i["packet_id"]: i for i in api.call("GET", path, "ministry").json()["items"]}
        one = {i["packet_id"]: i for i in api.call("GET", path, "ministry-one").json()["items"]}
        assert str(envelope.packet_id) in full and str(envelope.packet_id) not in one
        assert set(one) < set(full) and len(one) == 3, one
        assert {i["value_count"] for i in one.values()} == {1}  # 0501 of five values: what its route serves
        for packet_id in one:
            assert api.call("GET", f"/v1/packets/{packet_id}", "ministry-one").status_code == 200
    assert api.call("GET", f"/v1/packets/{envelope.packet_id}", "ministry-one").status_code == 403


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/packets", {"updated_since": "9999-12-31T23:59:59-14:00"}),
        ("/v1/reports", {"updated_since": "0001-01-01T00:00:00+14:00"}),
        ("/v1/ops/audit", {"since": "9999-12-31T23:59:59-14:00"}),
        ("/v1/ops/audit", {"until": "9999-12-31"}),
        ("/v1/reports", {"period": "2026-THANG-13"}),
        ("/v1/reconciliation", {"period": "9999-THANG-999"}),
    ],
)
def test_a_date_or_period_out_of_range_is_a_422_not_a_500(api: Api, path: str, params: dict[str, str]) -> None:
    """Found from outside: the first four were a bare 500 (an OverflowError in the query), the last
    two an empty 200."""
    answer = api.call("GET", path, "admin", params=params)
    assert answer.status_code == 422, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_padded_period_finds_what_the_stored_key_names(api: Api) -> None:
    stored = api.call("GET", "/v1/reports", "auditor", params={"period": "2026-THANG-1"}).json()["items"]
    padded = api.call("GET", "/v1/reports", "auditor", params={"period": "2026-THANG-01"}).json()["items"]
    assert stored and padded == stored


def test_token_endpoint_client_credentials_password_and_failures(api: Api) -> None:
    client_id, secret = client(api.gw, "ministry", regimes=("*",), indicators=("*",))
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    answer = httpx.post(
        f"{api.url}/v1/token",
        data={"grant_type": "client_credentials"},
        headers={"authorization": f"Basic {basic}"},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    issued = answer.json()
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == 900
    reports = httpx.get(f"{api.url}/v1/reports", headers=bearer(issued["access_token"]), timeout=20)
    assert reports.status_code == 200
    form = httpx.post(
        f"{api.url}/v1/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=20,
    )
    assert form.status_code == 200
    login = httpx.post(
        f"{api.url}/v1/token",
        data={"grant_type": "password", "username": "an-operator", "password": PASSWORD},
        timeout=20,
    )
    assert login.status_code == 200
    wrong = httpx.post(
        f"{api.url}/v1/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"},
        timeout=20,
    )
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"
    with api.gw.sessions() as s:
        failed = s.scalars(select(AuditEvent).where(AuditEvent.action == "login.failed")).all()
    assert [e.actor for e in failed] == [f"client:{client_id}"]


def test_revoking_a_client_stops_its_tokens_at_once(api: Api) -> None:
    from gateway.auth import accounts

    client_id, secret = client(api.gw, "ministry", regimes=("*",), indicators=("*",))
    access = httpx.post(
        f"{api.url}/v1/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=20,
    ).json()["access_token"]
    assert httpx.get(f"{api.url}/v1/reports", headers=bearer(access), timeout=20).status_code == 200
    with api.gw.sessions.begin() as s:
        accounts.revoke_client(s, client_id, now=api.gw.clock.now(), actor="test")
    api.app.state.security.forget(f"client:{client_id}")  # the 5 s lookup cache; a real revocation waits it out
    assert httpx.get(f"{api.url}/v1/reports", headers=bearer(access), timeout=20).status_code == 401


def test_secret_rotation_keeps_the_old_secret_during_the_grace_period(api: Api) -> None:
    from datetime import timedelta

    from gateway.auth import accounts

    client_id, old = client(api.gw, "receiver")
    now = api.gw.clock.now()
    with api.gw.sessions.begin() as s:
        new = accounts.rotate_client(s, client_id, grace=timedelta(hours=1), now=now, actor="test").secret
    with api.gw.sessions() as s:
        assert accounts.client_principal(s, client_id, old, now=now) is not None
        assert accounts.client_principal(s, client_id, new, now=now) is not None
        later = now + timedelta(hours=2)
        assert accounts.client_principal(s, client_id, old, now=later) is None
        assert accounts.client_principal(s, client_id, new, now=later) is not None


def test_rate_limit_answers_429_with_retry_after(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(api={"rate_limit_per_second": 0.5, "rate_limit_burst": 3})
    app = create_app(gw)
    access = token(app, "user", user(gw, "busy", "auditor"), "auditor")
    with BackgroundServer(app) as server:
        codes = [httpx.get(f"{server.url}/v1/ops/queues", headers=bearer(access), timeout=20) for _ in range(5)]
    assert [c.status_code for c in codes[:3]] == [200, 200, 200]
    assert codes[3].status_code == 429
    assert int(codes[3].headers["retry-after"]) >= 1
    assert codes[3].headers["content-type"] == "application/problem+json"


def test_body_and_query_size_limits(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(api={"max_body_bytes": 2048, "max_query_bytes": 512})
    app = create_app(gw)
    access = token(app, "user", user(gw, "big", "admin"), "admin")
    with BackgroundServer(app) as server:
        big = httpx.post(
            f"{server.url}/v1/intake/status", content=b"{" + b" " * 5000 + b"}", headers=bearer(access), timeout=20
        )
        assert big.status_code == 413 and big.headers["content-type"] == "application/problem+json"

        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        streamed = httpx.post(f"{server.url}/v1/intake/status", content=chunks(), headers=bearer(access), timeout=20)
        assert streamed.status_code == 413  # no Content-Length: counted while it arrives
        # ... on a JSON route too, whose body parser used to turn the cut body into a 400 (found from outside)
        for path, kind in (
            ("/v1/ops/deliveries/1/cancel", "application/json"),
            ("/v1/ops/quarantine/replay", "application/json"),
            ("/v1/token", "application/x-www-form-urlencoded"),
        ):
            headers = {**bearer(access), "content-type": kind}
            answer = httpx.post(f"{server.url}{path}", content=chunks(), headers=headers, timeout=20)
            assert answer.status_code == 413, (path, answer.status_code, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        long = httpx.get(f"{server.url}/v1/reports", params={"regime": "x" * 600}, headers=bearer(access), timeout=20)
        assert long.status_code == 414
        too_many = httpx.get(f"{server.url}/v1/reports", params={"limit": 100000}, headers=bearer(access), timeout=20)
        assert too_many.status_code == 422  # pagination cap


def test_etag_and_if_none_match(api: Api) -> None:
    first = api.call("GET", "/v1/reports", "auditor")
    etag = first.headers["etag"]
    again = api.call("GET", "/v1/reports", "auditor", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    packet = api.call("GET", f"/v1/packets/{api.packet_id}", "auditor")
    assert (
        api.call(
            "GET", f"/v1/packets/{api.packet_id}", "auditor", headers={"if-none-match": packet.headers["etag"]}
        ).status_code
        == 304
    )
    store_packets(api.gw, 1)  # the list changed: a new ETag, a full answer
    changed = api.call("GET", "/v1/reports", "auditor", headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_cursor_pagination_walks_every_item_once(api: Api) -> None:
    store_packets(api.gw, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.call("GET", "/v1/packets", "auditor", params=params).json()
        seen += [item["packet_id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 10 and pages == 4
    bad = api.call("GET", "/v1/packets", "auditor", params={"cursor": "not ours"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_packet_by_accept_and_series(api: Api) -> None:
    as_json = api.call("GET", f"/v1/packets/{api.packet_id}", "ministry")
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json()["MaGoiTin"] == api.packet_id
    as_xml = api.call("GET", f"/v1/packets/{api.packet_id}", "ministry", headers={"accept": "application/xml"})
    assert as_xml.headers["content-type"].startswith("application/xml") and b"<GoiTin" in as_xml.content
    assert as_xml.headers["x-signature"] == "not-carried"
    refused = api.call("GET", f"/v1/packets/{api.packet_id}", "ministry", headers={"accept": "text/csv"})
    assert refused.status_code == 406
    missing = api.call("GET", f"/v1/packets/{uuid.uuid4()}", "ministry")
    assert missing.status_code == 404
    catalogue = api.call("GET", "/v1/catalogues/DANH_MUC_KY_BAO_CAO", "ministry", params={"year": 2026})
    assert catalogue.json()["LoaiGoiTin"] == "DANH_MUC_KY_BAO_CAO"
    assert any(k["MaKy"] == "2026-THANG-10" for k in catalogue.json()["NoiDung"]["Ky"])


@pytest.mark.parametrize(
    ("accept", "served"),
    [
        ("application/xml;q=0.9, application/json;q=0.1", "application/xml"),
        ("application/json;q=0, application/xml", "application/xml"),
        ("application/json;q=0.5, application/xml;q=0.5", "application/json"),  # a tie: the signed bytes
        ("application/*;q=0.2, application/xml", "application/xml"),
        ("*/*;q=0.1, application/json;q=0", "application/xml"),
        ("application/json;q=0, application/xml;q=0", None),
        ("text/xml", "application/xml"),  # the same XML (RFC 7303); it got a 406
        ("text/*, application/json;q=0.5", "application/xml"),
        ("text/xml;q=0, application/json", "application/json"),
    ],
)
def test_a_packet_honours_the_accept_quality_values(api: Api, accept: str, served: str | None) -> None:
    """Found from outside: q-values were ignored (the first two got JSON), and no ``Vary: Accept``."""
    answer = api.call("GET", f"/v1/packets/{api.packet_id}", "auditor", headers={"accept": accept})
    if served is None:
        assert answer.status_code == 406
        return
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(served), answer.headers
    assert answer.headers["vary"] == "Accept"


def test_a_body_in_the_wrong_media_type_is_a_415_naming_the_one_taken(api: Api) -> None:
    """Found from outside: a JSON body sent as text/plain got a 422 listing the body as missing, and a
    token request sent as JSON a 422 naming form fields, which sent clients after the wrong mistake."""
    dead = api.delivery_id
    path = f"/v1/ops/deliveries/{dead}/cancel"
    plain = api.call(
        "POST", path, "operator", content=b'{"reason": "sent by hand"}', headers={"content-type": "text/plain"}
    )
    assert plain.status_code == 415 and plain.headers["content-type"] == "application/problem+json"
    assert "application/json" in plain.json()["detail"] and "text/plain" in plain.json()["detail"]
    token = httpx.post(f"{api.url}/v1/token", json={"grant_type": "client_credentials"}, timeout=20)
    assert token.status_code == 415 and "application/x-www-form-urlencoded" in token.json()["detail"]
    # the right media type with a wrong field is still a 422 naming the field
    wrong = api.call("POST", path, "operator", json={"reasons": "typo"})
    assert wrong.status_code == 422 and "reason" in wrong.json()["detail"]


def test_a_weak_etag_in_if_none_match_is_a_304(api: Api) -> None:
    packet = api.call("GET", f"/v1/packets/{api.packet_id}", "auditor")
    weak = {"if-none-match": f"W/{packet.headers['etag']}"}
    assert api.call("GET", f"/v1/packets/{api.packet_id}", "auditor", headers=weak).status_code == 304


def test_operator_cancels_and_replays_with_an_audit_trail(api: Api) -> None:
    dead = api.delivery_id
    replay = api.call("POST", f"/v1/ops/deliveries/{dead}/replay", "operator")
    assert replay.json() == {"replayed": [dead]}
    cancel = api.call("POST", f"/v1/ops/deliveries/{dead}/cancel", "operator", json={"reason": "sent by hand"})
    assert cancel.json() == {"cancelled": dead, "state": "cancelled"}
    again = api.call("POST", f"/v1/ops/deliveries/{dead}/cancel", "operator", json={"reason": "twice"})
    assert again.status_code == 409
    detail = api.call("GET", f"/v1/ops/deliveries/{dead}", "auditor").json()
    assert detail["state"] == "cancelled"
    trail = api.call("GET", "/v1/ops/audit", "auditor", params={"subject": f"delivery:{dead}"}).json()["items"]
    assert [e["actor"] for e in trail][:2] == ["user:an-operator", "user:an-operator"]


def test_a_status_reusing_a_magoitin_with_other_content_is_a_conflict(api: Api) -> None:
    """Found from outside: a different status under a MaGoiTin already received was answered
    "duplicate" and dropped; the packet intake answers 409 there, and so does this one now."""
    own = uuid.uuid4()
    first = status_packet(api.packet_id, m.ReportStatus.DA_TIEP_NHAN, packet_id=own)
    sent = api.call("POST", "/v1/intake/status", "receiver", content=first)
    assert sent.status_code in (200, 202) and sent.json()["result"] == "applied", sent.text
    again = api.call("POST", "/v1/intake/status", "receiver", content=first)
    assert again.json()["result"] == "duplicate"
    other = status_packet(api.packet_id, m.ReportStatus.TRA_LAI, reason="Sai đơn vị tính", packet_id=own)
    refused = api.call("POST", "/v1/intake/status", "receiver", content=other)
    assert refused.status_code == 409 and "received before with other content" in refused.json()["detail"]
    with api.gw.sessions() as s:
        assert s.get(Delivery, api.delivery_id - 1).state == "acknowledged"  # the first status stands


def test_intake_is_for_receivers(api: Api) -> None:
    body = status_packet(api.packet_id, m.ReportStatus.DA_TIEP_NHAN)
    assert api.call("POST", "/v1/intake/status", "receiver", content=body).status_code == 202
    assert api.call("POST", "/v1/intake/status", "ministry", content=body).status_code == 403


def test_a_single_valued_parameter_given_twice_is_refused(api: Api) -> None:
    twice = api.call("GET", "/v1/reports", "auditor", params=[("period", "2026-THANG-1"), ("period", "2026-THANG-2")])
    assert twice.status_code == 422 and twice.json()["errors"][0]["location"] == "query/period"
    many = api.call(
        "GET", "/v1/indicators/0501/series", "auditor", params=[("reporting_unit", "H15"), ("reporting_unit", "H16")]
    )
    assert many.status_code == 200  # a list parameter may repeat


def test_replaying_the_quarantine_with_a_broken_mapping_is_a_conflict_not_a_500(
    api: Api, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A mapping file being edited (here: not UTF-8) made the replay answer 500 from deep in the loader."""
    folder = tmp_path / "indicators"
    folder.mkdir()
    (folder / "broken.yaml").write_bytes(b"version: x\n\xff\n")
    # The operator's own mapping folder ({data_dir}/indicators), found before the bundled one.
    from gateway import resources

    resources.configure(tmp_path, {})
    request.addfinalizer(resources.reset)
    answer = api.call("POST", "/v1/ops/quarantine/replay", "operator", json={"mapping": "broken.yaml"})
    assert answer.status_code == 409 and answer.headers["content-type"] == "application/problem+json"
    assert "mapping 'broken.yaml' cannot be used" in answer.json()["detail"] and "not UTF-8" in answer.json()["detail"]
    missing = api.call("POST", "/v1/ops/quarantine/replay", "operator", json={"mapping": "gone.yaml"})
    assert missing.status_code == 404
    too_long = api.call(
        "POST", "/v1/ops/quarantine/replay", "operator", json={"mapping": "broken.yaml", "reporting_unit": "X" * 101}
    )
    assert too_long.status_code == 422
