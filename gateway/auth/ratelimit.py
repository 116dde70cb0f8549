"""Per-client token buckets: a steady rate with a burst, answered with 429 and ``Retry-After``.

Buckets live in the API process (each process limits what it serves; behind a load balancer with N
processes a client gets at most N times the rate). Idle buckets are forgotten, so memory is bounded
by the number of clients active in the last few minutes.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, idle_seconds: float = 300.0):
        self.rate = rate
        self.burst = burst
        self.idle = idle_seconds
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()

    def take(self, key: str) -> float:
        """0 when the request may go ahead; otherwise the seconds to wait before the next one."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) / self.rate
            if now - self._last_sweep > self.idle:
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.idle}
                self._last_sweep = now
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
