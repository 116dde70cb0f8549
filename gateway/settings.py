"""One typed settings root, built at the entrypoint (never at import).

Sources, highest first: ``GATEWAY_*`` environment variables (nested with ``__``, e.g.
``GATEWAY_DATABASE__URL``), then a TOML file (``--config``, ``GATEWAY_CONFIG``, or ``gateway.toml`` in
the working directory when present), then defaults. The embedded default needs no file: SQLite and
kombu's SQLAlchemy transport under ``GATEWAY_DATA_DIR`` (``./data``).
"""

from __future__ import annotations

import os
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gateway import resources
from gateway.connectors.auth import AuthSettings, NoAuthSettings
from gateway.errors import ConfigurationError


class _Section(BaseModel):
    """A settings section: closed, so a misspelt key is an error naming it, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


class UnitSettings(_Section):
    """A unit on the wire (``DonViGui`` / ``DonViNhan``): identification code and name."""

    code: str
    name: str


class RetrySettings(_Section):
    """Per-destination retry policy: exponential backoff with full jitter, honouring Retry-After."""

    max_attempts: int = Field(default=12, ge=1)
    initial_wait: float = Field(default=0.5, gt=0)
    max_wait: float = Field(default=60.0, gt=0)
    max_retry_after: float = Field(default=300.0, gt=0, description="cap on a receiver's Retry-After")
    max_age_seconds: float = Field(default=7 * 24 * 3600, gt=0)


class TlsSettings(_Section):
    """Optional mutual TLS: our client certificate and key, and the CA bundle to trust."""

    client_cert: Path | None = None
    client_key: Path | None = None
    ca_bundle: Path | None = None


class DestinationSettings(_Section):
    """One receiver: the national system or a ministry system."""

    url: str
    receiver: UnitSettings
    format: Literal["json", "xml"] = "json"
    timeout: float = Field(default=10.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    total_timeout: float = Field(default=60.0, gt=0, description="bound on a whole exchange, slow bodies included")
    max_concurrency: int = Field(default=4, ge=1)
    auth: AuthSettings = NoAuthSettings()
    tls: TlsSettings = Field(default_factory=lambda: TlsSettings())
    rate_limit: float | None = Field(default=None, gt=0, description="requests per second at most")
    status_url: str | None = Field(
        default=None, description="for receivers that can only be polled: URL template with {packet_id}"
    )
    status_poll_after: float = Field(default=30.0, gt=0, description="poll a delivered packet after this many s")
    data_url: str | None = Field(
        default=None, description="where the receiver exposes its copy of a packet: URL template with {packet_id}"
    )
    alert_after: float = Field(
        default=3600.0, gt=0, description="alert when the oldest unacknowledged delivery is older than this (s)"
    )
    retry: RetrySettings = RetrySettings()
    sign: bool = Field(default=True, description="sign packets sent here (needs [signing] keys)")
    verify_status: bool = Field(
        default=True, description="refuse this receiver's status packets unless their signature verifies ([trust])"
    )
    poll_url: str | None = Field(
        default=None,
        description="for receivers that only publish: GET this URL (with ?cursor=...) for packets sent to us",
    )
    poll_interval: float = Field(default=60.0, gt=0, description="seconds between two polls of poll_url")
    circuit_threshold: int = Field(default=5, ge=1, description="consecutive transient failures that open the circuit")
    circuit_cool_down: float = Field(default=30.0, gt=0, description="seconds open before a half-open probe")


class KeySettings(_Section):
    """One signing key: PKCS#12 or PEM. The passphrase comes from an environment variable or a secret
    file named here, never from this file."""

    path: Path
    passphrase_env: str | None = Field(default=None, description="name of the environment variable")
    passphrase_file: Path | None = None
    active_from: datetime | None = Field(default=None, description="rotation: signs from this moment on")


class SigningSettings(_Section):
    keys: list[KeySettings] = Field(default_factory=list, description="several keys overlap during rotation")


class TrustSettings(_Section):
    """Trust anchors for what we receive: roots, intermediates and CRLs in one directory."""

    dir: Path | None = Field(default=None, description="no directory: incoming signatures are not checked")
    revocation_unknown: Literal["reject", "accept"] = Field(
        default="reject", description="when no current CRL covers a signer: refuse, or accept marked 'unknown'"
    )
    max_signature_age_days: float = Field(default=30.0, gt=0, description="oldest signing time accepted")
    require_signed_intake: bool = Field(default=True, description="status packets on our intake must be signed")


class TimestampSettings(_Section):
    """An RFC 3161 time-stamping authority asked for a token over every packet signature when sealing,
    and over audit checkpoints (``docs/security.md``, "Signing time"). Its certificate must chain to
    ``[trust] dir`` (where receivers check it too)."""

    url: str | None = Field(default=None, description="TSA endpoint; none: packets are sealed without a token")
    mode: Literal["required", "best_effort"] = Field(
        default="required",
        description="required: no token, nothing sealed (retried later); best_effort: sealed without one, logged",
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds for one request")
    username: str | None = Field(default=None, description="HTTP basic authentication")
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    token_env: str | None = Field(default=None, description="environment variable holding a bearer token")
    ca_bundle: Path | None = Field(default=None, description="CA bundle for an https TSA")


class DatabaseSettings(_Section):
    url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under data_dir")


class BrokerSettings(_Section):
    url: str | None = Field(default=None, description="kombu URL; default sqla+sqlite under data_dir")
    queue: str = "gateway.deliveries"
    queue_type: Literal["classic", "quorum"] = Field(
        default="classic", description="RabbitMQ: quorum queues with a dead-letter exchange (ops/rabbitmq)"
    )
    polling_interval: float = 0.1


class WorkerSettings(_Section):
    concurrency: int = Field(default=8, ge=1)
    lease_seconds: float = Field(default=120.0, gt=0)
    sweep_interval: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=4, ge=1, le=100, description="deliveries claimed and recorded per transaction")


class IngestSettings(_Section):
    """How ``gateway ingest`` stores what it reads (``docs/operations.md``, "Reading sources")."""

    batch_size: int = Field(default=10_000, ge=1, le=100_000, description="observations committed per transaction")
    lease_seconds: float = Field(
        default=60.0, gt=0, description="a running ingest whose heartbeat is older than this is cleaned up"
    )


class ReportSettings(_Section):
    """How the scheduler builds a period's reports (``docs/operations.md``, "Building reports")."""

    build_workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="processes that read and seal reports side by side; 0: one per core for a period of "
        "8 reports or more, else 1",
    )


