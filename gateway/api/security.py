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
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.security import HTTPBearer
from sqlalchemy import DateTime, Engine
from starlette.concurrency import run_in_threadpool

from gateway import audit
from gateway.auth import accounts, usernames
from gateway.auth.principals import Permission, Principal
from gateway.auth.ratelimit import LoginThrottle, RateLimiter
from gateway.auth.tokens import OidcVerifier, TokenService, expired, load_keys
from gateway.bootstrap import Gateway
from gateway.clock import as_utc
from gateway.db.engine import read_only
from gateway.errors import Forbidden, RateLimited, Unauthenticated

log = logging.getLogger(__name__)
BEARER_DESCRIPTION = "an access token from POST /v1/token"
bearer = HTTPBearer(auto_error=False, description=BEARER_DESCRIPTION)
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
        self.sessions = SessionStates(gateway.engine)

    # ------------------------------------------------------------------ who
    def authenticate(self, token: str | None) -> Principal:
        """Token -> principal, on the calling thread (the dashboard's and the docs' sync routes)."""
        claims = self._claims_of(token)
        if claims is None:
            return self._oidc(token)
        subject = str(claims["sub"])
        state = self.sessions.read(str(claims.get("jti") or ""), subject)
        return self._judged(claims, state, self._current(subject))

    async def authenticate_on_loop(self, token: str | None) -> Principal:
        """The same as ``authenticate`` for an ``async`` dependency: what needs no I/O, or only the
        embedded database's point reads, runs on the event loop; the identity provider, a network
        database and an account lookup the cache does not hold go to the thread pool. Each thread-pool
        hop costs a request more than the rest of its authentication (issue 19)."""
        claims = self._claims_of(token)
        if claims is None:
            return await run_in_threadpool(self._oidc, token)
        subject = str(claims["sub"])
        jti = str(claims.get("jti") or "")
        sessions = self.sessions
        state = sessions.read(jti, subject) if sessions.inline else await run_in_threadpool(sessions.read, jti, subject)
        cached = self._cached(subject)
        principal = cached[0] if cached is not None else await run_in_threadpool(self._current, subject)
        return self._judged(claims, state, principal)

    def _claims_of(self, token: str | None) -> dict[str, Any] | None:
        """Our token's verified claims; None for a token of the identity provider."""
        if not token:
            raise Unauthenticated("a bearer token is required (POST /v1/token)")
        if token not in self._claims and not self.tokens.ours(token):
            if self.oidc is None:
                raise Unauthenticated("invalid token")
            return None
        return self._verified(token)

    def _oidc(self, token: str | None) -> Principal:
        assert self.oidc is not None and token
        return self.oidc.principal(token)

    @staticmethod
    def _judged(claims: dict[str, Any], state: tuple[bool, datetime | None], principal: Principal | None) -> Principal:
        """Not cached: a logout or a password, role or status change ends sessions at once, in every
        process (``state`` is read afresh for every request)."""
        revoked, not_before = state
        if revoked:
            raise Unauthenticated("this session has ended (logged out)")
        if principal is None:
            raise Unauthenticated("the account behind this token is revoked or disabled")
        # SQLite gives the stored UTC time back without its zone: read as UTC, never as local time.
        if not_before is not None and int(claims["iat"]) < int(as_utc(not_before).timestamp()):
            raise Unauthenticated("this session ended when the account changed (password, role or status)")
        return principal

    def _verified(self, token: str) -> dict[str, Any]:
        """The token's claims. A signature that verified once verifies again, so checked claims are
        kept per token (bounded) and only the expiry is checked again on reuse: decoding and
        HMAC-checking a JWT with PyJWT was a tenth of a pull request (issue 19)."""
        cached = self._claims.get(token)
        if cached is not None:
            if not expired(cached):
                return cached
            self._claims.pop(token, None)
        claims = self.tokens.verify(token)  # raises Unauthenticated, expired included
        if len(self._claims) >= MAX_CACHED_TOKENS:
            self._claims.clear()
        self._claims[token] = claims
        return claims

    def _cached(self, subject: str) -> tuple[Principal | None] | None:
        """The account from the lookup cache while it is fresh (a 1-tuple: the account may be None)."""
        cached = self._cache.get(subject)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return (cached[1],)
        return None

    def _current(self, subject: str) -> Principal | None:
        """The account as it is now; cached a few seconds so a busy client costs one lookup per 5 s."""
        cached = self._cached(subject)
        if cached is not None:
            return cached[0]
        now = time.monotonic()
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
        # Counted under the name the account is found by (NFC, case-folded for people): "DAVE" and
        # "dave" log in to one account, so five guesses each were five times the allowance (found from
        # outside). A client id is matched exactly, so it is counted exactly.
        account = f"{kind}:{name if kind == 'client' else usernames.normalise(name)}"[:200]
        spread = kind != "client"  # a machine client's secret is generated, not guessable: no account-wide hold
        throttled = self.throttle.check(account, address, spread=spread)
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
            self.throttle.failed(account, address, spread=spread)
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
        self.throttle.succeeded(account, address)
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


