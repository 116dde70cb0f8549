"""The exchange's decisions over the API: reports awaiting approval (``/v1/approvals``) and the regime
inbox (``/v1/regimes/inbox``).

The work is in the use cases (``gateway.reports.approval``, ``gateway.regimes_inbox``), which also
enforce who may decide: an approval needs an active account with the ``approver`` role that neither
prepared the report nor read its data in, whatever the channel (CLI, API, dashboard). This module
checks the route's permission, moves the decision in and the answer out; errors become problem+json
in ``gateway.api.problems`` (403 for a refused approver, 404, 409 for a decided or replaced report).
"""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from gateway.api.schemas import MAX_ID, Timestamp, problem_responses
from gateway.api.security import Security
from gateway.auth.principals import Permission, Principal
from gateway.errors import Forbidden

ApprovalId = Annotated[int, Path(ge=1, le=MAX_ID, description="the approval's id (gateway reports approvals)")]
ProposalId = Annotated[int, Path(ge=1, le=MAX_ID, description="the proposal's id (gateway regimes inbox)")]
UUID_TEXT = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class ApprovalItem(BaseModel):
    id: int
    packet_id: str = Field(description="MaGoiTin of the draft; changes when the draft is prepared again")
    regime: str
    form: str
    period: str
    unit: str
    values: int
    state: str = Field(description="awaiting_approval, approved or rejected")
    prepared_by: str
    prepared_at: Timestamp
    deadline: Timestamp
    due_soon: bool = Field(description="still waiting within the regime's approval.warn_hours of the deadline")
    decided_by: str | None
    decided_at: Timestamp | None
    reason: str | None


class FigureItem(BaseModel):
    indicator: str
    column: str | None
    disaggregation: str
    unit: str | None
    reported: str | None = Field(description="the value in the held report")
    source: str | None = Field(description="what the source says now (the latest reading)")
    source_ref: str | None = Field(description="where in the source: file, sheet, row")
    classification: str = Field(description="match, changed, not_in_report or not_in_source")


class ApprovalDetail(ApprovalItem):
    reconciliation: dict[str, int]
    figures: list[FigureItem]


class ApproveRequest(BaseModel):
    packet_id: str | None = Field(
        default=None,
        pattern=UUID_TEXT,
        description="the MaGoiTin you looked at: refused (409) if the draft was prepared again since",
    )


class RejectRequest(ApproveRequest):
    reason: str = Field(min_length=3, max_length=2000, description="sent back to the source system")


class Approved(BaseModel):
    approval: int
    packet_id: str = Field(description="MaGoiTin of the sealed, queued report")


class Rejected(BaseModel):
    approval: int
    returned: str | None = Field(description="MaGoiTin of the TRA_LAI sent to the source; null if none configured")


class ProposalItem(BaseModel):
    id: int
    kind: str = Field(description="regime, form or outline")
    code: str
    state: str = Field(description="open, accepted or declined")
    received_at: Timestamp
    due_on: date = Field(description="set-up deadline: 3 working days after receipt")
    overdue: bool
    target: str = Field(description="the file accepting it writes")
    diff: str = Field(description="unified diff against the file in effect today")
    decided_by: str | None
    reason: str | None


class Accepted(BaseModel):
    proposal: int
    written: str


class DeclineRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=2000)


class Declined(BaseModel):
    proposal: int


def _approver(principal: Principal) -> str:
    """The account deciding: approvals are made by people (an operator account), never a machine client."""
    if principal.kind != "user":
        raise Forbidden(f"{principal.actor} is not a person's account; approvals are made by approver accounts")
    return principal.name


