"""Short-lived signed access tokens (JWT), and tokens from an operator identity provider (OIDC).

Our tokens are HS256 JWTs signed with a key in ``api.token_key_file`` (made on first use, 0600,
``kid secret`` per line). The first line signs; every line verifies, so rotating the key is adding a
new first line and removing the old one after the token lifetime has passed. A token names its
subject; the subject is looked up again on every request, so revoking a client or disabling a user
takes effect at once, not when the token expires.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt

from gateway.auth.principals import Principal
from gateway.db.models import USER_ROLES
from gateway.errors import ConfigurationError, Forbidden, Unauthenticated

ISSUER = "vn-report-gateway"
ALGORITHM = "HS256"
LEEWAY_SECONDS = 30
"""Clock skew allowed for when a token was issued (another node of ours, an identity provider)."""


def load_keys(path: Path) -> list[tuple[str, bytes]]:
    """The signing keys, first one signs; created with one random key when the file is missing."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(f"k1 {secrets.token_hex(32)}\n", encoding="utf-8")
        path.chmod(0o600)
    keys = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts or line.lstrip().startswith("#"):
            continue
        if len(parts) != 2 or len(parts[1]) < 32:
            raise ConfigurationError(f"{path} line {number}: expected 'KEY_ID SECRET' with a secret of 32+ characters")
        keys.append((parts[0], parts[1].encode("utf-8")))
    if not keys:
        raise ConfigurationError(f"{path} holds no token key")
    return keys


@dataclass(frozen=True)
class Claims:
    subject: str  # "client:ID" or "user:NAME"
    role: str
    expires_at: datetime


class TokenService:
    def __init__(self, keys: list[tuple[str, bytes]], ttl_seconds: int):
        self.keys = keys
        self.ttl = ttl_seconds

    def issue(self, principal: Principal, *, now: float | None = None) -> tuple[str, int]:
        issued = int(now if now is not None else time.time())
        kid, secret = self.keys[0]
        claims = {
            "iss": ISSUER,
            "sub": principal.actor,
            "role": principal.role,
            "iat": issued,
            "exp": issued + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": kid}), self.ttl

    def ours(self, token: str) -> bool:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return False
        return header.get("alg") == ALGORITHM and any(kid == header.get("kid") for kid, _ in self.keys)

    def verify(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            secret = next(s for k, s in self.keys if k == kid)
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss"], "verify_exp": False},
            )
        except StopIteration as exc:
            raise Unauthenticated("token signed with an unknown key") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token ({type(exc).__name__})") from exc
        if expired(claims):
            raise Unauthenticated("token expired")
        return claims


def expired(claims: dict[str, Any], now: float | None = None) -> bool:
    """Our own tokens end at their ``exp``, to the second: the leeway is for the clock of whoever
    issued a token, and a token we issued says exactly when it ends (with PyJWT's leeway on ``exp``
    too, an expired token kept working for another 30 s; found from outside). ``iat`` keeps the
    leeway: another node of ours may issue it a moment ahead of this one's clock."""
    try:
        ends = float(claims["exp"])
    except (KeyError, TypeError, ValueError):
        return True
    return (time.time() if now is None else now) >= ends


class OidcVerifier:
    """Operator tokens from the province's identity provider (Keycloak, WSO2 IS, ...): RS/ES-signed
    JWTs checked against the issuer's JWKS, audience and expiry; the role comes from a claim."""

    def __init__(self, issuer: str, audience: str, jwks_url: str, role_claim: str, username_claim: str):
        self.issuer = issuer
        self.audience = audience
        self.role_claim = role_claim
        self.username_claim = username_claim
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)
        self._lock = threading.Lock()

    def principal(self, token: str) -> Principal:
        try:
            with self._lock:
                key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "ES256", "PS256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("identity-provider token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"identity-provider token refused ({type(exc).__name__})") from exc
        raw = claims.get(self.role_claim)
        roles = raw if isinstance(raw, list) else [raw]
        chosen = next((r for r in USER_ROLES if r in roles), None)  # strongest first
        username = claims.get(self.username_claim) or claims.get("sub")
        if chosen is None or not isinstance(username, str):
            raise Forbidden(
                f"the identity provider gave no gateway role ({', '.join(USER_ROLES)}) in {self.role_claim}"
            )
        return Principal("user", f"oidc:{username}", chosen)
