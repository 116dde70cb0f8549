"""Issue 18 item 10: no secret the gateway holds, nor anything shaped like one, is stored, logged or
shown. A receiver that echoed our credentials got them stored in plain text (bearer tokens, OAuth2
access tokens, the LGSP key and secret) in attempts, ``audit_events``, backups, the API and the
dashboard, and the LGSP header in log lines.

The probe plants credentials in the configuration, delivers to a receiver that echoes every request
header back (and a JWT-shaped token it made up), then searches every text column of every table,
the backup, the log output, the operator API and the dashboard's delivery pages."""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path

import httpx
from sqlalchemy import inspect, select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import backup, logs
from gateway.api.app import create_app
from gateway.db.models import Delivery
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory, national_destination
from tests.support.api import PASSWORD, bearer, token, user
from tests.support.packets import store_packets

BEARER = "planted-bearer-7f3c9a2e41d8b6"
ACCESS_KEY, SECRET_KEY = "planted-access-key-55ab", "planted-secret-key-99cd"
JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwbGFudGVkLW9hdXRoIn0.c2lnbmF0dXJlLXBsYW50ZWQ"
LGSP_HEADER = base64.b64encode(
    json.dumps(
        {"AccessKey": ACCESS_KEY, "SecretKey": SECRET_KEY, "AppName": "gw", "PartnerCode": "p", "PartnerCodeCus": "c"},
        separators=(",", ":"),
    ).encode()
).decode()
PLANTED = (BEARER, ACCESS_KEY, SECRET_KEY, JWT, LGSP_HEADER)


async def echo(request: Request) -> JSONResponse:
    """A careless receiver: refuses the packet and tells us everything we sent, plus a token of its own."""
    headers = dict(request.headers)
    detail = f"bad request; you sent {json.dumps(headers)}; retry with access_token={JWT}"
    return JSONResponse({"detail": detail, "LyDo": f"Authorization: {headers.get('authorization')}"}, status_code=400)


def leaks(haystack: str) -> list[str]:
    return [p for p in PLANTED if p in haystack]


def test_echoed_credentials_are_nowhere(gateway_factory: GatewayFactory, database_url: str, tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logs.configure(stream=stream)
    receiver = BackgroundServer(Starlette(routes=[Route("/in", echo, methods=["POST"])])).start()
    try:
        gw = gateway_factory(
            database_url=database_url,
            destinations={
                "national": national_destination(f"{receiver.url}/in").model_copy(
                    update={"auth": {"kind": "bearer", "token": BEARER}}
                ),
                "lgsp": national_destination(f"{receiver.url}/in").model_copy(
                    update={
                        "auth": {
                            "kind": "lgsp",
                            "access_key": ACCESS_KEY,
                            "secret_key": SECRET_KEY,
                            "app_name": "gw",
                            "partner_code": "p",
                            "partner_code_cus": "c",
                        }
                    }
                ),
            },
        )
        _, ids = store_packets(gw, 1, destinations=["national", "lgsp"])
        service = gw.delivery_service("probe")
        outcomes = [service.attempt(i).outcome for i in ids]
        assert outcomes == ["rejected", "rejected"]
        logging.getLogger("gateway.probe").warning("echoed: %s", f"lgspaccesstoken={LGSP_HEADER}")

        found: dict[str, list[str]] = {}
        with gw.engine.connect() as conn:  # every text of every table, as stored
            for table in inspect(gw.engine).get_table_names():
                rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
                dump = "\n".join(repr(tuple(r)) for r in rows)
                if leaks(dump):
                    found[f"table {table}"] = leaks(dump)
        with gw.sessions() as s:  # the echo did reach storage (redacted), so the search is not vacuous
            errors = " ".join(d.last_error or "" for d in s.scalars(select(Delivery)))
        assert "you sent" in errors and "[REDACTED]" in errors

        target = tmp_path / "backup"
        backup.create(gw.engine, target)
        for path in target.iterdir():
            data = path.read_bytes().decode("latin-1")
            if leaks(data):
                found[f"backup {path.name}"] = leaks(data)

        app = create_app(gw)
        name = user(gw, "kiemtra", "admin")
        api_token = token(app, "user", name, "admin")
        with BackgroundServer(app) as api:
            for path in [
                "/v1/ops/deliveries",
                "/v1/ops/audit",
                *[f"/v1/ops/deliveries?state=rejected&id={i}" for i in ids],
            ]:
                body = httpx.get(f"{api.url}{path}", headers=bearer(api_token), timeout=30).text
                if leaks(body):
                    found[f"api {path}"] = leaks(body)
            browser = httpx.Client(base_url=api.url, timeout=30)
            browser.post("/ui/login", data={"username": name, "password": PASSWORD, "next": "/ui/"})
            for page in ["/ui/", *[f"/ui/deliveries/{i}" for i in ids], "/ui/audit"]:
                html = browser.get(page).text
                if leaks(html):
                    found[f"page {page}"] = leaks(html)
            browser.close()
        logged = stream.getvalue()
        assert "echoed:" in logged
        if leaks(logged):
            found["logs"] = leaks(logged)
        assert found == {}
    finally:
        receiver.stop()
        logging.getLogger().removeHandler(handler)
