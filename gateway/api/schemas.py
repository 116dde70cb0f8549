"""Response and request models of the API (the OpenAPI contract in ``contracts/openapi.json``)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import InputError

T = TypeVar("T")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "bad input",
        401: "missing, expired or invalid token",
        403: "this principal may not do this (audited)",
        404: "no such record",
        406: "neither JSON nor XML is acceptable to the client",
        409: "the record is not in a state that allows this",
        413: "request body too large",
        414: "query string too long",
        422: "invalid parameters or packet",
        429: "rate limit reached; see Retry-After",
    }
    return {
        code: {"model": Problem, "description": described[code], "content": {"application/problem+json": {}}}
        for code in codes
    }


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InputError("cursor is not one this API issued") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise InputError("cursor is not one this API issued")
    return values


class Token(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class DeliveryBrief(BaseModel):
    destination: str
    state: str
    ack_status: str | None
    updated_at: datetime


class PacketSummary(BaseModel):
    packet_id: str = Field(description="MaGoiTin")
    packet_type: str
    regime: str | None
    form: str | None
    period: str | None
    reporting_unit: str | None
    revision: int
    value_count: int
    content_type: str
    created_at: datetime
    deliveries: list[DeliveryBrief]


class Disaggregation(BaseModel):
    dimension: str
    value: str


class SeriesPoint(BaseModel):
    period: str
    reporting_unit: str
    value: str = Field(description="plain decimal text, never a float")
    unit: str
    disaggregation: list[Disaggregation]
    packet_id: str
    revision: int


class Series(BaseModel):
    indicator: str
    points: list[SeriesPoint]


class DestinationQueue(BaseModel):
    destination: str
    states: dict[str, int]
    oldest_waiting_seconds: float | None
    circuit: str
    paused: bool
    paused_reason: str | None


class Queues(BaseModel):
    destinations: list[DestinationQueue]
    total: dict[str, int]


class Attempt(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    http_status: int | None
    outcome: str
    error: str | None
    retry_after: float | None
    worker: str | None


class DeliveryItem(BaseModel):
    id: int
    packet_id: str
    destination: str
    state: str
    attempts: int
    next_attempt_at: datetime
    deadline: datetime | None
    last_status: int | None
    last_error: str | None
    ack_status: str | None
    ack_reason: str | None
    created_at: datetime
    updated_at: datetime


class DeliveryDetail(DeliveryItem):
    attempt_history: list[Attempt]


class Replayed(BaseModel):
    replayed: list[int]


class Cancelled(BaseModel):
    cancelled: int
    state: str


class QuarantineItem(BaseModel):
    id: int
    source: str
    location: str
    reason: str
    state: str
    created_at: datetime
    raw: dict[str, Any]


class QuarantineReplay(BaseModel):
    mapping: str = Field(description="mapping file name under mappings/indicators, e.g. lao-cai-ktxh.yaml")
    reporting_unit: str | None = Field(default=None, description="default: our sender code")


class QuarantineReplayed(BaseModel):
    replayed: int
    still_open: int


class RunItem(BaseModel):
    regime: str
    period: str
    deadline: date
    push_on: date
    executed_at: datetime
    executed_by: str
    late: bool
    packets: int


class Upcoming(BaseModel):
    regime: str
    period: str
    deadline: date
    push_on: date
    done: bool


class SchedulerView(BaseModel):
    recent_runs: list[RunItem]
    upcoming: list[Upcoming]


class AuditItem(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