class Requirement(HTTPBearer):
    """A route's one permission, as a FastAPI dependency (the authorisation matrix test reads
    ``permission`` from it).

    It is the bearer scheme itself (the same ``HTTPBearer`` scheme in the API description) rather than
    a dependency on ``bearer``: FastAPI solves every dependency level of every request, and the
    extra level was a measurable part of a pull (issue 19)."""

    def __init__(self, security: Security, permission: Permission, public: bool) -> None:
        super().__init__(scheme_name="HTTPBearer", description=BEARER_DESCRIPTION, auto_error=False)
        self.security = security
        self.permission = permission
        self.public = public

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        """Async, so that FastAPI does not run it in the thread pool: a thread hop per request cost
        more than the checks themselves (issue 19); what does I/O hops by itself
        (``Security.authenticate_on_loop``, the audit of a refusal)."""
        credentials = await super().__call__(request)
        security = self.security
        if self.public and credentials is None:
            return ANONYMOUS
        principal = await security.authenticate_on_loop(credentials.credentials if credentials else None)
        if not principal.may(self.permission):
            why = f"role {principal.role} may not {self.permission.value}"
            raise await run_in_threadpool(security.deny, principal, request, why)
        wait = security.limiter.take(principal.actor)
        if wait > 0:
            raise RateLimited(
                f"rate limit of {security.limiter.rate:g}/s reached for {principal.actor}",
                retry_after=security.limiter.retry_after(wait),
            )
        request.state.principal = principal
        return principal


class SessionStates:
    """Whether a token's session has ended (logout) and when the account's sessions were last ended
    (password, role or status change): read for every request, never cached, so either takes effect
    at once in every process.

    On SQLite (the embedded default) a connection of its own, kept open, runs the one statement
    through the driver (``sqlite3``): 11 us, against 520 us for the same statement on a pooled
    SQLAlchemy connection set to autocommit (checkout, isolation level set and reset, events, result
    metadata), which with the thread-pool hop around it was most of what the pull API cost above a
    bare route (issue 19, py-spy under wrk). The engine's connect hook leaves the connection in
    autocommit (no ``BEGIN``), so each read is its own snapshot and, in WAL mode, never waits for a
    writer: ``inline`` says it may run on the event loop. Elsewhere (PostgreSQL: a network round
    trip) the pooled ``read_only`` connection, from the thread pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.inline = engine.dialect.name == "sqlite"
        self._lock = threading.Lock()  # the dashboard's sync routes read from pool threads
        self._raw: Any = None
        since = DateTime(timezone=True).dialect_impl(engine.dialect)
        self._since: Callable[[Any], datetime | None] | None = since.result_processor(engine.dialect, None)

    def read(self, jti: str, subject: str) -> tuple[bool, datetime | None]:
        """(revoked, sessions not before) for the token ``jti`` of ``subject`` (``kind:name``)."""
        if not self.inline:
            with read_only(self.engine) as conn:
                return accounts.session_state(conn, jti, subject)
        kind, _, name = subject.partition(":")
        sql = accounts.SESSION_STATE_SQL.get(kind)
        if sql is None:
            return False, None
        with self._lock:
            try:
                revoked, since = self._fetch(sql, jti, name)
            except sqlite3.Error:
                # A connection kept open can break under us (a closed or broken handle): drop it
                # and ask once more on a new one; a second error is real.
                self._drop()
                try:
                    revoked, since = self._fetch(sql, jti, name)
                except BaseException:
                    self._drop()
                    raise
        if since is not None and self._since is not None:
            since = self._since(since)
        return bool(jti) and bool(revoked), since

    def _fetch(self, sql: str, jti: str, name: str) -> tuple[Any, Any]:
        if self._raw is None:
            self._raw = self.engine.raw_connection()
        row: tuple[Any, Any] = self._raw.driver_connection.execute(sql, {"jti": jti, "name": name}).fetchone()
        return row

    def _drop(self) -> None:
        """After an error the connection is not trusted again: the next read opens a new one."""
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.invalidate()
            except Exception:
                log.warning("could not close the session-check connection", exc_info=True)
