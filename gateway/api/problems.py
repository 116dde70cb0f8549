"""RFC 9457 problem+json: the one place domain errors become HTTP answers."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import (
    Conflict,
    Forbidden,
    GatewayError,
    InputError,
    NotAcceptable,
    NotFound,
    PacketInvalid,
    RateLimited,
    SignatureInvalid,
    SigningUnavailable,
    TimestampUnavailable,
    Unauthenticated,
    UnsafeInputError,
)
from gateway.storage import describe, is_no_space

PROBLEM = "application/problem+json"
log = logging.getLogger(__name__)


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status_code=status,
        media_type=PROBLEM,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        if isinstance(exc, PacketInvalid):
            return problem(
                422,
                "Invalid packet",
                str(exc),
                errors=[{"location": v.location, "message": v.message} for v in exc.violations],
            )
        if isinstance(exc, Unauthenticated):
            return problem(401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})
        if isinstance(exc, Forbidden):
            return problem(403, "Forbidden", str(exc))
        if isinstance(exc, RateLimited):
            return problem(429, "Too Many Requests", str(exc), headers={"Retry-After": exc.retry_after})
        if isinstance(exc, SignatureInvalid):
            return problem(422, "Signature not accepted", str(exc), code=exc.code)
        if isinstance(exc, UnsafeInputError):
            return problem(413 if "bytes" in exc.reason else 400, "Unsafe input", str(exc))
        if isinstance(exc, InputError):
            return problem(400, "Bad input", str(exc))
        if isinstance(exc, NotFound):
            return problem(404, "Not found", str(exc))
        if isinstance(exc, Conflict):
            return problem(409, "Conflict", str(exc))
        if isinstance(exc, NotAcceptable):
            return problem(406, "Not Acceptable", str(exc))
        if isinstance(exc, SigningUnavailable):
            log.error("sealing stopped: %s", exc)
            return problem(503, "Service Unavailable", str(exc), code="signing_unavailable")
        if isinstance(exc, TimestampUnavailable):
            log.error("sealing stopped: %s", exc)
            headers = {"Retry-After": "60"}
            return problem(503, "Service Unavailable", str(exc), headers=headers, code="timestamp_unavailable")
        return problem(500, "Gateway error", type(exc).__name__)

    @app.exception_handler(OSError)
    @app.exception_handler(SQLAlchemyError)
    async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
        if is_no_space(exc):
            log.error("no space left: %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0])
            detail = describe(request.app.state.gateway.settings.data_dir)
            return problem(507, "Insufficient Storage", detail, headers={"Retry-After": "30"}, code="no_space")
        log.exception("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return problem(500, "Gateway error", type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        wrong_media = _wrong_media(request, exc)
        if wrong_media is not None:
            return problem(415, "Unsupported Media Type", wrong_media)
        errors = [
            {"location": "/".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        head = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        return problem(422, "Invalid request", head or "the request does not match the API", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, HTTPStatus(exc.status_code).phrase, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "Internal error", "an unexpected error was logged; no details are exposed")


_FAMILIES = {
    "application/json": ("application/json",),
    "application/x-www-form-urlencoded": ("application/x-www-form-urlencoded", "multipart/form-data"),
    "multipart/form-data": ("multipart/form-data",),
}


def _wrong_media(request: Request, exc: RequestValidationError) -> str | None:
    """Why the body was not read, when it was sent as a media type the route does not take: a JSON
    body posted as text/plain (or a form posted as JSON to the token endpoint) used to get a 422
    listing fields as missing, which sent clients looking for the wrong mistake (found from outside).
    None when the body was in the right media type, or when no error is about the body."""
    if not any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors()):
        return None
    sent_body = request.headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in request.headers
    if not sent_body:
        return None  # no body at all: the 422 saying it is required is the right answer
    field = getattr(request.scope.get("route"), "body_field", None)
    expected = getattr(getattr(field, "field_info", None), "media_type", None)
    if not isinstance(expected, str):
        return None
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    takes = _FAMILIES.get(expected, (expected,))
    if sent in takes or (expected == "application/json" and sent.endswith("+json")):
        return None
    return f"this endpoint takes {expected}, not {sent or 'a body without Content-Type'}"