def build_router(security: Security) -> APIRouter:
    from gateway import regimes_inbox
    from gateway.reports import approval

    gw = security.gateway
    router = APIRouter(prefix="/v1", tags=["exchange"], responses=problem_responses(400, 401, 403, 413, 414, 422, 429))
    reader = Annotated[Principal, Depends(security.requires(Permission.APPROVALS))]
    approver = Annotated[Principal, Depends(security.requires(Permission.APPROVE))]
    inbox_reader = Annotated[Principal, Depends(security.requires(Permission.OPS_READ))]
    admin = Annotated[Principal, Depends(security.requires(Permission.REGIMES))]

    def item(w: approval.Waiting) -> ApprovalItem:
        return ApprovalItem.model_validate(w, from_attributes=True)

    @router.get("/approvals", response_model=list[ApprovalItem], operation_id="list_approvals")
    def approvals(
        principal: reader,
        all: Annotated[bool, Query(description="include approved and rejected reports")] = False,
    ) -> list[ApprovalItem]:
        """Reports of regimes with ``approval.required``, earliest deadline first; ``due_soon`` flags
        those within ``warn_hours`` of their deadline."""
        return [item(w) for w in approval.listing(gw, include_decided=all)]

    @router.get(
        "/approvals/{approval_id}",
        response_model=ApprovalDetail,
        operation_id="get_approval",
        responses=problem_responses(404),
    )
    def approval_detail(approval_id: ApprovalId, principal: reader) -> ApprovalDetail:
        """One held report with every figure beside the source's current value for it."""
        found = approval.detail(gw, approval_id)
        return ApprovalDetail(
            **item(found.waiting).model_dump(),
            reconciliation=found.summary,
            figures=[FigureItem.model_validate(x, from_attributes=True) for x in found.lines],
        )

    @router.post(
        "/approvals/{approval_id}/approve",
        response_model=Approved,
        operation_id="approve_report",
        responses=problem_responses(404, 409),
    )
    def approve(approval_id: ApprovalId, request: ApproveRequest, principal: approver) -> Approved:
        """Approve: the report is signed per destination and queued now (audited with both names)."""
        packet_id = approval.approve(gw, approval_id, approver=_approver(principal), expected_packet=request.packet_id)
        return Approved(approval=approval_id, packet_id=packet_id)

    @router.post(
        "/approvals/{approval_id}/reject",
        response_model=Rejected,
        operation_id="reject_report",
        responses=problem_responses(404, 409),
    )
    def reject(approval_id: ApprovalId, request: RejectRequest, principal: approver) -> Rejected:
        """Reject with a reason: the report goes back to the source system as a returned report."""
        returned = approval.reject(
            gw, approval_id, approver=_approver(principal), reason=request.reason, expected_packet=request.packet_id
        )
        return Rejected(approval=approval_id, returned=returned)

    @router.get("/regimes/inbox", response_model=list[ProposalItem], operation_id="regime_inbox")
    def inbox(
        principal: inbox_reader,
        all: Annotated[bool, Query(description="include accepted and declined proposals")] = False,
    ) -> list[ProposalItem]:
        """Regimes, forms and outlines received, as proposals with a diff and a set-up deadline."""
        return [
            ProposalItem.model_validate(p, from_attributes=True) for p in regimes_inbox.inbox(gw, include_decided=all)
        ]

    @router.post(
        "/regimes/inbox/{proposal_id}/accept",
        response_model=Accepted,
        operation_id="accept_proposal",
        responses=problem_responses(404, 409),
    )
    def accept(proposal_id: ProposalId, principal: admin) -> Accepted:
        """Write the proposed file (checked first, atomically); audited with the admin's account."""
        written = regimes_inbox.accept(gw, proposal_id, actor=principal.actor)
        return Accepted(proposal=proposal_id, written=str(written))

    @router.post(
        "/regimes/inbox/{proposal_id}/decline",
        response_model=Declined,
        operation_id="decline_proposal",
        responses=problem_responses(404, 409),
    )
    def decline(proposal_id: ProposalId, request: DeclineRequest, principal: admin) -> Declined:
        """Decline with a reason; nothing is written; audited."""
        regimes_inbox.decline(gw, proposal_id, actor=principal.actor, reason=request.reason)
        return Declined(proposal=proposal_id)

    return router
