"""The API over real loopback HTTP: health, readiness, idempotent status intake, problem+json."""

from __future__ import annotations

import json
import uuid

import httpx

from gateway.api.app import create_app
from gateway.db.models import Delivery
from gateway.packets import model as m
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory
from tests.support.api import bearer, client_token
from tests.support.packets import status_packet, store_packets


def status_for(packet_id: str, status: m.ReportStatus, reason: str | None = None) -> bytes:
    return status_packet(packet_id, status, reason=reason)


def test_health_readiness_and_status_intake(gateway_factory: GatewayFactory, database_url: str) -> None:
    from tests.conftest import national_destination

    gw = gateway_factory(
        database_url=database_url, destinations={"national": national_destination("http://127.0.0.1:9/none")}
    )
    packet_ids, delivery_ids = store_packets(gw, 1)
    with gw.sessions.begin() as s:  # as if the receiver had answered 202 with no status yet
        d = s.get(Delivery, delivery_ids[0])
        assert d is not None
        d.state = "delivered"
    app = create_app(gw)
    receiver = client_token(gw, app, "receiver")
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, headers=bearer(receiver)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["migrations"] == "at head"

        body = status_for(packet_ids[0], m.ReportStatus.TRA_LAI, "Thiếu số liệu xã Y Tý")
        first = client.post("/v1/intake/status", content=body, headers={"content-type": "application/json"})
        again = client.post("/v1/intake/status", content=body, headers={"content-type": "application/json"})
        assert (first.status_code, first.json()["result"]) == (202, "applied")
        assert (again.status_code, again.json()["result"]) == (202, "duplicate")

        broken = json.loads(body)
        broken["NoiDung"]["TrangThai"] = "DA_XEM"
        del broken["NoiDung"]["LyDo"]
        bad = client.post("/v1/intake/status", content=json.dumps(broken).encode())
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert any(e["location"] == "/NoiDung/TrangThai" for e in bad.json()["errors"])

        unknown = client.post("/v1/intake/status", content=status_for(str(uuid.uuid4()), m.ReportStatus.DA_DUYET))
        assert unknown.status_code == 404 and "no delivery" in unknown.json()["detail"]
    with gw.sessions() as s:
        d = s.get(Delivery, delivery_ids[0])
        assert d is not None and d.state == "returned" and d.ack_reason == "Thiếu số liệu xã Y Tý"
