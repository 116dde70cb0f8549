"""HTTP conventions shared by the reader of the provincial API and the gateway's connectors.

Here rather than in ``gateway/`` because the adapters depend on nothing in the service; the
connectors (``gateway.connectors.http``) import it from here.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)
