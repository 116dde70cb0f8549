"""The pull API's hot path (issue 19): a repeated ``GET /v1/packets/{id}`` is served from memory.

Through the real app over real loopback HTTP (uvicorn in a thread): the bytes and the ETag are the
stored packet's, a second request runs one SQL statement (the session check that must stay uncached:
logout ends a session at once) instead of ORM sessions, the packet read and a SHA-256 of the body,
and the token claims are re-checked for expiry on every reuse.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from gateway.api.app import create_app
from gateway.api.pull import PacketCache, StoredPacket
from gateway.db.models import Packet
from gateway.errors import Unauthenticated
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory, national_destination
from tests.support.api import bearer, client_token, token, user
from tests.support.packets import store_packets


@pytest.fixture
def served(gateway_factory: GatewayFactory, tmp_path: Path) -> Iterator[tuple[Any, Any, str, str]]:
    gw = gateway_factory(
        destinations={"national": national_destination("http://127.0.0.1:9/none")},
        api={"rate_limit_per_second": 1000, "rate_limit_burst": 1000},
    )
    packet_ids, _ = store_packets(gw, 2)
    app = create_app(gw)
    with BackgroundServer(app) as server:
        yield gw, app, server.url, packet_ids[0]


def _statements(gw: Any) -> list[str]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(gw.engine, "before_cursor_execute", record)
    return seen


def test_a_repeated_pull_is_one_sql_statement_and_the_stored_bytes(served: tuple[Any, Any, str, str]) -> None:
    gw, app, url, packet_id = served
    headers = bearer(client_token(gw, app, "ministry", regimes=("*",), indicators=("*",)))
    with gw.sessions() as session:
        stored = session.scalars(select(Packet.payload).where(Packet.id == packet_id)).one()
    first = httpx.get(f"{url}/v1/packets/{packet_id}", headers=headers, timeout=20)
    assert first.status_code == 200 and first.content == stored
    seen = _statements(gw)
    second = httpx.get(f"{url}/v1/packets/{packet_id}", headers=headers, timeout=20)
    assert second.status_code == 200 and second.content == stored
    assert len(seen) == 1 and "revoked_tokens" in seen[0], seen  # the session check, nothing else
    etag = f'"{hashlib.sha256(stored).hexdigest()[:32]}"'  # what the middleware gives any other body
    assert first.headers["etag"] == second.headers["etag"] == etag
    unchanged = httpx.get(f"{url}/v1/packets/{packet_id}", headers={**headers, "if-none-match": etag}, timeout=20)
    assert unchanged.status_code == 304 and unchanged.content == b""
    missing = httpx.get(f"{url}/v1/packets/00000000-0000-0000-0000-000000000000", headers=headers, timeout=20)
    assert missing.status_code == 404


def test_logout_ends_a_session_at_once_even_with_its_claims_cached(served: tuple[Any, Any, str, str]) -> None:
    gw, app, url, packet_id = served
    issued = token(app, "user", user(gw, "an-operator", "operator"), "operator")
    path = f"{url}/v1/packets/{packet_id}"
    assert httpx.get(path, headers=bearer(issued), timeout=20).status_code == 200
    app.state.security.revoke(issued)
    assert httpx.get(path, headers=bearer(issued), timeout=20).status_code == 401


def test_a_cached_token_is_refused_once_it_expires(served: tuple[Any, Any, str, str]) -> None:
    gw, app, _, _ = served
    security = app.state.security
    from gateway.auth.principals import Principal
    from gateway.auth.tokens import LEEWAY_SECONDS

    ttl = security.tokens.ttl
    # Issued so that it expires (leeway included) about one second from now.
    issued, _ = security.tokens.issue(
        Principal("user", user(gw, "brief", "operator"), "operator"), now=time.time() - ttl - LEEWAY_SECONDS + 1
    )
    assert security._verified(issued)["sub"] == "user:brief"
    time.sleep(1.5)
    with pytest.raises(Unauthenticated):
        security._verified(issued)


def test_the_packet_cache_is_bounded_in_bytes_least_recently_used_out() -> None:
    cache = PacketCache(max_bytes=400)

    def stored(size: int) -> StoredPacket:
        return StoredPacket(b"x" * size, "application/json", "R", '"e"')

    cache.put("a", stored(100))
    cache.put("b", stored(100))
    cache.put("c", stored(100))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("d", stored(100))
    cache.put("e", stored(100))
    assert cache.get("b") is None and cache.get("a") is not None
    assert cache.size <= 400
    cache.put("big", stored(200))  # over a quarter of the budget: served, not kept
    assert cache.get("big") is None
    off = PacketCache(max_bytes=0)
    off.put("a", stored(1))
    assert off.get("a") is None
