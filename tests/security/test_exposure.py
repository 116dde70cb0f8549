"""Issue 18 item 15: what the gateway exposes without being asked by someone it knows.

- ``/openapi.json``, ``/docs`` and ``/redoc`` answered anyone; now ``api.docs`` decides, and the
  default serves them to callers with a token only;
- backups were world-readable; now every file of a backup is 0600 and a directory it makes is 0700.
"""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from gateway import backup
from gateway.api.app import create_app
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory
from tests.support.api import bearer, client_token
from tests.support.packets import store_packets

DOC_PATHS = ("/openapi.json", "/docs", "/redoc")


@pytest.mark.parametrize(
    ("docs", "anonymous", "with_token"),
    [("authenticated", 401, 200), ("public", 200, 200), ("off", 404, 404), (None, 401, 200)],
)
def test_api_description_follows_api_docs(
    gateway_factory: GatewayFactory, docs: str | None, anonymous: int, with_token: int
) -> None:
    gw = gateway_factory(api={"docs": docs} if docs else {})  # None: the default
    app = create_app(gw)
    auth = bearer(client_token(gw, app, "metrics"))  # any role will do: it is a description, not data
    with BackgroundServer(app) as server:
        for path in DOC_PATHS:
            assert httpx.get(f"{server.url}{path}", timeout=20).status_code == anonymous, (docs, path)
            answer = httpx.get(f"{server.url}{path}", headers=auth, timeout=20)
            assert answer.status_code == with_token, (docs, path)
        if with_token == 200:
            document = httpx.get(f"{server.url}/openapi.json", headers=auth, timeout=20).json()
            assert "/v1/intake/status" in document["paths"]


def test_every_backup_file_is_private(gateway_factory: GatewayFactory, database_url: str, tmp_path: Path) -> None:
    gw = gateway_factory(database_url=database_url)
    store_packets(gw, 1)
    target = tmp_path / "backup"
    backup.create(gw.engine, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    files = list(target.iterdir())
    assert len(files) >= 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path.name, oct(path.stat().st_mode))
