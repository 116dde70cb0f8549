"""``POST /v1/token``: OAuth2 client credentials for machines, password grant for operators.

Machine clients authenticate with HTTP Basic (``client_id:client_secret``, as WSO2 API Manager and
provincial LGSPs do) or with ``client_id``/``client_secret`` form fields. A failed attempt is audited
(a security event worth a trail) and answered ``401`` after the same argon2 work as a success; failed
attempts are throttled per account and per address (``Security.login``), answered ``429`` with
``Retry-After`` before any hashing.
"""

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Form, Request

from gateway.api.schemas import Token, problem_responses
from gateway.api.security import Security
from gateway.errors import InputError, RateLimited


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, secret = decoded.partition(":")
    return (user, secret) if sep else None


def build_router(security: Security) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["auth"])

    @router.post(
        "/token",
        response_model=Token,
        operation_id="issue_token",
        responses=problem_responses(400, 401, 413, 414, 422, 429),
        openapi_extra={"security": []},
    )
    def issue_token(
        request: Request,
        grant_type: Annotated[str, Form(pattern="^(client_credentials|password)$")],
        client_id: Annotated[str | None, Form(max_length=200)] = None,
        client_secret: Annotated[str | None, Form(max_length=500)] = None,
        username: Annotated[str | None, Form(max_length=200)] = None,
        password: Annotated[str | None, Form(max_length=500)] = None,
    ) -> Token:
        """Exchange credentials for a short-lived bearer token."""
        caller = request.client.host if request.client else "unknown"
        wait = security.limiter.take(f"token:{caller}")
        if wait > 0:
            raise RateLimited(
                "too many token requests from this address", retry_after=security.limiter.retry_after(wait)
            )
        if grant_type == "client_credentials":
            pair = _basic(request.headers.get("authorization")) or (
                (client_id, client_secret) if client_id and client_secret else None
            )
            if pair is None:
                raise InputError("client_credentials needs HTTP Basic or client_id and client_secret")
            principal = security.login("client", pair[0], pair[1], caller, channel="token")
        else:
            if not username or not password:
                raise InputError("password grant needs username and password")
            principal = security.login("user", username, password, caller, channel="token")
        token, ttl = security.tokens.issue(principal)
        return Token(access_token=token, expires_in=ttl)

    return router
