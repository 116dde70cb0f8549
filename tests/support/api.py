"""Accounts and tokens for API tests: real rows in the database, real signed tokens."""

from __future__ import annotations

from fastapi import FastAPI

from gateway.auth import accounts
from gateway.auth.principals import Grants, Principal
from gateway.bootstrap import Gateway

PASSWORD = "correct horse battery staple"


def client(
    gw: Gateway,
    role: str,
    *,
    regimes: tuple[str, ...] = (),
    indicators: tuple[str, ...] = (),
    unit: str | None = None,
) -> tuple[str, str]:
    """A machine client in the database; returns (client_id, secret). A receiver speaks for ``unit``,
    by default G01, the national system every test destination names as its receiver."""
    if role == "receiver" and unit is None:
        unit = "G01"
    with gw.sessions.begin() as session:
        issued = accounts.add_client(
            session,
            f"test {role}",
            role,
            Grants(frozenset(regimes), frozenset(indicators)),
            now=gw.clock.now(),
            actor="test",
            unit=unit,
        )
    return issued.client_id, issued.secret


def user(gw: Gateway, username: str, role: str) -> str:
    with gw.sessions.begin() as session:
        accounts.add_user(session, username, username.title(), role, PASSWORD, now=gw.clock.now(), actor="test")
    return username


def token(app: FastAPI, kind: str, name: str, role: str) -> str:
    """A token as POST /v1/token would issue it (the account must exist: it is looked up per request)."""
    issued, _ = app.state.security.tokens.issue(Principal(kind, name, role))
    return str(issued)


def client_token(gw: Gateway, app: FastAPI, role: str, *, unit: str | None = None, **grants: tuple[str, ...]) -> str:
    client_id, _ = client(gw, role, unit=unit, **grants)
    return token(app, "client", client_id, role)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}
