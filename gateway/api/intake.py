"""``POST /v1/intake/packets``: any of the 13 packet types from a receiver client (the national
system, a ministry), answered with our signed ``TRANG_THAI_BAO_CAO``. The work is in
``gateway.inbound.InboundService``; this module only moves bytes and maps the outcome to HTTP."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.api.schemas import problem_responses
from gateway.api.security import Security
from gateway.auth.principals import Permission, Principal
from gateway.errors import InputError
from gateway.inbound import INTAKE_LIMITS, InboundService
from gateway.packets.safe import check_size

PACKET_BODY = {
    "application/json": {"schema": {"type": "object"}},
    "application/xml": {"schema": {"type": "string"}},
}


def build_router(security: Security) -> APIRouter:
    gw = security.gateway
    router = APIRouter(prefix="/v1/intake", tags=["intake"])
    service = InboundService(gw)

    @router.post(
        "/packets",
        operation_id="intake_packet",
        responses={
            200: {"content": PACKET_BODY, "description": "our TRANG_THAI_BAO_CAO: DA_TIEP_NHAN or TU_CHOI"},
            **problem_responses(400, 401, 403, 409, 413, 414, 422, 429),
        },
        openapi_extra={"requestBody": {"required": True, "content": PACKET_BODY}},
    )
    async def intake_packet(
        request: Request, principal: Annotated[Principal, Depends(security.requires(Permission.INTAKE))]
    ) -> Response:
        """Receive a signed packet of any type. The answer is a status packet in the same format:
        ``DA_TIEP_NHAN`` when it was taken in (stored, audited, routed), ``TU_CHOI`` with located reasons
        when not. The same ``MaGoiTin`` with the same bytes gets the same answer; with other bytes, 409."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit():
            check_size(int(declared), "request body", INTAKE_LIMITS)
        data = await request.body()
        if not data.strip():
            raise InputError("the request body is empty: send one packet (JSON or XML)", location="request body")
        if principal.role == "receiver" and not principal.unit:
            raise InputError(
                f"{principal.actor} is a receiver client bound to no unit; add one with `gateway clients add --unit`",
                location="request",
            )
        answer = await run_in_threadpool(
            service.receive, data, channel=f"api:{principal.actor}", client=principal.actor, client_unit=principal.unit
        )
        headers = {"X-Trang-Thai": answer.status.value, "X-Duplicate": "true" if answer.duplicate else "false"}
        return Response(answer.payload, media_type=answer.content_type, headers=headers)

    return router
