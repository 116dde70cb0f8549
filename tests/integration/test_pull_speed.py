"""The pull API's hot path (issue 19): a repeated ``GET /v1/packets/{id}`` is served from memory.

Through the real app over real loopback HTTP (uvicorn in a thread): the bytes and the ETag are the
stored packet's, a second request runs one SQL statement (the session check that must stay uncached:
logout ends a session at once) instead of ORM sessions, the packet read and a SHA-256 of the body,
and the token claims are re-checked for expiry on every reuse. On SQLite that one statement runs on
a connection the session check keeps open, from the event loop: a logout or an account change made
by another process is still refused at the next request, and a broken connection is replaced.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from gateway.api.app import create_app
from gateway.api.pull import PacketCache, StoredPacket
from gateway.auth.principals import Principal
from gateway.db.models import Packet
from gateway.errors import Unauthenticated
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory, national_destination
from tests.support.api import bearer, client, client_token, token, user
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
    through_sqlalchemy: list[str] = _statements(gw)
    by_driver: list[str] = []  # what SQLite runs on the session check's own connection
    app.state.security.sessions._raw.driver_connection.set_trace_callback(by_driver.append)
    second = httpx.get(f"{url}/v1/packets/{packet_id}", headers=headers, timeout=20)
    assert second.status_code == 200 and second.content == stored
    # The session check, nothing else: on its own connection, not through the pool.
    assert through_sqlalchemy == [], through_sqlalchemy
    assert len(by_driver) == 1 and "revoked_tokens" in by_driver[0], by_driver
    etag = f'"{hashlib.sha256(stored).hexdigest()[:32]}"'  # what the middleware gives any other body
    assert first.headers["etag"] == second.headers["etag"] == etag
    unchanged = httpx.get(f"{url}/v1/packets/{packet_id}", headers={**headers, "if-none-match": etag}, timeout=20)
    assert unchanged.status_code == 304 and unchanged.content == b""
    missing = httpx.get(f"{url}/v1/packets/00000000-0000-0000-0000-000000000000", headers=headers, timeout=20)
    assert missing.status_code == 404


_ELSEWHERE = """
import sys
from datetime import timedelta
from pathlib import Path
from gateway.auth import accounts
from gateway.bootstrap import bootstrap
from gateway.settings import Settings
data, url, action, name = sys.argv[1:5]
gw = bootstrap(Settings(data_dir=Path(data), database={"url": url}), migrate=False)
with gw.sessions.begin() as session:
    now = gw.clock.now()
    if action == "logout":
        accounts.revoke_token(session, name, sys.argv[5], expires_at=now + timedelta(hours=1), now=now)
    else:
        accounts.disable_user(session, name, now=now, actor="another process")
gw.close()
"""


def _in_another_process(gw: Any, action: str, *names: str) -> None:
    """What ``gateway users disable`` or another API process's logout does: its own process, its own
    connections to the same database file."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    settings = gw.settings
    subprocess.run(
        [sys.executable, "-c", _ELSEWHERE, str(settings.data_dir), settings.database.url, action, *names],
        check=True,
        env=env,
        timeout=120,
    )


def test_a_logout_or_a_disable_in_another_process_is_refused_at_the_next_request(
    served: tuple[Any, Any, str, str],
) -> None:
    gw, app, url, packet_id = served
    security = app.state.security
    path = f"{url}/v1/packets/{packet_id}"
    first = token(app, "user", user(gw, "an-analyst", "operator"), "operator")
    second, _ = security.tokens.issue(Principal("user", "an-analyst", "operator"))
    third = token(app, "user", user(gw, "a-second-analyst", "operator"), "operator")
    for issued in (first, second, third):  # claims and account now cached, the session connection open
        assert httpx.get(path, headers=bearer(issued), timeout=20).status_code == 200
    assert security.sessions.inline and security.sessions._raw is not None
    _in_another_process(gw, "logout", str(security._verified(first)["jti"]), "user:an-analyst")
    assert httpx.get(path, headers=bearer(first), timeout=20).status_code == 401
    assert httpx.get(path, headers=bearer(second), timeout=20).status_code == 200  # another session goes on
    time.sleep(1.1)  # tokens carry their issue time in whole seconds
    _in_another_process(gw, "disable", "a-second-analyst")
    refused = httpx.get(path, headers=bearer(third), timeout=20)
    assert refused.status_code == 401, refused.text


