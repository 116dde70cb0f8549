"""Per-destination circuit breaker, so an outage does not burn delivery attempts.

closed --(``threshold`` consecutive transient failures)--> open --(``cool_down`` s)--> half-open:
one probe is let through; success closes the circuit, failure opens it again. State is per worker
process (each worker learns the outage from its own attempts within ``threshold`` tries).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum

from gateway.clock import Clock


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class _Circuit:
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False


@dataclass(frozen=True)
class CircuitPolicy:
    threshold: int = 5
    cool_down: float = 30.0


class CircuitBreakers:
    def __init__(self, clock: Clock, policies: dict[str, CircuitPolicy] | None = None) -> None:
        self.clock = clock
        self.policies = dict(policies or {})
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}

    def _policy(self, destination: str) -> CircuitPolicy:
        return self.policies.get(destination) or self.policies.setdefault(destination, CircuitPolicy())

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _get(self, destination: str) -> _Circuit:
        return self._circuits.setdefault(destination, _Circuit())

    def state(self, destination: str) -> CircuitState:
        with self._lock:
            c = self._get(destination)
            if c.state is CircuitState.OPEN and self._now() - c.opened_at >= self._policy(destination).cool_down:
                return CircuitState.HALF_OPEN
            return c.state

    def blocked(self, destination: str) -> bool:
        """True while no attempt may start: open and cooling down, or half-open with its probe out.
        Unlike ``allow`` this never grants the probe."""
        with self._lock:
            c = self._get(destination)
            if c.state is CircuitState.CLOSED:
                return False
            if c.state is CircuitState.OPEN and self._now() - c.opened_at < self._policy(destination).cool_down:
                return True
            return c.probing

    def allow(self, destination: str) -> float:
        """0.0 when an attempt may go now; else seconds until the circuit lets a probe through."""
        with self._lock:
            c = self._get(destination)
            if c.state is CircuitState.CLOSED:
                return 0.0
            cool_down = self._policy(destination).cool_down
            remaining = c.opened_at + cool_down - self._now()
            if remaining > 0:
                return remaining
            if c.probing:
                return max(cool_down / 4, 0.05)
            c.state = CircuitState.HALF_OPEN
            c.probing = True
            return 0.0

    def success(self, destination: str) -> None:
        with self._lock:
            c = self._get(destination)
            c.state, c.failures, c.probing = CircuitState.CLOSED, 0, False

    def failure(self, destination: str) -> None:
        with self._lock:
            c = self._get(destination)
            c.failures += 1
            if c.state is CircuitState.HALF_OPEN or c.failures >= self._policy(destination).threshold:
                c.state, c.opened_at, c.probing = CircuitState.OPEN, self._now(), False

    def snapshot(self) -> dict[str, str]:
        return {name: self.state(name).value for name in list(self._circuits)}
