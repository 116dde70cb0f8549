"""The exchange's dashboard pages: packets received (``/ui/exchange``), reports awaiting approval with
their figures reconciled against the source and the approve / reject actions (``/ui/approvals``),
and the regime inbox with accept / decline (``/ui/regimes``).

Who sees and does what follows the API's permission table: the approval pages need
``approvals:read`` (approvers, operators, admins, auditors), deciding needs ``approve`` (the
``approver`` role), the inbox needs ``ops:read`` and deciding on it ``regimes:decide`` (admins). The
rule that the approver is neither the preparer nor whoever read the data in lives in the use case
(``gateway.reports.approval``); a refusal comes back here as a message on the page. Every form carries
the session's CSRF token; every decision is audited with the account, as through the API or the CLI.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from gateway.api.schemas import MAX_ID
from gateway.auth.principals import Permission, Principal
from gateway.bootstrap import Gateway
from gateway.errors import Conflict, Forbidden, InputError, NotFound

Session = tuple[Principal, str]
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
UUID_TEXT = r"^[0-9a-fA-F-]{36}$"
CLASS_CSS = {"match": "ok", "changed": "warn", "not_in_report": "warn", "not_in_source": "failed"}


@dataclass(frozen=True)
class Pages:
    """What ``gateway.dashboard.views`` lends the exchange pages: rendering, sessions, CSRF."""

    gateway: Gateway
    render: Callable[..., HTMLResponse]
    signed_in: Callable[[Permission], Callable[[Request], Session]]
    check_csrf: Callable[[str, str], None]


def add_routes(router: APIRouter, pages: Pages) -> None:
    from gateway import regimes_inbox
    from gateway.reports import approval

    gw = pages.gateway
    render = pages.render
    Reader = Annotated[Session, Depends(pages.signed_in(Permission.OPS_READ))]
    ApprovalsReader = Annotated[Session, Depends(pages.signed_in(Permission.APPROVALS))]
    Approver = Annotated[Session, Depends(pages.signed_in(Permission.APPROVE))]
    Admin = Annotated[Session, Depends(pages.signed_in(Permission.REGIMES))]

    @router.get("/exchange", response_class=HTMLResponse)
    def exchange_page(request: Request, found: Reader) -> Response:
        """Packets sent to us, with the regime inbox and the reports awaiting approval at a glance."""
        from gateway.db.models import InboundPacket

        principal, token = found
        with gw.sessions() as session:
            inbound = list(session.scalars(select(InboundPacket).order_by(InboundPacket.received_at.desc()).limit(50)))
            session.expunge_all()
        return render(
            request,
            "exchange.html",
            principal,
            token,
            inbound=inbound,
            proposals=regimes_inbox.inbox(gw),
            approvals=approval.listing(gw),
        )

    @router.get("/approvals", response_class=HTMLResponse)
    def approvals_page(request: Request, found: ApprovalsReader, all: Annotated[bool, Query()] = False) -> Response:
        principal, token = found
        rows = approval.listing(gw, include_decided=all)
        return render(request, "approvals.html", principal, token, approvals=rows, show_all=all)

    @router.get("/approvals/{approval_id}", response_class=HTMLResponse)
    def approval_page(
        request: Request,
        found: ApprovalsReader,
        approval_id: RowId,
        cls: Annotated[str | None, Query(max_length=40)] = None,
    ) -> Response:
        principal, token = found
        shown = approval.detail(gw, approval_id)
        lines = [line for line in shown.lines if not cls or line.classification == cls]
        return render(
            request,
            "approval.html",
            principal,
            token,
            a=shown.waiting,
            summary=shown.summary,
            classes=approval.RECONCILED,
            lines=lines,
            cls=cls or "",
            css=CLASS_CSS,
            can_decide=principal.may(Permission.APPROVE) and shown.waiting.state == "awaiting_approval",
        )

    def decided(approval_id: int, run: Callable[[], Any], ok: str) -> Response:
        """Run a decision; a refusal or a conflict is a message on the report's page, never an error page."""
        try:
            run()
        except Forbidden:
            return RedirectResponse(f"/ui/approvals/{approval_id}?msg=approval_refused", status_code=303)
        except Conflict:
            return RedirectResponse(f"/ui/approvals/{approval_id}?msg=approval_conflict", status_code=303)
        return RedirectResponse(f"/ui/approvals/{approval_id}?msg={ok}", status_code=303)

    @router.post("/approvals/{approval_id}/approve")
    def approve(
        found: Approver,
        approval_id: RowId,
        packet_id: Annotated[str, Form(pattern=UUID_TEXT)],
        csrf: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        principal, token = found
        pages.check_csrf(token, csrf)
        return decided(
            approval_id,
            lambda: approval.approve(gw, approval_id, approver=principal.name, expected_packet=packet_id),
            "approval_approved",
        )

    @router.post("/approvals/{approval_id}/reject")
    def reject(
        found: Approver,
        approval_id: RowId,
        packet_id: Annotated[str, Form(pattern=UUID_TEXT)],
        reason: Annotated[str, Form(min_length=3, max_length=2000)],
        csrf: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        principal, token = found
        pages.check_csrf(token, csrf)
        return decided(
            approval_id,
            lambda: approval.reject(gw, approval_id, approver=principal.name, reason=reason, expected_packet=packet_id),
            "approval_rejected",
        )

    @router.get("/regimes", response_class=HTMLResponse)
    def regimes_page(request: Request, found: Reader, all: Annotated[bool, Query()] = False) -> Response:
        principal, token = found
        return render(
            request,
            "regimes.html",
            principal,
            token,
            proposals=regimes_inbox.inbox(gw, include_decided=all),
            show_all=all,
            can_decide=principal.may(Permission.REGIMES),
        )

    def proposal_decided(run: Callable[[], Any], ok: str) -> Response:
        try:
            run()
        except Conflict:
            return RedirectResponse("/ui/regimes?msg=proposal_conflict", status_code=303)
        except (InputError, NotFound):
            return RedirectResponse("/ui/regimes?msg=proposal_invalid", status_code=303)
        return RedirectResponse(f"/ui/regimes?msg={ok}", status_code=303)

    @router.post("/regimes/{proposal_id}/accept")
    def accept(found: Admin, proposal_id: RowId, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
        principal, token = found
        pages.check_csrf(token, csrf)
        return proposal_decided(
            lambda: regimes_inbox.accept(gw, proposal_id, actor=principal.actor), "proposal_accepted"
        )

    @router.post("/regimes/{proposal_id}/decline")
    def decline(
        found: Admin,
        proposal_id: RowId,
        reason: Annotated[str, Form(min_length=3, max_length=2000)],
        csrf: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        principal, token = found
        pages.check_csrf(token, csrf)
        return proposal_decided(
            lambda: regimes_inbox.decline(gw, proposal_id, actor=principal.actor, reason=reason), "proposal_declined"
        )
