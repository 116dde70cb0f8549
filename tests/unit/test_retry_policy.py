"""The retry policy (tenacity strategies over persisted attempts)."""

from __future__ import annotations

import pytest

from gateway.delivery.retry import RetryPolicy
from gateway.errors import CredentialsError, RejectedDeliveryError, TransientDeliveryError
from gateway.settings import RetrySettings


def policy(**kw: float) -> RetryPolicy:
    return RetryPolicy(RetrySettings(**{"max_attempts": 5, "initial_wait": 1.0, "max_wait": 8.0, **kw}))


@pytest.mark.parametrize("attempt", [1, 2, 3, 4])
def test_backoff_is_full_jitter_within_exponential_bounds(attempt: int) -> None:
    waits = [policy().decide(attempt, TransientDeliveryError("503"), 1).wait for _ in range(300)]
    upper = min(8.0, 1.0 * 2 ** (attempt - 1))
    assert all(0 <= w <= upper for w in waits)
    assert max(waits) > upper * 0.8 and min(waits) < upper * 0.2  # spread over the whole range: full jitter


def test_retry_after_is_honoured_and_capped() -> None:
    assert policy().decide(1, TransientDeliveryError("429", retry_after=7), 1).wait == 7
    assert policy(max_retry_after=3).decide(1, TransientDeliveryError("429", retry_after=60), 1).wait == 3


def test_gives_up_after_max_attempts_and_max_age() -> None:
    assert policy().decide(4, TransientDeliveryError("x"), 1).retry
    last = policy().decide(5, TransientDeliveryError("x"), 1)
    assert not last.retry and "5 attempts" in last.why
    old = policy(max_age_seconds=60).decide(1, TransientDeliveryError("x"), 61)
    assert not old.retry and "older than" in old.why


@pytest.mark.parametrize("error", [RejectedDeliveryError("400"), CredentialsError("401")])
def test_terminal_errors_are_not_retried(error: Exception) -> None:
    assert not policy().decide(1, error, 1).retry
