"""Authentication and authorisation at the edge: one dependency per permission.

``Security.requires(Permission.X)`` is the only way a route gets a principal: bearer token (ours, or
the configured identity provider's) -> not ended (logout, or the account changed since it was issued)
-> a principal looked up afresh -> the permission table -> the per-client rate limit. A refused
permission is a 403 problem and an audit event; missing or bad credentials are a 401 (logged and
counted, not audited: anonymous noise must not grow the chain).

``Security.login`` is the one way credentials become a principal (token endpoint and dashboard):
throttled per account and per address before any hashing, hashed with no transaction open, failures
audited in a short transaction of their own.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway import audit
from gateway.auth import accounts
from gateway.auth.principals import Permission, Principal
from gateway.auth.ratelimit import LoginThrottle, RateLimiter
from gateway.auth.tokens import LEEWAY_SECONDS, OidcVerifier, TokenService, load_keys
from gateway.bootstrap import Gateway
from gateway.db.engine import read_only
from gateway.errors import Forbidden, RateLimited, Unauthenticated

log = logging.getLogger(__name__)
bearer = HTTPBearer(auto_error=False, description="an access token from POST /v1/token")
CACHE_SECONDS = 5.0
MAX_CACHED_TOKENS = 10_000
ANONYMOUS = Principal("anonymous", "-", "none")


class Security:
    def __init__(self, gateway: Gateway):
        settings = gateway.settings
        self.gateway = gateway
        key_file = settings.api.token_key_file or settings.data_dir / "secrets" / "api-token.keys"
        self.tokens = TokenService(load_keys(key_file), settings.api.token_ttl_seconds)
        oidc = settings.api.oidc
        self.oidc = (
            OidcVerifier(oidc.issuer, oidc.audience, oidc.jwks_url, oidc.role_claim, oidc.username_claim)
            if oidc
            else None
        )
        self.limiter = RateLimiter(settings.api.rate_limit_per_second, settings.api.rate_limit_burst)
        self.throttle = LoginThrottle()
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._claims: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ who
    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated("a bearer token is required (POST /v1/token)")
        if token not in self._claims and not self.tokens.ours(token):
            if self.oidc is None:
                raise Unauthenticated("invalid token")
            return self.oidc.principal(token)
        claims = self._verified(token)
        subject = str(claims["sub"])
        jti = str(claims.get("jti") or "")
        # Not cached: a logout or a password, role or status change ends sessions at once, in every process.
        # One statement on an autocommit connection (no ORM session, no SQLite write lock).
        with read_only(self.gateway.engine) as conn:
            revoked, not_before = accounts.session_state(conn, jti, subject)
        if revoked:
            raise Unauthenticated("this session has ended (logged out)")
        principal = self._current(subject)
        if principal is None:
            raise Unauthenticated("the account behind this token is revoked or disabled")
        if not_before is not None and int(claims["iat"]) < int(not_before.timestamp()):
            raise Unauthenticated("this session ended when the account changed (password, role or status)")
        return principal

    def _verified(self, token: str) -> dict[str, Any]:
        """The token's claims. A signature that verified once verifies again, so checked claims are
        kept per token (bounded) and only the expiry is checked again on reuse: decoding and
        HMAC-checking a JWT with PyJWT was a tenth of a pull request (issue 19)."""
        cached = self._claims.get(token)
        if cached is not None:
            if time.time() <= float(cached["exp"]) + LEEWAY_SECONDS:
                return cached
            self._claims.pop(token, None)
        claims = self.tokens.verify(token)  # raises Unauthenticated, expired included
        if len(self._claims) >= MAX_CACHED_TOKENS:
            self._claims.clear()
        self._claims[token] = claims
        return claims

    def _current(self, subject: str) -> Principal | None:
        """The account as it is now; cached a few seconds so a busy client costs one lookup per 5 s."""
        now = time.monotonic()
        cached = self._cache.get(subject)
        if cached and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        kind, _, name = subject.partition(":")
        with self.gateway.sessions() as session:
            principal = (
                accounts.active_client(session, name)
                if kind == "client"
                else accounts.active_user(session, name)
                if kind == "user"
                else None
            )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[subject] = (now, principal)
        return principal

    def revoke(self, token: str) -> None:
        """End the session ``token`` belongs to, wherever it is presented (cookie or bearer)."""
        try:
            claims = self.tokens.verify(token)
        except Unauthenticated:
            return  # expired or forged: nothing left to end
        jti = str(claims.get("jti") or "")
        if not jti:
            return
        now = self.gateway.clock.now()
        with self.gateway.sessions.begin() as session:
            accounts.revoke_token(
                session,
                jti,
                str(claims["sub"]),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
                now=now,
            )
            audit.record(session, at=now, actor=str(claims["sub"])[:200], action="session.ended", subject="logout")

    def login(self, kind: str, name: str, secret: str, address: str, *, channel: str) -> Principal:
        """Credentials -> principal, or ``RateLimited`` (throttled, nothing hashed) or ``Unauthenticated``."""
        account = f"{kind}:{name}"[:200]
        throttled = self.throttle.check(account, address)
        if throttled is not None:
            log.warning("login throttled: %s from %s: %s", account, address, throttled.why)
            raise RateLimited(throttled.why, retry_after=self.limiter.retry_after(throttled.wait))
        gw = self.gateway
        principal = (
            accounts.verify_client(gw.sessions, name, secret, now=gw.clock.now())
            if kind == "client"
            else accounts.verify_user(gw.sessions, name, secret)
        )
        if principal is None:
            self.throttle.failed(account, address)
            with gw.sessions.begin() as session:
                audit.record(
                    session,
                    at=gw.clock.now(),
                    actor=account,
                    action="login.failed",
                    subject=channel,
                    detail={"from": address},
                )
            raise Unauthenticated("unknown, revoked or disabled account, or wrong secret")
        self.throttle.succeeded(account)
        return principal

    def forget(self, subject: str) -> None:
        self._cache.pop(subject, None)

    # ------------------------------------------------------------------ may they
    def deny(self, principal: Principal, request: Request, why: str) -> Forbidden:
        """Audit the refusal, then return the error to raise."""
        with self.gateway.sessions.begin() as session:
            audit.record(
                session,
                at=self.gateway.clock.now(),
                actor=principal.actor,
                action="access.denied",
                subject=f"{request.method} {request.url.path}",
                detail={"role": principal.role, "why": why, "query": str(request.url.query)[:500]},
            )
        log.warning("access denied: %s %s %s: %s", principal.actor, request.method, request.url.path, why)
        return Forbidden(why)

    def requires(self, permission: Permission, *, public: bool = False) -> Requirement:
        """The dependency for one permission; ``public`` lets callers without a token through (only
        for ``/metrics`` when ``api.public_metrics`` is set)."""
        return Requirement(self, permission, public)


class Requirement:
    """A route's one permission, as a FastAPI dependency (the authorisation matrix test reads
    ``permission`` from it)."""

    def __init__(self, security: Security, permission: Permission, public: bool) -> None:
        self.security = security
        self.permission = permission
        self.public = public

    def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        security = self.security
        if self.public and credentials is None:
            return ANONYMOUS
        principal = security.authenticate(credentials.credentials if credentials else None)
        if not principal.may(self.permission):
            raise security.deny(principal, request, f"role {principal.role} may not {self.permission.value}")
        wait = security.limiter.take(principal.actor)
        if wait > 0:
            raise RateLimited(
                f"rate limit of {security.limiter.rate:g}/s reached for {principal.actor}",
                retry_after=security.limiter.retry_after(wait),
            )
        request.state.principal = principal
        return principal
