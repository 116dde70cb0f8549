"""Deliveries and destinations: inspect, replay, resume, fallback bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    gateway_for,
)
from gateway.cli.output import FormatOpt, LimitOpt, Listing, shown

deliveries_app = typer.Typer(help="Inspect deliveries.", no_args_is_help=True)
app.add_typer(deliveries_app, name="deliveries")
destinations_app = typer.Typer(help="Destinations: state, pause and resume.", no_args_is_help=True)
app.add_typer(destinations_app, name="destinations")


@deliveries_app.command("list")
def deliveries_list(
    config: ConfigOpt = None,
    state: Annotated[str | None, typer.Option()] = None,
    destination: Annotated[str | None, typer.Option()] = None,
    limit: LimitOpt = 50,
    fmt: FormatOpt = "table",
) -> None:
    """List deliveries, newest first."""
    from sqlalchemy import select

    from gateway.cli import checks
    from gateway.db.models import Delivery

    if state:
        checks.delivery_state(state)
    # receiver_reason: why a receiver returned or rejected the packet (its status packet), which is
    # not an error of ours and so was only in `deliveries show`.
    table = Listing(
        fmt, "id", "packet", "destination", "state", "attempts", "last_status", "last_error", "receiver_reason"
    )
    gw = gateway_for(config)
    if destination:
        checks.destination(gw.settings, destination, gw)
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if state:
        query = query.where(Delivery.state == state)
    if destination:
        query = query.where(Delivery.destination == destination)
    with gw.sessions() as session:
        for d in session.execute(query).scalars():
            table.add_row(
                d.id, d.packet_id, d.destination, d.state, d.attempts, d.last_status, d.last_error, d.ack_reason
            )
    table.emit()


@deliveries_app.command("show")
def deliveries_show(delivery_id: int, config: ConfigOpt = None) -> None:
    """One delivery with its attempt history."""
    from gateway.db.models import Delivery
    from gateway.errors import NotFound

    gw = gateway_for(config)
    with gw.sessions() as session:
        d = session.get(Delivery, delivery_id)
        if d is None:
            raise NotFound(f"delivery {delivery_id} does not exist")
        console.print(
            f"delivery {d.id}: packet {d.packet_id} -> {d.destination}: [bold]{d.state}[/] "
            f"(key {d.idempotency_key}, ack {d.ack_status or '-'})"
        )
        if d.ack_reason:
            console.print(f"  receiver's reason: {d.ack_reason}", markup=False)
        # "#": the attempt's place in the whole history; "try": its number within its retry budget,
        # which a replay starts again (two attempts both numbered 1 read as one attempt shown twice).
        table = Table("#", "try", "started", "ms", "HTTP", "outcome", "error")
        for place, a in enumerate(sorted(d.attempt_log, key=lambda a: (a.started_at, a.id)), start=1):
            table.add_row(
                str(place),
                str(a.number),
                str(shown(a.started_at)),
                str(a.duration_ms),
                str(a.http_status or ""),
                a.outcome,
                a.error or "",
            )
        for column in table.columns:
            column.overflow = "fold"  # the whole error, wrapped: it is what the operator came to read
        console.print(table)


@app.command()
def replay(
    ids: Annotated[list[int] | None, typer.Argument()] = None,
    config: ConfigOpt = None,
    all_dead: Annotated[bool, typer.Option("--all-dead")] = False,
    destination: Annotated[str | None, typer.Option()] = None,
    actor: Annotated[str, typer.Option(help="who asks (recorded in the audit log)")] = "cli",
) -> None:
    """Send dead, returned or rejected deliveries again (same idempotency key); audited."""
    from sqlalchemy import select

    from gateway.cli import checks
    from gateway.db.models import Delivery, DeliveryState

    if not ids and not all_dead:
        raise checks.CommandInputError("name the deliveries to replay (IDs) or give --all-dead")
    gw = gateway_for(config)
    if destination:
        checks.destination(gw.settings, destination, gw)
    targets = list(ids or [])
    if all_dead:
        with gw.sessions() as session:
            query = select(Delivery.id).where(Delivery.state == DeliveryState.DEAD.value)
            if destination:
                query = query.where(Delivery.destination == destination)
            targets.extend(session.execute(query).scalars())
    done = gw.delivery_service(f"cli:{actor}").replay(targets, actor=f"operator:{actor}")
    gw.publish(done)
    console.print(f"replayed {len(done)} deliver{'y' if len(done) == 1 else 'ies'}: {done}")


@destinations_app.command("list")
def destinations_list(config: ConfigOpt = None, fmt: FormatOpt = "table") -> None:
    """Configured destinations: paused or not (and why), deliveries by state."""
    from sqlalchemy import func, select

    from gateway.db.models import Delivery, DestinationState

    table = Listing(fmt, "destination", "url", "sending", "reason", "deliveries_by_state")
    gw = gateway_for(config)
    with gw.sessions() as session:
        states = {row.name: row for row in session.scalars(select(DestinationState))}
        counts: dict[str, dict[str, int]] = {}
        for dest, state, n in session.execute(
            select(Delivery.destination, Delivery.state, func.count()).group_by(Delivery.destination, Delivery.state)
        ):
            counts.setdefault(dest, {})[state] = n
    for name in sorted(set(gw.settings.destinations) | set(states) | set(counts)):
        row = states.get(name)
        url = gw.settings.destinations[name].url if name in gw.settings.destinations else "(not configured)"
        paused = row is not None and row.paused
        table.add_row(
            name,
            url,
            "PAUSED" if paused else "on",
            (row.reason or "") if paused and row else "",
            dict(sorted(counts.get(name, {}).items())),  # an object in JSON: numbers a program can read
        )
    table.emit()


@destinations_app.command("resume")
def destinations_resume(
    name: str, config: ConfigOpt = None, actor: Annotated[str, typer.Option(help="who resumes (audited)")] = "cli"
) -> None:
    """Resume sending to a destination paused for refused credentials (after fixing them)."""
    from gateway.cli import checks

    gw = gateway_for(config)
    checks.destination(gw.settings, name, gw)
    gw.delivery_service(f"cli:{actor}").resume(name, actor=f"operator:{actor}")
    console.print(f"destination {name} resumed")


@app.command("export-bundle")
def export_bundle_cmd(
    period: Annotated[str, typer.Option(help="e.g. 2026-THANG-10")],
    regime: Annotated[str | None, typer.Option()] = None,
    out: Annotated[Path, typer.Option("-o", "--output", help="folder for the zip")] = Path("."),
    destination: Annotated[str, typer.Option()] = "national",
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Write the packets still owed to a destination as a zip with a hashed manifest, for the
    document-management channel; they stay queued and are reconciled when the link returns."""
    from gateway.cli import checks
    from gateway.fallback import export_bundle, verify_bundle

    period = checks.period_key(period)
    if regime:
        checks.regime(regime)
    checks.output_path(out, "folder")
    gw = gateway_for(config)
    checks.destination(gw.settings, destination)  # a bundle is for a receiver we are configured to send to
    bundle = export_bundle(gw, period, out, regime=regime, destination=destination, actor=f"operator:{actor}")
    problems = verify_bundle(bundle.path)
    console.print(
        f"{bundle.path}: {bundle.packets} packet(s); manifest SHA-256 {bundle.manifest_sha256}"
        + ("" if not problems else f"; PROBLEMS: {problems}")
    )
    raise typer.Exit(1 if problems else 0)