def test_a_client_revoked_in_another_process_is_refused_at_the_next_request(
    served: tuple[Any, Any, str, str],
) -> None:
    """``gateway clients revoke`` runs in its own process (here: its own engine, its own connections to
    the same database file) while the API holds the client's account in its few-second lookup cache:
    the revocation ends the client's sessions too, so the next request is refused (it was served
    until the cache ran out)."""
    from sqlalchemy.orm import Session

    from gateway.auth import accounts
    from gateway.db.engine import make_engine

    gw, app, url, packet_id = served
    client_id, _ = client(gw, "ministry", regimes=("*",), indicators=("*",))
    issued = token(app, "client", client_id, "ministry")
    path = f"{url}/v1/packets/{packet_id}"
    time.sleep(1.1)  # tokens carry their issue time in whole seconds
    assert httpx.get(path, headers=bearer(issued), timeout=20).status_code == 200
    elsewhere = make_engine(gw.settings.database.url)
    try:
        with Session(elsewhere) as session, session.begin():
            accounts.revoke_client(session, client_id, now=gw.clock.now(), actor="another process")
    finally:
        elsewhere.dispose()
    assert app.state.security._cached(f"client:{client_id}") is not None  # still cached here (5 s)
    assert httpx.get(path, headers=bearer(issued), timeout=20).status_code == 401


def test_a_broken_session_connection_is_replaced(served: tuple[Any, Any, str, str]) -> None:
    gw, app, url, packet_id = served
    security = app.state.security
    headers = bearer(client_token(gw, app, "ministry", regimes=("*",), indicators=("*",)))
    path = f"{url}/v1/packets/{packet_id}"
    assert httpx.get(path, headers=headers, timeout=20).status_code == 200
    broken = security.sessions._raw
    broken.driver_connection.close()  # what a lost handle looks like: sqlite3.ProgrammingError on use
    assert httpx.get(path, headers=headers, timeout=20).status_code == 200
    assert security.sessions._raw is not None and security.sessions._raw is not broken


@pytest.fixture
def in_vietnam() -> Iterator[None]:
    """The process's local time zone is Vietnam's (UTC+7), as on a provincial server."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Ho_Chi_Minh"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_a_password_change_ends_older_sessions_whatever_the_local_time_zone(
    in_vietnam: None, served: tuple[Any, Any, str, str]
) -> None:
    """SQLite gives ``tokens_not_before`` back without its zone; read as local time at UTC+7 it was
    seven hours early, and a token issued ten minutes before the change still worked."""
    from gateway.auth import accounts

    gw, app, url, packet_id = served
    security = app.state.security
    name = user(gw, "a-traveller", "operator")
    earlier, _ = security.tokens.issue(Principal("user", name, "operator"), now=time.time() - 600)
    path = f"{url}/v1/packets/{packet_id}"
    assert httpx.get(path, headers=bearer(earlier), timeout=20).status_code == 200
    with gw.sessions.begin() as session:
        accounts.set_password(session, name, "a new and long passphrase", now=gw.clock.now(), actor="test")
    assert httpx.get(path, headers=bearer(earlier), timeout=20).status_code == 401  # the API (event loop)
    with pytest.raises(Unauthenticated):
        security.authenticate(earlier)  # the dashboard's path (any thread)


def test_logout_ends_a_session_at_once_even_with_its_claims_cached(served: tuple[Any, Any, str, str]) -> None:
    gw, app, url, packet_id = served
    issued = token(app, "user", user(gw, "an-operator", "operator"), "operator")
    path = f"{url}/v1/packets/{packet_id}"
    assert httpx.get(path, headers=bearer(issued), timeout=20).status_code == 200
    app.state.security.revoke(issued)
    assert httpx.get(path, headers=bearer(issued), timeout=20).status_code == 401


def test_a_token_is_refused_from_its_expiry_not_thirty_seconds_later(served: tuple[Any, Any, str, str]) -> None:
    """Found from outside: PyJWT's leeway applied to ``exp`` too, so a token we issued kept working
    for 30 s after the ``expires_in`` we told the client. It still applies to ``iat`` (another node's
    clock may be a moment ahead)."""
    gw, app, url, packet_id = served
    tokens = app.state.security.tokens
    who = Principal("user", user(gw, "on-the-hour", "operator"), "operator")
    path = f"{url}/v1/packets/{packet_id}"
    ended, _ = tokens.issue(who, now=time.time() - tokens.ttl - 2)  # expired two seconds ago
    answer = httpx.get(path, headers=bearer(ended), timeout=20)
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    ahead, _ = tokens.issue(who, now=time.time() + 5)  # issued by a node whose clock is 5 s ahead
    assert httpx.get(path, headers=bearer(ahead), timeout=20).status_code == 200


def test_a_cached_token_is_refused_once_it_expires(served: tuple[Any, Any, str, str]) -> None:
    gw, app, _, _ = served
    security = app.state.security
    ttl = security.tokens.ttl
    # Issued so that it expires about one second from now (our own tokens get no leeway on expiry).
    issued, _ = security.tokens.issue(
        Principal("user", user(gw, "brief", "operator"), "operator"), now=time.time() - ttl + 1
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
