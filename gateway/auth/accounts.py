"""Clients and users in the database: add, list, rotate, revoke, disable, and check credentials.

Secrets and passwords are hashed with argon2 (argon2-cffi's defaults, RFC 9106 low-memory profile);
a client secret is shown once, when it is made. Checking a credential always runs one argon2
verification, even for an unknown name, so response time does not reveal which names exist.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Connection, TextualSelect, delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from gateway import audit
from gateway.auth import usernames
from gateway.auth.principals import Grants, Principal
from gateway.clock import as_utc
from gateway.db.models import CLIENT_ROLES, USER_ROLES, ApiClient, ApiUser, RevokedToken
from gateway.errors import InputError, NotFound

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a real secret")
MIN_PASSWORD = 12
_HASHING = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) // 2))
"""At most half the CPUs hash passwords at once: a login flood queues here instead of starving every
other request of CPU (argon2 is deliberately expensive)."""


def _verify(stored: str | None, offered: str) -> bool:
    try:
        with _HASHING:
            return _hasher.verify(stored or _DUMMY, offered) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class IssuedSecret:
    client_id: str
    secret: str


def add_client(
    session: Session,
    name: str,
    role: str,
    grants: Grants,
    *,
    now: datetime,
    actor: str,
    unit: str | None = None,
) -> IssuedSecret:
    """A new client. A receiver is bound to the unit it speaks for (``unit``): its status packets are
    taken only when they come from that unit (see ``gateway.delivery.binding``)."""
    if role not in CLIENT_ROLES:
        raise InputError(f"role must be one of {', '.join(CLIENT_ROLES)}")
    if role == "ministry" and grants.empty:
        raise InputError("a ministry client needs at least one grant (--regime or --indicator; '*' for all)")
    if role == "receiver" and not unit:
        raise InputError("a receiver client needs the unit it speaks for (--unit, e.g. G01 for the national system)")
    if unit is not None and role != "receiver":
        raise InputError("only receiver clients are bound to a unit")
    client_id = f"c-{secrets.token_hex(8)}"
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiClient(
            client_id=client_id,
            name=name,
            role=role,
            grants=grants.to_json(),
            secret_hash=_hasher.hash(secret),
            created_at=now,
            unit_code=unit,
        )
    )
    audit.record(
        session,
        at=now,
        actor=actor,
        action="client.added",
        subject=f"client:{client_id}",
        detail={"name": name, "role": role, "grants": grants.to_json(), "unit": unit},
    )
    return IssuedSecret(client_id, secret)


def rotate_client(session: Session, client_id: str, *, grace: timedelta, now: datetime, actor: str) -> IssuedSecret:
    """A new secret; the old one keeps working for ``grace`` so the client can switch without downtime."""
    client = _client(session, client_id)
    secret = secrets.token_urlsafe(32)
    client.previous_secret_hash = client.secret_hash
    client.previous_valid_until = now + grace
    client.secret_hash = _hasher.hash(secret)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="client.rotated",
        subject=f"client:{client_id}",
        detail={"previous_valid_until": client.previous_valid_until.isoformat()},
    )
    return IssuedSecret(client_id, secret)


def revoke_client(session: Session, client_id: str, *, now: datetime, actor: str) -> None:
    """Revoke a client; its tokens are refused at the next request in every process (the session
    check every request reads afresh, not the API's few-second account cache)."""
    client = _client(session, client_id)
    client.revoked_at = now
    client.tokens_not_before = now
    audit.record(session, at=now, actor=actor, action="client.revoked", subject=f"client:{client_id}")


def _client(session: Session, client_id: str) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"client {client_id} does not exist")
    return client


def client_principal(session: Session, client_id: str, secret: str, *, now: datetime) -> Principal | None:
    client = session.get(ApiClient, client_id)
    if client is None:
        _verify(None, secret)
        return None
    ok = _verify(client.secret_hash, secret)
    if not ok and client.previous_secret_hash and client.previous_valid_until:
        ok = as_utc(now) <= as_utc(client.previous_valid_until) and _verify(client.previous_secret_hash, secret)
    if not ok or client.revoked_at is not None:
        return None
    return Principal("client", client.client_id, client.role, Grants.from_json(client.grants), client.unit_code)


def active_client(session: Session, client_id: str) -> Principal | None:
    """The client as it is now (revocation and grant changes apply to tokens already issued)."""
    client = session.get(ApiClient, client_id)
    if client is None or client.revoked_at is not None:
        return None
    return Principal("client", client.client_id, client.role, Grants.from_json(client.grants), client.unit_code)


def list_clients(session: Session) -> list[ApiClient]:
    return list(session.scalars(select(ApiClient).order_by(ApiClient.created_at)))


def add_user(
    session: Session, username: str, full_name: str, role: str, password: str, *, now: datetime, actor: str
) -> None:
    if role not in USER_ROLES:
        raise InputError(f"role must be one of {', '.join(USER_ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password needs at least {MIN_PASSWORD} characters")
    username = usernames.checked(username)
    existing = list(session.scalars(select(ApiUser.username)))
    if username in existing or session.get(ApiUser, username) is not None:
        raise InputError(f"user {username} already exists")
    similar = usernames.look_alike(username, existing)
    if similar is not None:
        raise InputError(f"username {username} looks like the existing user {similar}; choose a distinct name")
    session.add(
        ApiUser(
            username=username,
            full_name=full_name,
            role=role,
            password_hash=_hasher.hash(password),
            created_at=now,
        )
    )
    audit.record(session, at=now, actor=actor, action="user.added", subject=f"user:{username}", detail={"role": role})


