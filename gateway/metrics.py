"""Prometheus metrics, on by default, named ``gateway_*``.

Two kinds: **state** read from SQL at scrape time by ``StateCollector`` (deliveries by state and
destination, the age of the oldest waiting delivery, dead letters, quarantine, reports due within
24 h and late reports, paused destinations), so every process reports the same truth and a restart
loses nothing; and **events** counted in the process that sees them (attempt latency, retries,
circuit state, scheduler ticks, ingested values). The API serves ``/metrics``; ``gateway worker``
and ``gateway scheduler`` start their own listener on 127.0.0.1 (``metrics.port``).
"""

from __future__ import annotations

import errno
import logging
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from gateway.clock import VN_TZ, as_utc

log = logging.getLogger(__name__)
REGISTRY = CollectorRegistry(auto_describe=True)

ATTEMPT_SECONDS = Histogram(
    "gateway_delivery_attempt_seconds",
    "Duration of delivery attempts",
    ["destination", "outcome"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES = Counter(
    "gateway_delivery_retries", "Attempts that failed and were scheduled again", ["destination"], registry=REGISTRY
)
SCHEDULER_TICK = Gauge(
    "gateway_scheduler_last_tick_timestamp_seconds", "Unix time of the last scheduler tick", registry=REGISTRY
)
SCHEDULER_LAG = Gauge(
    "gateway_scheduler_lag_seconds", "How late the oldest run executed by the last tick was", registry=REGISTRY
)
NO_SPACE_PAUSES = Counter(
    "gateway_worker_no_space_pauses",
    "Times a worker paused deliveries because the disk was full (1 s doubling to 60 s each)",
    registry=REGISTRY,
)
TIMESTAMPS = Counter(
    "gateway_timestamps",
    "RFC 3161 timestamp requests when sealing: stamped, failed (required: nothing sealed), skipped (best effort)",
    ["outcome"],
    registry=REGISTRY,
)
INGESTED = Counter("gateway_ingested_values", "Values read by adapters", ["outcome"], registry=REGISTRY)

WAITING = ("pending", "sending", "delivered")


def observe_attempt(destination: str, outcome: str, seconds: float, _attempt: int | None) -> None:
    ATTEMPT_SECONDS.labels(destination, outcome).observe(seconds)
    if outcome == "TransientDeliveryError":
        RETRIES.labels(destination).inc()


class StateCollector(Collector):
    """Reads the delivery state from SQL at every scrape (cheap, indexed aggregate queries)."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The state read from SQL, and ``gateway_database_up``. With the database down a scrape still
        answers (the process's own metrics, and up = 0 for the alert): it failed with a 500 and a
        traceback on every scrape, so the outage hid the metrics that would have shown it."""
        from gateway.db.engine import unreachable

        up = GaugeMetricFamily("gateway_database_up", "1 when this process's last scrape could read the database")
        try:
            state = list(self._state())
        except Exception as exc:
            down = unreachable(exc, self.gateway.engine.url)
            if down is None:
                raise
            log.warning("metrics: database %s; the state metrics are left out of this scrape", down)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from state

    def _state(self) -> Iterator[GaugeMetricFamily]:
        from gateway.db.models import Delivery, DestinationState, QuarantineRecord, RegimeProposal, ReportApproval
        from gateway.ingest_runs import visible_quarantine

        gw = self.gateway
        now = gw.clock.now()
        deliveries = GaugeMetricFamily(
            "gateway_deliveries", "Deliveries by state and destination", labels=["state", "destination"]
        )
        oldest = GaugeMetricFamily(
            "gateway_delivery_oldest_waiting_seconds",
            "Age of the oldest delivery not yet acknowledged (pending, sending, delivered)",
            labels=["destination"],
        )
        paused = GaugeMetricFamily(
            "gateway_destination_paused", "1 while sending to a destination is paused", labels=["destination"]
        )
        with gw.sessions() as session:
            from gateway.db.models import DeliveryState

            counts = {(state.value, d): 0 for state in DeliveryState for d in gw.settings.destinations}
            for state, destination, n in session.execute(
                select(Delivery.state, Delivery.destination, func.count()).group_by(
                    Delivery.state, Delivery.destination
                )
            ):
                counts[(state, destination)] = n
            for (state, destination), n in sorted(counts.items()):  # zeros too: absent series hide alerts
                deliveries.add_metric([state, destination], n)
            ages = dict(
                session.execute(
                    select(Delivery.destination, func.min(Delivery.created_at))
                    .where(Delivery.state.in_(WAITING))
                    .group_by(Delivery.destination)
                ).all()
            )
            dead = session.scalar(select(func.count()).where(Delivery.state == "dead")) or 0
            quarantine = (
                session.scalar(select(func.count()).where(QuarantineRecord.state == "open", visible_quarantine()))
                or 0
            )
            due = (
                session.scalar(
                    select(func.count()).where(
                        Delivery.state.in_(WAITING),
                        Delivery.deadline.is_not(None),
                        Delivery.deadline > now,
                        Delivery.deadline <= now + timedelta(hours=24),
                    )
                )
                or 0
            )
            late = (
                session.scalar(
                    select(func.count()).where(
                        Delivery.state.in_((*WAITING, "dead")), Delivery.deadline.is_not(None), Delivery.deadline < now
                    )
                )
                or 0
            )
            paused_rows = dict(session.execute(select(DestinationState.name, DestinationState.paused)).all())
            waiting = session.execute(
                select(ReportApproval.deadline, ReportApproval.warn_hours).where(
                    ReportApproval.state == "awaiting_approval"
                )
            ).all()
            awaiting = len(waiting)
            due_soon = sum(1 for deadline, hours in waiting if as_utc(deadline) - timedelta(hours=hours) <= now)
            today = now.astimezone(VN_TZ).date()
            due_dates = list(session.scalars(select(RegimeProposal.due_on).where(RegimeProposal.state == "open")))
            proposals_open, proposals_overdue = len(due_dates), sum(1 for d in due_dates if today > d)
            flagged = dict(
                session.execute(
                    select(Delivery.destination, func.count())
                    .where(Delivery.attention.is_not(None))
                    .group_by(Delivery.destination)
                ).all()
            )
        for destination in set(gw.settings.destinations) | set(ages):
            created = ages.get(destination)
            oldest.add_metric([destination], (now - as_utc(created)).total_seconds() if created else 0.0)
        for destination in set(gw.settings.destinations) | set(paused_rows):
            paused.add_metric([destination], 1.0 if paused_rows.get(destination) else 0.0)
        attention = GaugeMetricFamily(
            "gateway_deliveries_needing_attention",
            "Deliveries flagged for an operator although settled (a late TU_CHOI after acknowledgement)",
            labels=["destination"],
        )
        for destination in set(gw.settings.destinations) | set(flagged):
            attention.add_metric([destination], float(flagged.get(destination, 0)))
        yield deliveries
        yield oldest
        yield paused
        yield attention
        yield GaugeMetricFamily(
            "gateway_reports_awaiting_approval", "Reports held for an approver, not signed nor queued", value=awaiting
        )
        yield GaugeMetricFamily(
            "gateway_reports_approval_due_soon",
            "Reports still awaiting approval within their regime's approval.warn_hours of the deadline",
            value=due_soon,
        )
        yield GaugeMetricFamily(
            "gateway_regime_proposals_open",
            "Received regimes, forms and outlines awaiting an admin",
            value=proposals_open,
        )
        yield GaugeMetricFamily(
            "gateway_regime_proposals_overdue",
            "Proposals past their set-up deadline (3 working days after receipt)",
            value=proposals_overdue,
        )
        yield GaugeMetricFamily("gateway_dead_letters", "Deliveries that gave up (dead)", value=dead)
        yield GaugeMetricFamily("gateway_quarantine_open", "Quarantined input awaiting an operator", value=quarantine)
        yield GaugeMetricFamily(
            "gateway_reports_due_24h", "Report deliveries due within 24 hours, not yet acknowledged", value=due
        )
        yield GaugeMetricFamily(
            "gateway_reports_late", "Report deliveries past their deadline, not acknowledged", value=late
        )
        circuit = GaugeMetricFamily(
            "gateway_circuit_open", "1 while this process holds the circuit open or half-open", labels=["destination"]
        )
        for destination in gw.settings.destinations:
            circuit.add_metric([destination], 0.0 if gw.circuits.state(destination).value == "closed" else 1.0)
        yield circuit
        limit = GaugeMetricFamily(
            "gateway_destination_alert_after_seconds",
            "Configured age limit of a destination's oldest waiting delivery",
            labels=["destination"],
        )
        for name, dest in gw.settings.destinations.items():
            limit.add_metric([name], dest.alert_after)
        yield limit
        try:
            usage = shutil.disk_usage(gw.settings.data_dir)
        except OSError:
            usage = None
        if usage is not None:
            yield GaugeMetricFamily(
                "gateway_data_dir_free_bytes", "Free bytes on the data directory's disk", value=usage.free
            )
            yield GaugeMetricFamily(
                "gateway_data_dir_size_bytes", "Size of the data directory's disk", value=usage.total
            )
        yield GaugeMetricFamily(
            "gateway_metrics_scrape_timestamp_seconds", "When this scrape was taken", value=time.time()
        )


class _ProcessMetrics(Collector):
    """This process's event metrics, exposed through each gateway's registry."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def registry_for(gateway: Any) -> CollectorRegistry:
    """The registry a process serves: SQL state for ``gateway`` plus this process's events."""
    registry: CollectorRegistry | None = getattr(gateway, "_metrics_registry", None)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StateCollector(gateway))
        registry.register(_ProcessMetrics())
        gateway._metrics_registry = registry
    return registry


def render(gateway: Any) -> bytes:
    return bytes(generate_latest(registry_for(gateway)))


def serve(gateway: Any, host: str, port: int) -> bool:
    """Expose ``/metrics`` of a process that has no API (worker, scheduler).

    A second worker on the same host finds the port taken: it keeps delivering and says so, instead
    of dying on "Address already in use". Nothing is hidden by that: the state gauges are read from
    SQL at scrape time, so the first process reports the same truth; only this process's own counters
    (attempt durations, retries) go unscraped until it gets a port of its own
    (``GATEWAY_METRICS__WORKER_PORT``, as the systemd template unit does per instance)."""
    if host not in ("127.0.0.1", "localhost", "::1") and not gateway.settings.metrics.allow_public:
        raise ValueError("metrics bind to loopback unless metrics.allow_public is set")
    try:
        start_http_server(port, addr=host, registry=registry_for(gateway))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        log.warning(
            "metrics port %s:%s is already in use (another gateway process on this host?): this process serves "
            "no /metrics; give it a port of its own with GATEWAY_METRICS__WORKER_PORT or "
            "GATEWAY_METRICS__SCHEDULER_PORT",
            host,
            port,
        )
        return False
    return True
