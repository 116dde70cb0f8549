"""The composition root: builds engine, broker, connectors, policies, clock and profile from settings.

The CLI, the API, the worker, the demo and the tests all build the gateway here; nothing builds its
own engine or client at import.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from gateway import audit
from gateway.audit import checkpoints
from gateway.clock import Clock, SystemClock
from gateway.db.engine import make_engine, refuse_unknown_revision, upgrade, upgrade_if_behind
from gateway.delivery.circuit import CircuitBreakers, CircuitPolicy
from gateway.delivery.retry import RetryPolicy
from gateway.errors import ConfigurationError
from gateway.logs import register_secret
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.connectors.base import Connector
    from gateway.delivery.service import DeliveryService
    from gateway.messaging import Broker
    from gateway.packets.profile import Profile
    from gateway.reconciliation.report import Reconciliation
    from gateway.signing import Inbound
    from gateway.signing.packets import PacketSigner, PacketVerifier
    from gateway.signing.seal import Sealer
    from gateway.signing.timestamps import TsaClient
    from gateway.signing.trust import TrustStore

# What a command needs is imported when it needs it: the HTTP connectors (httpx), the delivery
# service, reconciliation, certificate-path validation and key loading are imported on first use,
# not by every ``gateway`` command at start (issue 19: start-up was 4.3 s, most of it imports).
# The broker, the packet profile, the signer, the trust store and the packet readers are ``Parts``:
# built when the gateway is composed, or on first use for a command that rarely needs them
# (``bootstrap(lazy=True)``: an ingest signs only when it corrects a report already sent).


class Parts:
    """The parts of a gateway built from its settings that not every command uses. Each is built
    once, on first use; ``build_all`` builds them at once, so that a server refuses to start on a
    wrong key, trust folder or profile rather than on its first report."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings, self.clock = settings, clock

    def build_all(self) -> None:
        for part in (self.broker, self.profile, self.verifier, self.sealer, self.inbound):
            del part  # built and kept by its property

    @cached_property
    def broker(self) -> Broker:
        from gateway.messaging import Broker

        config = self.settings.broker
        return Broker(
            self.settings.broker_url,
            config.queue,
            polling_interval=config.polling_interval,
            queue_type=config.queue_type,
        )

    @cached_property
    def profile(self) -> Profile:
        from gateway.packets.profile import load_profile

        return load_profile(self.settings.profile)

    @cached_property
    def trust(self) -> TrustStore | None:
        if not self.settings.trust.dir:
            return None
        from gateway.signing.trust import TrustStore

        return TrustStore(self.settings.trust.dir, revocation_unknown=self.settings.trust.revocation_unknown)

    @cached_property
    def verifier(self) -> PacketVerifier | None:
        if self.trust is None:
            return None
        from gateway.signing.packets import PacketVerifier

        max_age = timedelta(days=self.settings.trust.max_signature_age_days)
        return PacketVerifier(self.profile, self.trust, clock=self.clock, max_age=max_age)

    @cached_property
    def sealer(self) -> Sealer:
        from gateway.signing.seal import Sealer

        settings = self.settings
        return Sealer(
            self.profile,
            _packet_signer(settings, self.profile, self.clock),
            _signing_destinations(settings),
            self.trust,
            tsa_client(settings),
            settings.timestamps.mode == "required",
        )

    @cached_property
    def inbound(self) -> Inbound:
        from gateway.signing import Inbound

        return Inbound(self.profile, self.verifier if self.settings.trust.require_signed_intake else None)

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    policies: dict[str, RetryPolicy]
    circuits: CircuitBreakers
    parts: Parts
    connector_factory: Callable[[], dict[str, Connector]] = dict
    _connectors: dict[str, Connector] | None = None
    audit_key: bytes = b""
    _services: list[DeliveryService] = field(default_factory=list)

    @property
    def broker(self) -> Broker:
        return self.parts.broker

    @property
    def profile(self) -> Profile:
        return self.parts.profile

    @property
    def sealer(self) -> Sealer:
        return self.parts.sealer

    @property
    def inbound(self) -> Inbound:
        return self.parts.inbound

    @property
    def connectors(self) -> dict[str, Connector]:
        """The destinations' connectors, built on first use (commands that never deliver never
        import or open an HTTP client)."""
        if self._connectors is None:
            self._connectors = self.connector_factory()
        return self._connectors

    def delivery_service(self, worker_id: str | None = None) -> DeliveryService:
        from gateway import metrics
        from gateway.delivery.service import DeliveryService

        wid = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        service = DeliveryService(
            self.sessions,
            self.connectors,
            self.policies,
            self.clock,
            worker_id=wid,
            lease_seconds=self.settings.worker.lease_seconds,
            circuits=self.circuits,
            forward_returns_to=self.settings.forward_returns_to,
            forward_format=self._forward_format(),
            observe=metrics.observe_attempt,
            own_unit=self.settings.sender.code,
            receivers={name: dest.receiver.code for name, dest in self.settings.destinations.items()},
        )
        self._services.append(service)
        return service

    def _forward_format(self) -> Literal["json", "xml"]:
        """The format of the ``forward_returns_to`` destination: returns are forwarded in it."""
        forward = self.settings.destinations.get(self.settings.forward_returns_to or "")
        return forward.format if forward is not None else "json"

    def reconcile(self, *, period: str | None = None, regime: str | None = None) -> Reconciliation:
        """The reconciliation of a regime and period, asking receivers that expose their copies."""
        from gateway.reconciliation.report import ReceiverCopies, reconcile

        copies = {
            name: connector
            for name, connector in self.connectors.items()
            if isinstance(connector, ReceiverCopies)
            and self.settings.destinations.get(name, None) is not None
            and self.settings.destinations[name].data_url
        }
        with self.sessions() as session:
            report = reconcile(session, profile=self.profile, period=period, regime=regime, copies=copies)
            session.commit()  # the figures of packets stored before migration 0012, parsed once (backfill)
            return report

    def publish(self, delivery_ids: list[int]) -> None:
        """Publish wake-ups after a commit. A broker failure only delays: the sweeper will find them."""
        try:
            self.broker.publish(delivery_ids)
        except Exception as exc:
            log.warning("could not publish %d wake-ups (%s); the sweeper will pick them up", len(delivery_ids), exc)

    @property
    def checkpoint_file(self) -> Path:
        return self.settings.audit_checkpoint_file

    def checkpoint_audit(self) -> checkpoints.Checkpoint:
        """Anchor the audit chain: a signed checkpoint appended to the file outside the database."""
        now = self.clock.now()
        with self.sessions() as session:
            point = checkpoints.current(session, now)
        signing = self.sealer.signer.keys.current(now) if self.sealer.signer is not None else None
        signed = checkpoints.sign(point, self.audit_key, signing)
        if self.sealer.tsa is not None:
            signed = self._stamp_checkpoint(signed)
        checkpoints.append(self.checkpoint_file, signed)
        return signed

    def _stamp_checkpoint(self, point: checkpoints.Checkpoint) -> checkpoints.Checkpoint:
        """The checkpoint with an RFC 3161 token over its payload; without one (logged, counted) when the
        authority does not answer: the anchor is written either way."""
        import base64
        from dataclasses import replace

        from gateway import metrics
        from gateway.errors import TimestampUnavailable

        assert self.sealer.tsa is not None
        try:
            token = self.sealer.tsa.stamp(point.payload())
        except TimestampUnavailable as exc:
            metrics.TIMESTAMPS.labels(outcome="skipped").inc()
            log.error("audit checkpoint of %s written WITHOUT a timestamp: %s", point.at, exc)
            return point
        metrics.TIMESTAMPS.labels(outcome="stamped").inc()
        return replace(point, timestamp=base64.b64encode(token).decode("ascii"))

    def verify_audit(self) -> list[str]:
        """Every problem with the audit log: chain breaks, seals, and what the checkpoints show."""
        ours = [k.certificate for k in self.sealer.signer.keys.keys] if self.sealer.signer is not None else []
        with self.sessions() as session:
            found = [f"audit event {b.event_id}: {b.problem}" for b in audit.verify(session, self.audit_key)]
            found += checkpoints.problems(session, self.checkpoint_file, self.audit_key, ours, self.sealer.trust)
        return found

    def close(self) -> None:
        for connector in (self._connectors or {}).values():
            connector.close()
        self.engine.dispose()