class MetricsSettings(_Section):
    """Where ``gateway worker`` and ``gateway scheduler`` serve /metrics (the API serves its own)."""

    host: str = "127.0.0.1"
    worker_port: int = Field(default=9310, ge=0, le=65535, description="0 disables the worker's listener")
    scheduler_port: int = Field(default=9311, ge=0, le=65535, description="0 disables the scheduler's listener")
    allow_public: bool = False


class LogSettings(_Section):
    level: str = "INFO"
    format: Literal["json", "text"] = "json"


class OidcSettings(_Section):
    """Operators may log in through the province's identity provider instead of a local password."""

    issuer: str
    audience: str
    jwks_url: str
    role_claim: str = Field(default="roles", description="claim holding admin, operator or auditor")
    username_claim: str = "preferred_username"


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8000
    token_key_file: Path | None = Field(default=None, description="default: {data_dir}/secrets/api-token.keys")
    token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    packet_cache_mb: int = Field(
        default=64, ge=0, description="bytes of recently pulled packets kept in memory (packets never change); 0: off"
    )
    rate_limit_per_second: float = Field(default=20.0, gt=0, description="per client, steady rate")
    rate_limit_burst: int = Field(default=60, ge=1)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_query_bytes: int = Field(default=4096, ge=256)
    page_size_max: int = Field(default=500, ge=1, le=10_000)
    public_metrics: bool = Field(default=False, description="serve /metrics without a token (scraper on loopback)")
    docs: Literal["public", "authenticated", "off"] = Field(
        default="authenticated",
        description="/openapi.json, /docs and /redoc: to anyone, to callers with a token, or not at all",
    )
    oidc: OidcSettings | None = None
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description=(
            "addresses of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed "
            '(["127.0.0.1"] for nginx on the same host); empty: none, a client is its TCP address'
        ),
    )

    def uvicorn_proxy(self) -> dict[str, Any]:
        """uvicorn's proxy options. Its default believes X-Forwarded-For from 127.0.0.1, so any local
        process could pick the address each failed login was counted under (found from outside): only
        a proxy named here is believed."""
        return {"proxy_headers": bool(self.forwarded_allow_ips), "forwarded_allow_ips": self.forwarded_allow_ips or ""}


class ResourceSettings(_Section):
    """Folders whose files are found before the data shipped in the wheel (``gateway/resources.py``).

    Without a key, ``{data_dir}/profiles``, ``{data_dir}/regimes``, ``{data_dir}/calendar``,
    ``{data_dir}/indicators``, ``{data_dir}/templates`` and ``{data_dir}/outlines`` are used when they exist."""

    profiles_dir: Path | None = Field(default=None, description="wire profiles (a folder per profile)")
    regimes_dir: Path | None = Field(default=None, description="report regimes (*.yaml)")
    calendar_dir: Path | None = Field(default=None, description="holiday overrides (overrides.yaml)")
    indicators_dir: Path | None = Field(default=None, description="indicator mappings (*.yaml)")
    templates_dir: Path | None = Field(default=None, description="report templates")
    outlines_dir: Path | None = Field(default=None, description="narrative-report outlines (*.yaml)")


