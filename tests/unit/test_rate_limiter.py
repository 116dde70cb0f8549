"""The API's per-client rate limit: a moving window kept by the ``limits`` library (issue 20: one
limiter implementation, not a hand-written deque beside the library's).

Expected answers are worked out by hand from the configured rate and burst: ``burst`` requests per
``burst / rate`` seconds (whole seconds) when the rate is below the burst, else ``rate`` per second.
The windows are real time, so the waits are bounded rather than exact.
"""

from __future__ import annotations

import threading
import time

from gateway.auth.ratelimit import RateLimiter


def test_a_burst_then_a_wait_until_the_oldest_request_leaves_the_window() -> None:
    limiter = RateLimiter(3, 3)  # 3 requests per second
    assert (limiter.limit, limiter.window) == (3, 1.0)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert 0 < wait <= 1.0  # until the first of the three leaves the window
    assert limiter.take("b") == 0.0  # per client
    time.sleep(wait + 0.05)
    assert limiter.take("a") == 0.0
    assert RateLimiter.retry_after(wait) == "1"


def test_a_long_window_from_a_slow_rate_and_a_burst() -> None:
    limiter = RateLimiter(0.5, 3)  # 3 requests per 6 seconds
    assert (limiter.limit, limiter.window) == (3, 6.0)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert 5.0 < limiter.take("a") <= 6.0
    assert RateLimiter.retry_after(limiter.take("a")) == "6"


def test_a_refused_request_is_not_counted() -> None:
    limiter = RateLimiter(1, 1)  # 1 per second
    assert limiter.take("a") == 0.0
    for _ in range(5):  # refused: these must not push the window further out
        assert limiter.take("a") > 0
    time.sleep(1.05)
    assert limiter.take("a") == 0.0


def test_a_rate_above_the_burst_is_that_many_per_second() -> None:
    limiter = RateLimiter(50, 10)
    assert (limiter.limit, limiter.window) == (50, 1.0)
    assert all(limiter.take("a") == 0.0 for _ in range(50))
    assert limiter.take("a") > 0


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


def test_no_thread_is_started_and_a_key_keeps_at_most_its_window() -> None:
    """``limits``' own memory storage started a timer thread every 10 ms while requests arrived (80-180 us
    per request); the limiter's storage expires entries inline, and a client's list stays bounded."""
    limiter = RateLimiter(1000, 10)  # 1,000 per second
    before = {t.ident for t in threading.enumerate()}
    granted = 0
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        granted += limiter.take("a") == 0.0
        time.sleep(0.001)
    assert {t.ident for t in threading.enumerate()} - before == set()  # none started
    assert granted > 50
    assert len(limiter._windows.storage.events["LIMITER/a/1000/1/second"]) <= 2 * limiter.limit


def test_expired_clients_are_forgotten() -> None:
    limiter = RateLimiter(1, 1)
    limiter._windows.storage._sweep_every = 0.0  # sweep on every hit
    assert limiter.take("gone") == 0.0
    time.sleep(1.1)
    assert limiter.take("other") == 0.0  # this hit sweeps: "gone"'s entry has expired
    assert [k for k in limiter._windows.storage.events if "gone" in k] == []
