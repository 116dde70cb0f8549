"""Rate limits and login throttling, as moving windows (in-process storage).

- ``RateLimiter``: per-client request rate at the API, answered with 429 and ``Retry-After`` (its own
  timestamp deques: it runs on every API request);
- ``LoginThrottle``: failed logins counted per account and per address in tiers that widen (a minute,
  an hour, a day), so a guesser is slowed down more the longer it goes on, while a refused request
  costs no password hashing and no database write;
- ``Pacer``: a blocking limiter for our own outbound requests (``destinations.<name>.rate_limit``).

Counters live in the process that serves the requests (behind a load balancer with N processes a
client gets at most N times the rate); the storage forgets expired windows by itself.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute
from limits import RateLimitItemPerSecond as PerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

MAX_KEYS = 100_000


def _per_second(rate: float, burst: int) -> RateLimitItem:
    """``burst`` requests per window long enough to average ``rate`` per second."""
    if rate >= burst:
        return PerSecond(max(1, round(rate)))
    return PerSecond(max(1, burst), max(1, round(burst / rate)))


class _Windows:
    def __init__(self) -> None:
        self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)

    def wait(self, items: list[RateLimitItem], key: str) -> float:
        """Seconds until every window has room for ``key`` (0 when it has now)."""
        now = time.time()
        wait = 0.0
        for item in items:
            if not self.limiter.test(item, key):
                wait = max(wait, self.limiter.get_window_stats(item, key).reset_time - now)
        return max(0.0, wait)


class RateLimiter:
    """Per-key steady rate with a burst (the API's per-client limit): a moving window of ``limit``
    requests per ``window`` seconds, the same windows ``_per_second`` gives the ``limits`` library.

    Kept in a deque of timestamps per key instead of ``limits``' memory storage: that storage starts a
    timer thread every 10 ms to expire entries and inserts each hit at the front of a list, which on
    every API request cost more than the route itself (issue 19). Same answers: a request goes ahead
    when fewer than ``limit`` went ahead in the last ``window`` seconds; otherwise the wait is until
    the oldest of them leaves the window."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self._item = _per_second(rate, burst)
        self.limit = self._item.amount
        self.window = float(self._item.get_expiry())
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, *, now: float | None = None) -> float:
        """0 when the request may go ahead (and counts it); otherwise the seconds to wait."""
        at = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= MAX_KEYS:
                    self._forget(at)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= at - self.window:
                hits.popleft()
            if len(hits) < self.limit:
                hits.append(at)
                return 0.0
            return max(hits[0] + self.window - at, 1e-3)

    def _forget(self, at: float) -> None:
        """Drop keys with nothing in their window (bounded memory under many clients)."""
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= at - self.window]:
            del self._hits[key]

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))


ACCOUNT_TIERS = (RateLimitItemPerMinute(5), RateLimitItemPerHour(20), RateLimitItemPerDay(100))
ADDRESS_TIERS = (RateLimitItemPerMinute(20), RateLimitItemPerHour(200), RateLimitItemPerDay(1000))


@dataclass(frozen=True)
class Throttled:
    wait: float
    why: str


class LoginThrottle:
    """Failed logins per account and per address; each tier that fills makes the caller wait for it."""

    def __init__(
        self,
        account_tiers: tuple[RateLimitItem, ...] = ACCOUNT_TIERS,
        address_tiers: tuple[RateLimitItem, ...] = ADDRESS_TIERS,
    ) -> None:
        self.account_tiers = list(account_tiers)
        self.address_tiers = list(address_tiers)
        self._windows = _Windows()

    def check(self, account: str, address: str) -> Throttled | None:
        """Before hashing: None when this attempt may be tried."""
        by_account = self._windows.wait(self.account_tiers, f"account:{account}")
        by_address = self._windows.wait(self.address_tiers, f"address:{address}")
        if by_account <= 0 and by_address <= 0:
            return None
        why = "too many failed logins for this account" if by_account >= by_address else "from this address"
        why = why if by_account >= by_address else "too many failed logins from this address"
        return Throttled(max(by_account, by_address, 1e-3), why)

    def failed(self, account: str, address: str) -> None:
        for item in self.account_tiers:
            self._windows.limiter.hit(item, f"account:{account}")
        for item in self.address_tiers:
            self._windows.limiter.hit(item, f"address:{address}")

    def succeeded(self, account: str) -> None:
        """A correct password resets the account's count (the address keeps its own)."""
        for item in self.account_tiers:
            self._windows.limiter.clear(item, f"account:{account}")


class Pacer:
    """At most ``rate`` requests per second, bursts of up to ``rate`` (at least 1); ``acquire`` blocks."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._item = PerSecond(max(1, round(rate))) if rate >= 1 else PerSecond(1, max(1, round(1 / rate)))
        self._windows = _Windows()

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self._windows.limiter.hit(self._item, "pace"):
                return True
            wait = max(self._windows.wait([self._item], "pace"), 0.001)
            if time.monotonic() + wait > deadline:
                return False
            time.sleep(wait)