def _default_destinations() -> dict[str, DestinationSettings]:
    return {}


class AuditSettings(_Section):
    """Anchoring the hash-chained audit log outside the database (``docs/security.md``)."""

    key_file: Path | None = Field(
        default=None, description="seals each event (HMAC); default {data_dir}/secrets/audit.key, made 0600"
    )
    checkpoint_file: Path | None = Field(
        default=None, description="signed checkpoints, one JSON line each; default {data_dir}/audit/checkpoints.jsonl"
    )
    checkpoint_interval: float = Field(default=300.0, gt=0, description="seconds between automatic checkpoints")


class InboundSettings(_Section):
    """Packets sent to us (``POST /v1/intake/packets`` and poll connectors): where each type goes."""

    routes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="LoaiGoiTin (or '*') -> local destinations (e.g. the provincial system) that get a copy",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Path("data")
    profile: str = "qcvn125-gw/0"
    sender: UnitSettings = UnitSettings(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai")
    database: DatabaseSettings = DatabaseSettings()
    broker: BrokerSettings = BrokerSettings()
    worker: WorkerSettings = WorkerSettings()
    ingest: IngestSettings = IngestSettings()
    reports: ReportSettings = ReportSettings()
    api: ApiSettings = ApiSettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()
    signing: SigningSettings = SigningSettings()
    trust: TrustSettings = TrustSettings()
    timestamps: TimestampSettings = TimestampSettings()
    audit: AuditSettings = AuditSettings()
    resources: ResourceSettings = ResourceSettings()
    destinations: dict[str, DestinationSettings] = Field(default_factory=_default_destinations)
    inbound: InboundSettings = InboundSettings()
    forward_returns_to: str | None = Field(
        default=None, description="destination (e.g. the provincial system) that gets returned-report status packets"
    )

    @model_validator(mode="after")
    def _inbound_routes(self) -> Settings:
        if not self.inbound.routes:
            return self  # nothing to check: the packet model (fifty classes) is not imported (issue 19)
        from gateway.packets.model import PacketType

        known = {t.value for t in PacketType} | {"*"}
        for kind, names in self.inbound.routes.items():
            if kind not in known:
                raise ValueError(f"inbound.routes: {kind!r} is not a packet type (LoaiGoiTin) nor '*'")
            for name in names:
                if name not in self.destinations:
                    raise ValueError(
                        f"inbound.routes.{kind}: destination {name!r} is not configured "
                        f"(configured: {', '.join(sorted(self.destinations)) or 'none'})"
                    )
        return self

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'gateway.sqlite'}"

    @property
    def broker_url(self) -> str:
        return self.broker.url or f"sqla+sqlite:///{self.data_dir / 'broker.sqlite'}"

    @property
    def audit_key_file(self) -> Path:
        """The key that seals every audit event; the database never holds it (a backup does)."""
        return self.audit.key_file or self.data_dir / "secrets" / "audit.key"

    @property
    def audit_checkpoint_file(self) -> Path:
        return self.audit.checkpoint_file or self.data_dir / "audit" / "checkpoints.jsonl"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = _TOML_PATH.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)


_TOML_PATH: dict[str, Path | None] = {"path": None}


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings root; errors name the exact key and source."""
    path = config or (Path(os.environ["GATEWAY_CONFIG"]) if os.environ.get("GATEWAY_CONFIG") else None)
    if path is None and Path("gateway.toml").is_file():
        path = Path("gateway.toml")
    if path is not None and not path.is_file():
        raise ConfigurationError(f"configuration file {path} does not exist")
    _TOML_PATH["path"] = path
    try:
        settings = Settings(**overrides)
        # Where shipped data may be overridden follows the settings of this process (gateway/resources.py).
        resources.configure(settings.data_dir, settings.resources.model_dump())
        return settings
    except tomllib.TOMLDecodeError as exc:  # the message carries the line and column
        raise ConfigurationError(f"configuration file {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"configuration file {path} is not UTF-8 (byte {exc.start})") from exc
    except ValidationError as exc:
        where = f" (file {path} or GATEWAY_* environment)" if path else " (GATEWAY_* environment)"
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"invalid configuration{where}: {details}") from exc
    finally:
        _TOML_PATH["path"] = None
