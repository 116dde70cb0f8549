"""API clients and operator accounts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    err,
    gateway_for,
)
from gateway.cli.output import FormatOpt, Listing

clients_app = typer.Typer(help="Machine clients of the API (ministries, receivers, scrapers).", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
users_app = typer.Typer(help="Operator accounts of the API and dashboard.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@clients_app.command("add")
def clients_add(
    name: str,
    role: Annotated[str, typer.Option(help="ministry, receiver, metrics, admin, operator or auditor")] = "ministry",
    regime: Annotated[list[str] | None, typer.Option(help="regime code a ministry may pull ('*' for all)")] = None,
    indicator: Annotated[list[str] | None, typer.Option(help="indicator code it may pull ('*' for all)")] = None,
    unit: Annotated[
        str | None, typer.Option(help="receivers: the unit code it speaks for (its status packets' DonViGui)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Add a client; its secret is printed once and stored only as an argon2 hash. A receiver is bound
    to one unit: only status packets from that unit, signed by it, are taken from it."""
    from gateway.auth import accounts
    from gateway.auth.principals import Grants
    from gateway.cli import checks
    from gateway.db.models import CLIENT_ROLES

    checks.one_of(role, CLIENT_ROLES, "role")
    for code in regime or ():
        if code != "*":
            checks.regime(code)
    gw = gateway_for(config, create=True)
    grants = Grants(frozenset(regime or ()), frozenset(indicator or ()))
    with gw.sessions.begin() as session:
        issued = accounts.add_client(session, name, role, grants, now=gw.clock.now(), actor="cli", unit=unit)
    console.print(f"client_id: {issued.client_id}\nclient_secret: {issued.secret}", markup=False)
    err.print("store the secret now: it cannot be shown again", markup=False)


@clients_app.command("list")
def clients_list(config: ConfigOpt = None, fmt: FormatOpt = "table") -> None:
    """Clients with their role, grants and state (never their secrets)."""
    from gateway.auth import accounts

    table = Listing(fmt, "client_id", "name", "role", "grants", "state", "created")
    gw = gateway_for(config)
    with gw.sessions() as session:
        for c in accounts.list_clients(session):
            grants = "; ".join(f"{k}: {','.join(v)}" for k, v in (c.grants or {}).items() if v)
            if c.unit_code:
                grants = f"unit: {c.unit_code}" + (f"; {grants}" if grants else "")
            state = "revoked" if c.revoked_at else ("rotating" if c.previous_secret_hash else "active")
            table.add_row(c.client_id, c.name, c.role, grants, state, c.created_at)
    table.emit()


@clients_app.command("rotate")
def clients_rotate(
    client_id: str,
    grace_hours: Annotated[float, typer.Option(min=0, help="how long the old secret keeps working")] = 24.0,
    config: ConfigOpt = None,
) -> None:
    """Issue a new secret; the old one keeps working for the grace period (rotation without downtime)."""
    from gateway.auth import accounts

    gw = gateway_for(config)
    with gw.sessions.begin() as session:
        issued = accounts.rotate_client(
            session, client_id, grace=timedelta(hours=grace_hours), now=gw.clock.now(), actor="cli"
        )
    console.print(f"client_id: {issued.client_id}\nclient_secret: {issued.secret}", markup=False)


@clients_app.command("revoke")
def clients_revoke(client_id: str, config: ConfigOpt = None) -> None:
    """Revoke a client: its tokens stop working at once."""
    from gateway.auth import accounts

    gw = gateway_for(config)
    with gw.sessions.begin() as session:
        accounts.revoke_client(session, client_id, now=gw.clock.now(), actor="cli")
    console.print(f"revoked {client_id}")


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, operator or auditor")] = "operator",
    full_name: Annotated[str, typer.Option(help="shown in the dashboard and the audit log")] = "",
    password_file: Annotated[
        Path | None, typer.Option(help="first line is the password (else $GATEWAY_NEW_PASSWORD, else a prompt)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Add an operator account (argon2-hashed password; never taken from the command line)."""
    from gateway.auth import accounts
    from gateway.cli import checks
    from gateway.db.models import USER_ROLES

    checks.one_of(role, USER_ROLES, "role")
    gw = gateway_for(config, create=True)
    with gw.sessions() as session:
        if any(u.username == username for u in accounts.list_users(session)):
            raise checks.CommandInputError(f"account {username!r} already exists (gateway users passwd to change it)")
    password = checks.new_password(password_file)
    with gw.sessions.begin() as session:
        accounts.add_user(session, username, full_name or username, role, password, now=gw.clock.now(), actor="cli")
    console.print(f"added {role} {username}")


@users_app.command("list")
def users_list(config: ConfigOpt = None, fmt: FormatOpt = "table") -> None:
    """Operator accounts with their role and state."""
    from gateway.auth import accounts

    table = Listing(fmt, "username", "name", "role", "state", "created")
    gw = gateway_for(config)
    with gw.sessions() as session:
        for u in accounts.list_users(session):
            state = "disabled" if u.disabled_at else "active"
            table.add_row(u.username, u.full_name, u.role, state, u.created_at)
    table.emit()


@users_app.command("disable")
def users_disable(username: str, config: ConfigOpt = None) -> None:
    """Disable an account: its tokens stop working at once."""
    from gateway.auth import accounts

    gw = gateway_for(config)
    with gw.sessions.begin() as session:
        accounts.disable_user(session, username, now=gw.clock.now(), actor="cli")
    console.print(f"disabled {username}")


@users_app.command("passwd")
def users_passwd(
    username: str,
    password_file: Annotated[
        Path | None, typer.Option(help="first line is the password (else $GATEWAY_NEW_PASSWORD, else a prompt)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Set a new password; every session of the account ends at once."""
    from gateway.auth import accounts
    from gateway.cli import checks

    gw = gateway_for(config)
    checks.account(gw, username)
    password = checks.new_password(password_file)
    with gw.sessions.begin() as session:
        accounts.set_password(session, username, password, now=gw.clock.now(), actor="cli")
    console.print(f"password of {username} changed; its sessions are ended")


@users_app.command("set-role")
def users_set_role(
    username: str,
    role: Annotated[str, typer.Option(help="admin, operator or auditor")],
    config: ConfigOpt = None,
) -> None:
    """Change an account's role; every session of the account ends at once."""
    from gateway.auth import accounts
    from gateway.cli import checks
    from gateway.db.models import USER_ROLES

    checks.one_of(role, USER_ROLES, "role")
    gw = gateway_for(config)
    with gw.sessions.begin() as session:
        accounts.set_role(session, username, role, now=gw.clock.now(), actor="cli")
    console.print(f"{username} is now {role}; its sessions are ended")