SECRET_WORDS = ("SECRET", "TOKEN", "PASSPHRASE", "PASSWORD", "ACCESS_KEY", "SECRET_KEY")


def _register_environment_secrets() -> None:
    """Secrets handed over in the environment (the recommended way) never reach a log line."""
    for name, value in os.environ.items():
        if name.startswith("GATEWAY_") and any(word in name.upper() for word in SECRET_WORDS):
            register_secret(value)


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool | None = None,
    connectors: dict[str, Connector] | None = None,
    lazy: bool = False,
) -> Gateway:
    """Build the gateway. ``migrate`` defaults to True on SQLite (the embedded default creates its
    schema on first run) and False elsewhere (run ``gateway db upgrade`` as a deployment step).

    ``lazy``: the broker, the packet profile, the signer (its keys), the trust store and the packet
    readers are built on first use, not now (issue 19: an ingest, which uses them only to correct a
    report already sent, spent a fifth of its start-up building them). Servers leave it False, so a
    wrong key or trust folder stops them at start."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _register_environment_secrets()
    engine = make_engine(settings.database_url)
    is_sqlite = make_url(settings.database_url).get_backend_name() == "sqlite"
    if migrate:
        upgrade(engine)
    elif migrate is None and is_sqlite:
        upgrade_if_behind(engine)  # the embedded default: one query when already migrated
    elif migrate is None:
        try:
            refuse_unknown_revision(engine)  # a server database: migrated as a deployment step, never newer
        except ConfigurationError:
            engine.dispose()
            raise
    audit_key = checkpoints.load_key(settings.audit_key_file)
    sessions = sessionmaker(engine, expire_on_commit=False, info={audit.KEY_INFO: audit_key})
    clock = clock or SystemClock()
    parts = Parts(settings, clock)
    if not lazy:
        parts.build_all()
    given: dict[str, Connector] = dict(connectors or {})

    def build_connectors() -> dict[str, Connector]:
        from gateway.connectors.http import HttpConnector
        from gateway.signing import Inbound

        built = dict(given)
        for name, dest in settings.destinations.items():
            reader = Inbound(parts.profile, parts.verifier if dest.verify_status else None)
            built.setdefault(name, HttpConnector(name, dest, read=reader.packet))
        return built

    policies = {name: RetryPolicy(dest.retry) for name, dest in settings.destinations.items()}
    circuit_policies = {
        name: CircuitPolicy(dest.circuit_threshold, dest.circuit_cool_down)
        for name, dest in settings.destinations.items()
    }
    return Gateway(
        settings=settings,
        engine=engine,
        sessions=sessions,
        clock=clock,
        connector_factory=build_connectors,
        policies=policies,
        circuits=CircuitBreakers(clock, circuit_policies),
        parts=parts,
        audit_key=audit_key,
    )


def tsa_client(settings: Settings) -> TsaClient | None:
    """The time-stamping authority's client, when one is configured; its credentials are redacted."""
    config = settings.timestamps
    if not config.url:
        return None
    from gateway.signing.timestamps import TsaClient

    def secret(env: str | None) -> str | None:
        if not env:
            return None
        value = os.environ.get(env)
        if value is None:
            raise ConfigurationError(f"timestamps: environment variable {env} is not set")
        register_secret(value)
        return value

    return TsaClient(
        config.url,
        timeout=config.timeout,
        username=config.username,
        password=secret(config.password_env),
        bearer=secret(config.token_env),
        ca_bundle=str(config.ca_bundle) if config.ca_bundle else None,
    )


def _packet_signer(settings: Settings, profile: Profile, clock: Clock) -> PacketSigner | None:
    if not settings.signing.keys:
        return None
    from gateway.signing.keys import KeyRing, load_key, read_passphrase
    from gateway.signing.packets import PacketSigner

    keys = []
    for key in settings.signing.keys:
        passphrase = read_passphrase(env=key.passphrase_env, file=key.passphrase_file)
        if passphrase:
            register_secret(passphrase.decode("utf-8"))
        keys.append(load_key(key.path, passphrase, active_from=key.active_from))
    return PacketSigner(profile, KeyRing(keys), clock)


def _signing_destinations(settings: Settings) -> list[str]:
    wanted = [name for name, dest in settings.destinations.items() if dest.sign]
    if wanted and not settings.signing.keys:
        log.error(
            "destinations %s require signed packets but no [signing] key is configured: no packet for them "
            "is sealed until one is (or their sign = false)",
            ", ".join(wanted),
        )
    return wanted
