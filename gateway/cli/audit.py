"""The hash-chained audit log."""

from __future__ import annotations

import typer

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    err,
    gateway_for,
    settings_for,
)

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(config: ConfigOpt = None) -> None:
    """Check the audit log: the hash chain, every event's seal, and the signed checkpoints outside the
    database; exit 1 naming every altered, removed, forged or missing event."""
    from gateway.audit import checkpoints
    from gateway.cli import checks

    settings = settings_for(config)
    checks.existing_database(settings)
    key = settings.audit_key_file
    if not key.is_file():  # a check never makes the key it checks with (bootstrap would create one)
        raise checks.CommandInputError(
            f"no audit key at {key}: the events cannot be checked without the key that sealed them "
            "(`gateway backup restore` puts a backup's key back; `audit.key_file` names another place)"
        )
    gw = gateway_for(config)
    found = gw.verify_audit()
    if found:
        for problem in found:
            console.print(f"[red]{problem}[/]", markup=True, highlight=False)
        err.print(
            f"{len(found)} problem(s): do not anchor this chain with `gateway audit checkpoint`; "
            "until the cause is known (docs/security.md, Audit)",
            markup=False,
        )
        raise typer.Exit(1)
    warning = checkpoints.anchored(gw.checkpoint_file)
    if warning:
        err.print(f"warning: {warning}", markup=False)
    console.print("[green]audit chain intact, sealed and consistent with its checkpoints[/]")


@audit_app.command("checkpoint")
def audit_checkpoint(config: ConfigOpt = None) -> None:
    """Anchor the chain now: append a signed checkpoint (count, last id and hash, time) to the file
    outside the database (workers do it every ``audit.checkpoint_interval`` seconds)."""
    gw = gateway_for(config)
    point = gw.checkpoint_audit()
    console.print(f"checkpoint: {point.count} events up to {point.last_id} at {point.at} ({point.alg})")
