"""Response and request models of the API (the OpenAPI contract in ``contracts/openapi.json``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from gateway.reconciliation.report import Line

T = TypeVar("T")

MAX_ID = 2**31 - 1
"""The largest row id: ids are INTEGER columns, PostgreSQL's int4, and SQLAlchemy binds them as such, so
a larger number in a query is a database error there (found by probing the dashboard's paths)."""

DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID, description="a delivery's id")]


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored in UTC); the API always states the offset."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(_aware)]


def _iso_date_only(value: Any) -> Any:
    if isinstance(value, str) and not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


def _date_in_range(value: date) -> date:
    """A day the routes can step a day past and before (``until`` covers its whole day): 9999-12-31
    was a 500 (an ``OverflowError``), found by probing the API from outside."""
    if not date(1, 1, 2) <= value <= date(9999, 12, 30):
        raise ValueError("date out of range: between 0001-01-02 and 9999-12-30")
    return value


QueryDate = Annotated[date, BeforeValidator(_iso_date_only), AfterValidator(_date_in_range)]


def _iso_only(value: Any) -> Any:
    """Query timestamps are ISO 8601 (``2026-11-01T00:00:00+07:00``), not pydantic's Unix-number leniency."""
    if isinstance(value, str) and not ISO_DATETIME.match(value):
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-11-01T00:00:00+07:00")
    return value


ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$", re.ASCII)


def _in_utc(value: datetime) -> datetime:
    """The moment in UTC, checked to exist there: 9999-12-31T23:59:59-14:00 is past the last datetime
    Python has and was a 500 (an ``OverflowError`` in the query), found by probing the API."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range once converted to UTC") from None


QueryTimestamp = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_aware), AfterValidator(_in_utc)]


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


# Cursors are keyset positions with an exact format, so any well-formed cursor is a valid request
# ("the items after this point") and a malformed one is a 422 like any other bad parameter.
IdCursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page")]
PacketCursor = Annotated[
    str | None, Query(pattern=r"^[0-9]{1,16}~[0-9A-Za-z-]{1,36}$", description="next_cursor of the previous page")
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def packet_cursor(created_at: datetime, packet_id: str) -> str:
    micros = (_aware(created_at) - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}~{packet_id}"


def read_packet_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    micros, _, packet_id = cursor.partition("~")
    try:
        at = _EPOCH + timedelta(microseconds=int(micros))
    except OverflowError:
        at = datetime.max.replace(tzinfo=UTC)
    return at, packet_id


def read_id_cursor(cursor: str | None) -> int | None:
    """The id a cursor stands for; past ``MAX_ID`` it means "beyond every row" and is held there."""
    return min(int(cursor), MAX_ID) if cursor else None


class Token(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class DeliveryBrief(BaseModel):
    destination: str
    state: str
    ack_status: str | None
    updated_at: Timestamp


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
    created_at: Timestamp
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
    column: str | None = Field(
        default=None, description="the form column (MaCot) when the value has one: TH month, LK cumulative, KH plan ..."
    )
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
    model_config = ConfigDict(from_attributes=True)

    number: int
    started_at: Timestamp
    duration_ms: int
    http_status: int | None
    outcome: str
    error: str | None
    retry_after: float | None
    worker: str | None


class DeliveryItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    packet_id: str
    destination: str
    state: str
    attempts: int
    next_attempt_at: Timestamp
    deadline: Timestamp | None
    last_status: int | None
    last_error: str | None
    ack_status: str | None
    ack_reason: str | None
    created_at: Timestamp
    updated_at: Timestamp


class DeliveryDetail(DeliveryItem):
    attempt_history: list[Attempt]


class Replayed(BaseModel):
    replayed: list[int]


class Cancelled(BaseModel):
    cancelled: int
    state: str


class QuarantineItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    location: str
    reason: str
    state: str
    created_at: Timestamp
    raw: dict[str, Any]


class QuarantineReplay(BaseModel):
    mapping: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.yaml$",
        description="mapping file name under mappings/indicators, e.g. lao-cai-ktxh.yaml",
    )
    reporting_unit: str | None = Field(
        default=None, min_length=1, max_length=100, description="default: our sender code"
    )


class QuarantineReplayed(BaseModel):
    replayed: int
    still_open: int


class RunItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    regime: str
    period: str
    deadline: date
    push_on: date
    executed_at: Timestamp
    executed_by: str
    late: bool
    packets: int


class Upcoming(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    regime: str
    period: str
    deadline: date
    push_on: date
    done: bool


class SchedulerView(BaseModel):
    recent_runs: list[RunItem]
    upcoming: list[Upcoming]


class AuditItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: Timestamp
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]


class ReconciliationView(BaseModel):
    regime: str | None
    period: str | None
    summary: dict[str, int]  # lines per value verdict
    late: int = 0  # lines that reached the receiver after the deadline, whatever their verdict
    lines: list[Line]  # the reconciliation's own dataclass: one definition of a line


_UP_TO = {  # 1..N in one to three digits, leading zeros allowed (2026-THANG-01 is 2026-THANG-1)
    1: "0{0,2}1",
    2: "0{0,2}[12]",
    4: "0{0,2}[1-4]",
    12: "0{0,2}[1-9]|0?1[0-2]",
    53: "0{0,2}[1-9]|0?[1-4][0-9]|0?5[0-3]",
    366: "0{0,2}[1-9]|0?[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6]",
}


def _period_pattern() -> str:
    """Every period key ``period_ref`` accepts, and no other, as one regular expression: so the OpenAPI
    says what a period parameter may be, and a request valid by it is never refused."""
    from adapters.base import PERIOD_NUMBERS

    by_top: dict[int, list[str]] = {}
    for kind, top in PERIOD_NUMBERS.items():
        by_top.setdefault(top, []).append(kind)
    kinds = "|".join(f"(?:{'|'.join(sorted(names))})-(?:{_UP_TO[top]})" for top, names in sorted(by_top.items()))
    return f"^(?:19[0-9]{{2}}|2[0-9]{{3}})-(?:{kinds})$"


PERIOD_KEY = _period_pattern()
"""A period key (``2026-THANG-10``): a year of 1900-2999, a period type, and a number within it."""
_PERIOD_KEY = re.compile(r"^([0-9]{4})-([0-9A-Z_]{2,12})-([0-9]{1,3})$")


def _period_key(value: str) -> str:
    """A period key as the gateway stores it (``2026-THANG-1``), from what a caller may write
    (``2026-THANG-01``, the form api.md's own example uses), checked like a source's period. A padded
    key used to match nothing, and ``2026-THANG-13`` an empty page: found by probing the API."""
    found = _PERIOD_KEY.match(value)
    if found is None:
        raise ValueError("expected a period key like 2026-THANG-10")
    from adapters.base import period_ref  # the rule sources are read by

    checked = period_ref(found[2], int(found[3]), int(found[1]))
    if isinstance(checked, str):
        raise ValueError(checked)
    return checked.key


QueryPeriod = Annotated[str, StringConstraints(pattern=PERIOD_KEY), AfterValidator(_period_key)]
"""A ``period`` (or ``from``/``to``) query parameter: checked and written as stored."""
