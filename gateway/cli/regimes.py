"""The regime inbox: regimes, forms and outlines received from the Government system, as proposals."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.common import ConfigOpt, app, console, gateway_for
from gateway.cli.output import FormatOpt, Listing

regimes_app = typer.Typer(
    help="Regimes, forms and outlines received, waiting for an admin to accept or decline them.",
    no_args_is_help=True,
)
app.add_typer(regimes_app, name="regimes")


@regimes_app.command("inbox")
def regimes_inbox(
    config: ConfigOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="include accepted and declined proposals")] = False,
    diff: Annotated[int | None, typer.Option(help="print the diff of this proposal")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Proposals with their set-up deadline (3 working days after receipt); overdue ones flagged."""
    from gateway import regimes_inbox as inbox
    from gateway.cli import checks

    table = Listing(
        fmt, "id", "kind", "code", "state", "received", "set_up_by", "overdue", "target", "decided_by", "reason"
    )
    items = inbox.inbox(gateway_for(config), include_decided=all_ or diff is not None)
    if diff is not None:
        chosen = [i for i in items if i.id == diff]
        if not chosen:
            raise checks.CommandInputError(f"no proposal {diff} (gateway regimes inbox --all lists them)")
        console.print(chosen[0].diff or "(no change against the current file)", markup=False, highlight=False)
        return
    for i in items:
        table.add_row(
            i.id,
            i.kind,
            i.code,
            i.state,
            i.received_at,
            i.due_on.isoformat(),
            "OVERDUE" if i.overdue else "",
            i.target,
            i.decided_by or "",
            i.reason or "",
        )
    table.emit()


@regimes_app.command("accept")
def regimes_accept(proposal: int, config: ConfigOpt = None, actor: Annotated[str, typer.Option()] = "cli") -> None:
    """Write the proposed file (checked first; atomically) and record who accepted it."""
    from gateway import regimes_inbox as inbox

    target = inbox.accept(gateway_for(config), proposal, actor=f"admin:{actor}")
    console.print(f"proposal {proposal} accepted: {target} written", markup=False)


@regimes_app.command("decline")
def regimes_decline(
    proposal: int,
    reason: Annotated[str, typer.Option(help="why (kept and audited)")],
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Decline a proposal with a reason; nothing is written."""
    from gateway import regimes_inbox as inbox

    inbox.decline(gateway_for(config), proposal, actor=f"admin:{actor}", reason=reason)
    console.print(f"proposal {proposal} declined", markup=False)
