"""Authentication strategies, matching what provincial integration platforms (LGSP) really use.

- ``none``: no credentials (loopback simulators, trusted links).
- ``bearer``: a static bearer token, from settings or from a file that is re-read when it changes
  (rotation without restart).
- ``oauth2``: OAuth2 client credentials as a WSO2 API Manager wants them: ``POST {token_url}`` with
  ``grant_type=client_credentials`` and HTTP Basic consumer key/secret; the token is cached until
  shortly before it expires.
- ``lgsp``: the ``lgspaccesstoken`` header: base64 of JSON ``{AccessKey, SecretKey, AppName,
  PartnerCode, PartnerCodeCus}`` on every request.
- ``lgsp_oauth2``: the two chained: the ``lgspaccesstoken`` header obtains a token, then Bearer.

Every strategy can be told a token was refused (``invalidate``): the connector re-authenticates
once on a 401. Secrets are ``SecretStr`` until the moment a header is built, and no strategy logs
or puts a secret in an exception message (the ``lgspaccesstoken`` header is reversible).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from gateway.errors import ConfigurationError, CredentialsError, TransientDeliveryError
from gateway.logs import register_secret

if TYPE_CHECKING:  # httpx is imported where a token is fetched: settings load these models at every start
    import httpx


class AuthStrategy(Protocol):
    def headers(self, client: httpx.Client) -> dict[str, str]:
        """Headers to add to the next request (may fetch a token)."""
        ...

    def invalidate(self) -> None:
        """The receiver refused our credentials: drop what is cached."""
        ...


class _Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoAuthSettings(_Auth):
    kind: Literal["none"] = "none"


class BearerSettings(_Auth):
    kind: Literal["bearer"]
    token: SecretStr | None = None
    token_file: Path | None = Field(default=None, description="re-read when it changes: rotation without restart")


class OAuth2Settings(_Auth):
    kind: Literal["oauth2"]
    token_url: str
    consumer_key: SecretStr
    consumer_secret: SecretStr
    scope: str | None = None
    refresh_margin: float | None = Field(
        default=None,
        ge=0,
        description="renew this many seconds before expiry; default 10% of the token's lifetime, at most 60 s "
        "(never more than half the lifetime, so a short-lived token is not fetched for every delivery)",
    )


class LgspSettings(_Auth):
    kind: Literal["lgsp"]
    access_key: SecretStr
    secret_key: SecretStr
    app_name: str
    partner_code: str
    partner_code_cus: str


class LgspOAuth2Settings(LgspSettings):
    kind: Literal["lgsp_oauth2"]  # type: ignore[assignment]
    token_url: str
    refresh_margin: float | None = Field(default=None, ge=0, description="as for oauth2")


AuthSettings = Annotated[
    NoAuthSettings | BearerSettings | OAuth2Settings | LgspSettings | LgspOAuth2Settings, Field(discriminator="kind")
]


class NoAuth:
    def headers(self, client: httpx.Client) -> dict[str, str]:
        return {}

    def invalidate(self) -> None:
        return None


class StaticBearer:
    def __init__(self, settings: BearerSettings) -> None:
        if settings.token is None and settings.token_file is None:
            raise ConfigurationError("auth.kind = 'bearer' needs auth.token or auth.token_file")
        register_secret(settings.token.get_secret_value() if settings.token else None)
        self.settings = settings
        self._cached: tuple[float, str] | None = None

    def _token(self) -> str:
        path = self.settings.token_file
        if path is None:
            assert self.settings.token is not None
            return self.settings.token.get_secret_value()
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise CredentialsError(f"bearer token file {path} is unreadable ({exc.strerror})") from None
        if self._cached is None or self._cached[0] != mtime:
            self._cached = (mtime, path.read_text(encoding="utf-8").strip())
            register_secret(self._cached[1])
        return self._cached[1]

    def headers(self, client: httpx.Client) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token()}"}

    def invalidate(self) -> None:
        self._cached = None  # re-read the file: it may have been rotated since


def lgsp_header(settings: LgspSettings) -> str:
    """The ``lgspaccesstoken`` value: base64 of the JSON credentials (reversible: never log it)."""
    payload = {
        "AccessKey": settings.access_key.get_secret_value(),
        "SecretKey": settings.secret_key.get_secret_value(),
        "AppName": settings.app_name,
        "PartnerCode": settings.partner_code,
        "PartnerCodeCus": settings.partner_code_cus,
    }
    header = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    for secret in (header, payload["AccessKey"], payload["SecretKey"]):
        register_secret(secret)
    return header


class LgspHeader:
    def __init__(self, settings: LgspSettings) -> None:
        self._value = lgsp_header(settings)

    def headers(self, client: httpx.Client) -> dict[str, str]:
        return {"lgspaccesstoken": self._value}

    def invalidate(self) -> None:
        return None


def effective_margin(lifetime: float, configured: float | None) -> float:
    """How long before expiry a token of ``lifetime`` seconds is renewed.

    A fixed margin as long as the token's life (60 s against a 60 s token) made every delivery fetch
    a token. The default is 10% of the lifetime, at most 60 s; a configured margin is kept but never
    more than half the lifetime, so a token is always reused for at least half its life."""
    lifetime = max(lifetime, 0.0)
    margin = min(60.0, lifetime * 0.1) if configured is None else configured
    return min(margin, lifetime / 2)


class _TokenCache(ABC):
    """A bearer token fetched from a token endpoint, cached until ``refresh_margin`` before expiry."""

    def __init__(self, token_url: str, refresh_margin: float | None) -> None:
        self.token_url = token_url
        self.configured_margin = refresh_margin
        self.margin = 0.0  # of the token held now: see effective_margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self.fetches = 0

    @abstractmethod
    def _request(self, client: httpx.Client) -> httpx.Response:
        """Ask the token endpoint (each convention asks its own way)."""

    def get(self, client: httpx.Client) -> str:
        with self._lock:
            if self._token is not None and time.monotonic() < self._expires - self.margin:
                return self._token
            try:
                response = self._request(client)
            except _http_error() as exc:
                raise TransientDeliveryError(f"token endpoint unreachable ({type(exc).__name__})") from None
            if response.status_code in (401, 403):
                raise CredentialsError(
                    f"token endpoint refused our client credentials (HTTP {response.status_code})",
                    status=response.status_code,
                )
            if response.status_code >= 400:
                raise TransientDeliveryError(
                    f"token endpoint answered HTTP {response.status_code}", status=response.status_code
                )
            try:
                data = response.json()
                token = str(data["access_token"])
                lifetime = float(data.get("expires_in", 3600))
            except (ValueError, KeyError, TypeError):
                raise TransientDeliveryError("token endpoint answered without an access_token") from None
            register_secret(token)
            self.margin = effective_margin(lifetime, self.configured_margin)
            self._token, self._expires = token, time.monotonic() + lifetime
            self.fetches += 1
            return token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None


class OAuth2ClientCredentials(_TokenCache):
    def __init__(self, settings: OAuth2Settings) -> None:
        super().__init__(settings.token_url, settings.refresh_margin)
        self.settings = settings
        register_secret(settings.consumer_secret.get_secret_value())
        register_secret(settings.consumer_key.get_secret_value())

    def _request(self, client: httpx.Client) -> httpx.Response:
        form = {"grant_type": "client_credentials"}
        if self.settings.scope:
            form["scope"] = self.settings.scope
        import httpx

        basic = httpx.BasicAuth(
            self.settings.consumer_key.get_secret_value(), self.settings.consumer_secret.get_secret_value()
        )
        return client.post(self.token_url, data=form, auth=basic)

    def headers(self, client: httpx.Client) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.get(client)}"}


class LgspThenOAuth2(_TokenCache):
    def __init__(self, settings: LgspOAuth2Settings) -> None:
        super().__init__(settings.token_url, settings.refresh_margin)
        self._header = lgsp_header(settings)

    def _request(self, client: httpx.Client) -> httpx.Response:
        return client.post(
            self.token_url, data={"grant_type": "client_credentials"}, headers={"lgspaccesstoken": self._header}
        )

    def headers(self, client: httpx.Client) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.get(client)}"}


def build_auth(
    settings: NoAuthSettings | BearerSettings | OAuth2Settings | LgspSettings | LgspOAuth2Settings,
) -> AuthStrategy:
    if isinstance(settings, LgspOAuth2Settings):
        return LgspThenOAuth2(settings)
    if isinstance(settings, LgspSettings):
        return LgspHeader(settings)
    if isinstance(settings, OAuth2Settings):
        return OAuth2ClientCredentials(settings)
    if isinstance(settings, BearerSettings):
        return StaticBearer(settings)
    return NoAuth()


def _http_error() -> type[Exception]:
    import httpx

    return httpx.HTTPError