def disable_user(session: Session, username: str, *, now: datetime, actor: str) -> None:
    user = _user(session, username)
    user.disabled_at = now
    user.tokens_not_before = now
    audit.record(session, at=now, actor=actor, action="user.disabled", subject=f"user:{username}")


def set_password(session: Session, username: str, password: str, *, now: datetime, actor: str) -> None:
    """A new password; every session of the account ends (tokens issued before now are refused)."""
    user = _user(session, username)
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password needs at least {MIN_PASSWORD} characters")
    user.password_hash = _hasher.hash(password)
    user.tokens_not_before = now
    audit.record(session, at=now, actor=actor, action="user.password_changed", subject=f"user:{username}")


def set_role(session: Session, username: str, role: str, *, now: datetime, actor: str) -> None:
    """A new role; every session of the account ends, so no token carries the old role's reach."""
    if role not in USER_ROLES:
        raise InputError(f"role must be one of {', '.join(USER_ROLES)}")
    user = _user(session, username)
    before, user.role = user.role, role
    user.tokens_not_before = now
    audit.record(
        session,
        at=now,
        actor=actor,
        action="user.role_changed",
        subject=f"user:{username}",
        detail={"from": before, "to": role},
    )


def _user(session: Session, username: str) -> ApiUser:
    user = session.get(ApiUser, usernames.normalise(username)) or session.get(ApiUser, username)
    if user is None:
        raise NotFound(f"user {username} does not exist")
    return user


def verify_user(sessions: sessionmaker[Session], username: str, password: str) -> Principal | None:
    """Check a password with no transaction open while argon2 runs (a login flood must not hold locks)."""
    with sessions() as session:
        user = session.get(ApiUser, usernames.normalise(username)) or session.get(ApiUser, username)
        stored, disabled, role = (user.password_hash, user.disabled_at, user.role) if user else (None, None, "")
        name = user.username if user else username
    ok = _verify(stored, password)
    if stored is None or not ok or disabled is not None:
        return None
    return Principal("user", name, role)


def verify_client(sessions: sessionmaker[Session], client_id: str, secret: str, *, now: datetime) -> Principal | None:
    """Check a client secret with no transaction open while argon2 runs."""
    with sessions() as session:
        client = session.get(ApiClient, client_id)
        if client is not None:
            session.expunge(client)
    if client is None:
        _verify(None, secret)
        return None
    ok = _verify(client.secret_hash, secret)
    if not ok and client.previous_secret_hash and client.previous_valid_until:
        ok = as_utc(now) <= as_utc(client.previous_valid_until) and _verify(client.previous_secret_hash, secret)
    if not ok or client.revoked_at is not None:
        return None
    return Principal("client", client.client_id, client.role, Grants.from_json(client.grants), client.unit_code)


def sessions_not_before(session: Session, subject: str) -> datetime | None:
    """When the account's sessions were last ended (tokens issued earlier are refused)."""
    kind, _, name = subject.partition(":")
    row: ApiUser | ApiClient | None = (
        session.get(ApiUser, name) if kind == "user" else session.get(ApiClient, name) if kind == "client" else None
    )
    return row.tokens_not_before if row is not None else None


def revoke_token(session: Session, jti: str, subject: str, *, expires_at: datetime, now: datetime) -> None:
    """End one session (logout); rows of tokens that have expired anyway are cleared on the way."""
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, subject=subject[:200], expires_at=expires_at, revoked_at=now))


def is_revoked(session: Session, jti: str) -> bool:
    return session.get(RevokedToken, jti) is not None


# Both questions every API request asks about its token, in one statement with named parameters
# (``:jti``, ``:name``), by account kind. Written once: SQLAlchemy builds, keys and caches a Core select
# on every execution, which cost more than the query itself on this path.
SESSION_STATE_SQL: dict[str, str] = {
    "user": "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = :jti) AS revoked,"
    " (SELECT tokens_not_before FROM api_users WHERE username = :name) AS since",
    "client": "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = :jti) AS revoked,"
    " (SELECT tokens_not_before FROM api_clients WHERE client_id = :name) AS since",
}
_SESSION_STATE: dict[str, TextualSelect] = {
    "user": text(SESSION_STATE_SQL["user"]).columns(
        revoked=Boolean(), since=ApiUser.__table__.c.tokens_not_before.type
    ),
    "client": text(SESSION_STATE_SQL["client"]).columns(
        revoked=Boolean(), since=ApiClient.__table__.c.tokens_not_before.type
    ),
}


def session_state(conn: Connection, jti: str, subject: str) -> tuple[bool, datetime | None]:
    """``is_revoked`` and ``sessions_not_before`` in one statement on a plain connection: what every
    API request asks (issue 19: two ORM lookups in a session that, on SQLite, took the process's
    write lock made a third of the pull API's cost). Read afresh every time, never cached."""
    kind, _, name = subject.partition(":")
    statement = _SESSION_STATE.get(kind)
    if statement is None:
        return False, None
    revoked, since = conn.execute(statement, {"jti": jti, "name": name}).one()
    return bool(jti) and bool(revoked), since


def user_principal(session: Session, username: str, password: str) -> Principal | None:
    user = session.get(ApiUser, usernames.normalise(username)) or session.get(ApiUser, username)
    ok = _verify(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled_at is not None:
        return None
    return Principal("user", user.username, user.role)


def active_user(session: Session, username: str) -> Principal | None:
    user = session.get(ApiUser, username)
    if user is None or user.disabled_at is not None:
        return None
    return Principal("user", user.username, user.role)


def list_users(session: Session) -> list[ApiUser]:
    return list(session.scalars(select(ApiUser).order_by(ApiUser.username)))
