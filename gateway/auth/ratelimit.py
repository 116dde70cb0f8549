"""Rate limits and login throttling, as moving windows (in-process storage).

- ``RateLimiter``: per-client request rate at the API, answered with 429 and ``Retry-After``;
- ``LoginThrottle``: failed logins counted per account and per address in tiers that widen (a minute,
  an hour, a day), so a guesser is slowed down more the longer it goes on, while a refused request
  costs no password hashing and no database write;
- ``Pacer``: a blocking limiter for our own outbound requests (``destinations.<name>.rate_limit``).

All three are the ``limits`` library's moving windows in its in-process memory storage (``_Windows``):
one implementation. Counters live in the process that serves the requests (behind a load balancer
with N processes a client gets at most N times the rate); the storage forgets expired windows by itself.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute
from limits import RateLimitItemPerSecond as PerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


def _per_second(rate: float, burst: int) -> RateLimitItem:
    """``burst`` requests per window long enough to average ``rate`` per second."""
    if rate >= burst:
        return PerSecond(max(1, round(rate)))
    return PerSecond(max(1, burst), max(1, round(burst / rate)))


class _InlineExpiryStorage(MemoryStorage):
    """``limits``' memory storage, expiring old entries on the calling thread instead of a timer thread.

    The library's storage starts a ``threading.Timer`` (10 ms) whenever a hit arrives and none is
    running, to drop expired entries; under a steady stream of API requests that is a thread started
    every 10 ms, and each start waits for the new thread to run: 80-180 us per request against 8 us
    for the same moving window kept by hand (``bench/api_bench.py``, last line). Here the same expiry
    (the library's own ``__expire_events``) runs inline at most every ``sweep_every`` seconds, and the
    moving window's list per key is cut to the entries a window can look at, so the strategies, items
    and window statistics stay the library's and no thread is started."""

    def __init__(self, sweep_every: float = 1.0) -> None:
        super().__init__()
        self.timer.cancel()  # the one the constructor starts
        self._sweep_every = sweep_every
        self._swept = time.monotonic()
        self._sweeping = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # the library's private hook, replaced
        now = time.monotonic()
        if now - self._swept >= self._sweep_every and self._sweeping.acquire(blocking=False):
            try:
                self._swept = now
                self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
                for key in [k for k, events in self.events.items() if not events]:  # forget idle clients
                    with self.locks[key]:
                        if not self.events.get(key):
                            self.events.pop(key, None)
            finally:
                self._sweeping.release()

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        acquired = super().acquire_entry(key, limit, expiry, amount)
        with self.locks[key]:
            events = self.events.get(key)
            if events is not None and len(events) > 2 * limit:
                del events[limit:]  # a window of ``limit`` never looks past its ``limit`` newest entries
        return acquired


class _Windows:
    def __init__(self) -> None:
        self.storage = _InlineExpiryStorage()
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
    requests per ``window`` seconds (``_per_second``), kept by the ``limits`` library's moving-window
    strategy in its memory storage, like the login throttle and the outbound pacer below.

    A request goes ahead when fewer than ``limit`` went ahead in the last ``window`` seconds (and is
    counted); otherwise it is not counted and the wait is until the oldest of them leaves the window.
    Issue 19 had replaced this with hand-written deques because the memory storage starts a timer
    thread (every 10 ms while hits arrive) to expire entries: ``_InlineExpiryStorage`` expires them
    inline instead (issue 20, docs/performance.md, API)."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self._item = _per_second(rate, burst)
        self.limit = self._item.amount
        self.window = float(self._item.get_expiry())
        self._windows = _Windows()

    def take(self, key: str) -> float:
        """0 when the request may go ahead (and counts it); otherwise the seconds to wait."""
        if self._windows.limiter.hit(self._item, key):
            return 0.0
        return max(self._windows.wait([self._item], key), 1e-3)

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))


ACCOUNT_TIERS = (RateLimitItemPerMinute(5), RateLimitItemPerHour(20), RateLimitItemPerDay(100))
"""Failed logins for one account from one address."""
ADDRESS_TIERS = (RateLimitItemPerMinute(20), RateLimitItemPerHour(200), RateLimitItemPerDay(1000))
"""Failed logins from one address, whatever the account."""
SPREAD_TIERS = (RateLimitItemPerMinute(30), RateLimitItemPerHour(100), RateLimitItemPerDay(300))
"""Failed logins for one person's account from every address together (guessing spread over many
addresses), which addresses that logged in to the account before are not held by."""
KNOWN_ADDRESSES = 16
"""Addresses remembered per account as having logged in to it (the latest ones)."""


@dataclass(frozen=True)
class Throttled:
    wait: float
    why: str


class LoginThrottle:
    """Failed logins, counted so that someone guessing cannot lock the real holder out.

    Counted per account *and address*: five wrong secrets sent from anywhere used to hold the account
    for everyone, so anyone could keep a ministry's machine client from getting tokens with five
    requests a minute (found from outside). Per address whatever the account (one host trying many).
    And, for people's accounts only (``spread``), per account from every address together, which the
    addresses that logged in to it before are exempt from: a password guessed from many addresses is
    still held, and its owner at the usual desk still logs in. Machine clients' secrets are generated
    (256 bits), not guessed, so they have no account-wide count to be locked out by."""

    def __init__(
        self,
        account_tiers: tuple[RateLimitItem, ...] = ACCOUNT_TIERS,
        address_tiers: tuple[RateLimitItem, ...] = ADDRESS_TIERS,
        spread_tiers: tuple[RateLimitItem, ...] = SPREAD_TIERS,
    ) -> None:
        self.account_tiers = list(account_tiers)
        self.address_tiers = list(address_tiers)
        self.spread_tiers = list(spread_tiers)
        self._windows = _Windows()
        self._known: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()
        self._known_lock = threading.Lock()

    def check(self, account: str, address: str, *, spread: bool = True) -> Throttled | None:
        """Before hashing: None when this attempt may be tried."""
        waits = {
            "too many failed logins for this account from this address": self._windows.wait(
                self.account_tiers, _pair(account, address)
            ),
            "too many failed logins from this address": self._windows.wait(self.address_tiers, f"address:{address}"),
        }
        if spread and not self._is_known(account, address):
            waits["too many failed logins for this account"] = self._windows.wait(
                self.spread_tiers, f"spread:{account}"
            )
        why, wait = max(waits.items(), key=lambda item: item[1])
        return Throttled(max(wait, 1e-3), why) if wait > 0 else None

    def failed(self, account: str, address: str, *, spread: bool = True) -> None:
        for item in self.account_tiers:
            self._windows.limiter.hit(item, _pair(account, address))
        for item in self.address_tiers:
            self._windows.limiter.hit(item, f"address:{address}")
        if spread:
            for item in self.spread_tiers:
                self._windows.limiter.hit(item, f"spread:{account}")

    def succeeded(self, account: str, address: str) -> None:
        """A correct secret resets the account's count from that address (the address keeps its own)
        and makes the address known to the account."""
        for item in self.account_tiers:
            self._windows.limiter.clear(item, _pair(account, address))
        with self._known_lock:
            known = self._known.pop(account, None) or OrderedDict()
            known.pop(address, None)
            known[address] = None
            while len(known) > KNOWN_ADDRESSES:
                known.popitem(last=False)
            self._known[account] = known
            while len(self._known) > 10_000:  # bounded: the accounts that logged in last
                self._known.popitem(last=False)

    def _is_known(self, account: str, address: str) -> bool:
        with self._known_lock:
            return address in self._known.get(account, ())


def _pair(account: str, address: str) -> str:
    return f"account:{account}|{address}"


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
