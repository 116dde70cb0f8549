"""The hash-chained audit log."""

from __future__ import annotations

import typer

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    gateway_for,
)

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(config: ConfigOpt = None) -> None:
    """Check the audit hash chain; exit 1 naming every altered, removed or reordered event."""
    from gateway import audit

    gw = gateway_for(config)
    with gw.sessions() as session:
        breaks = audit.verify(session)
    if breaks:
        for b in breaks:
            console.print(f"[red]audit event {b.event_id}[/]: {b.problem}")
        raise typer.Exit(1)
    console.print("[green]audit chain intact[/]")
