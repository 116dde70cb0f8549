"""The API's per-client rate limit: a moving window, answered without timer threads (issue 19).

Expected answers are worked out by hand from the configured rate and burst: ``burst`` requests per
``burst / rate`` seconds when the rate is below the burst, else ``rate`` per second.
"""

from __future__ import annotations

import threading

from gateway.auth.ratelimit import RateLimiter


def test_a_burst_then_a_wait_until_the_oldest_request_leaves_the_window() -> None:
    limiter = RateLimiter(0.5, 3)  # 3 requests per 6 seconds
    assert (limiter.limit, limiter.window) == (3, 6.0)
    assert [limiter.take("a", now=t) for t in (100.0, 101.0, 102.0)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", now=103.0) == 3.0  # the request of 100.0 leaves the window at 106.0
    assert limiter.take("b", now=103.0) == 0.0  # per client
    assert limiter.take("a", now=106.0) == 0.0
    assert limiter.take("a", now=106.5) == 0.5  # 101.0 leaves at 107.0
    assert limiter.take("a", now=112.0) == 0.0


def test_a_refused_request_is_not_counted() -> None:
    limiter = RateLimiter(1, 1)  # 1 per second
    assert limiter.take("a", now=10.0) == 0.0
    for t in (10.1, 10.2, 10.9):
        assert limiter.take("a", now=t) > 0
    assert limiter.take("a", now=11.0) == 0.0


def test_a_rate_above_the_burst_is_that_many_per_second() -> None:
    limiter = RateLimiter(50, 10)
    assert (limiter.limit, limiter.window) == (50, 1.0)
    assert all(limiter.take("a", now=5.0 + i / 1000) == 0.0 for i in range(50))
    assert limiter.take("a", now=5.5) > 0


def test_concurrent_takes_never_exceed_the_limit() -> None:
    limiter = RateLimiter(0.001, 100)  # 100 in a very long window: nothing leaves it during the test
    granted: list[float] = []

    def hammer() -> None:
        for _ in range(100):
            granted.append(limiter.take("shared"))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(0.0) == 100 and len(granted) == 400
