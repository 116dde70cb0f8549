"""Retry policy: tenacity's strategies, applied to attempts that are persisted between tries.

A delivery's attempts are spread over time and processes (a worker may die between two), so we do
not hold a thread in ``tenacity.Retrying``; instead every failed attempt asks this policy, built from
tenacity's ``stop``/``wait``/``retry`` strategies, whether and when to try again, and the answer is
stored as ``next_attempt_at``. Backoff is exponential with full jitter; a receiver's ``Retry-After``
is honoured (never waited less than it asks, capped at ``max_retry_after``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tenacity import (
    Future,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from gateway.errors import TransientDeliveryError
from gateway.settings import RetrySettings


class wait_retry_after(wait_base):
    """Use the receiver's ``Retry-After`` when the failure carried one, else the fallback strategy."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), self.cap))
        return float(self.fallback(retry_state))


@dataclass(frozen=True)
class Decision:
    retry: bool
    wait: float
    why: str


class RetryPolicy:
    def __init__(self, settings: RetrySettings) -> None:
        self.settings = settings
        self._retrying = Retrying(
            stop=stop_after_attempt(settings.max_attempts) | stop_after_delay(settings.max_age_seconds),
            wait=wait_retry_after(
                wait_random_exponential(multiplier=settings.initial_wait, max=settings.max_wait),
                cap=settings.max_retry_after,
            ),
            retry=retry_if_exception_type(TransientDeliveryError),
        )

    def decide(self, attempt_number: int, error: BaseException, age_seconds: float) -> Decision:
        """After failed attempt ``attempt_number`` (1-based) of a delivery ``age_seconds`` old."""
        state = RetryCallState(retry_object=self._retrying, fn=None, args=(), kwargs={})
        state.attempt_number = attempt_number
        now = time.monotonic()
        state.start_time = now - age_seconds
        state.outcome = Future.construct(attempt_number, error, True)
        state.outcome_timestamp = now
        if not self._retrying.retry(state):
            return Decision(False, 0.0, "not retryable")
        if self._retrying.stop(state):
            if attempt_number >= self.settings.max_attempts:
                return Decision(False, 0.0, f"gave up after {attempt_number} attempts")
            return Decision(False, 0.0, f"gave up: older than {self.settings.max_age_seconds:.0f} s")
        return Decision(True, self._retrying.wait(state), "transient")
