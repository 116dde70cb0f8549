"""The delivery state machine: one table of allowed transitions, one function that applies them.

::

    pending ──► sending ──► delivered ──► acknowledged
       ▲           │  │          │──────► returned   (TRA_LAI from the receiver)
       └───────────┘  │          └──────► rejected   (TU_CHOI from the receiver)
     (retry later)    ├──► rejected   (4xx other than 401/403/408/425/429)
                      └──► dead       (retries exhausted, max age passed, credentials refused)
    dead, returned, rejected ──► pending   (operator replay / corrected revision)
    pending, dead, returned, rejected ──► cancelled   (an operator decides it must not be sent; audited)
"""

from __future__ import annotations

from gateway.db.models import DeliveryState as S

ALLOWED: dict[S, frozenset[S]] = {
    S.PENDING: frozenset({S.SENDING, S.DEAD, S.CANCELLED}),
    S.SENDING: frozenset({S.PENDING, S.DELIVERED, S.ACKNOWLEDGED, S.RETURNED, S.REJECTED, S.DEAD, S.SENDING}),
    S.DELIVERED: frozenset({S.ACKNOWLEDGED, S.RETURNED, S.REJECTED}),
    S.ACKNOWLEDGED: frozenset({S.RETURNED, S.ACKNOWLEDGED}),
    S.RETURNED: frozenset({S.PENDING, S.CANCELLED}),
    S.REJECTED: frozenset({S.PENDING, S.CANCELLED}),
    S.DEAD: frozenset({S.PENDING, S.CANCELLED}),
    S.CANCELLED: frozenset(),
}

TERMINAL_OK = frozenset({S.ACKNOWLEDGED})
WAITING = frozenset({S.PENDING, S.SENDING})


class IllegalTransition(ValueError):
    def __init__(self, current: S, target: S) -> None:
        super().__init__(f"delivery cannot go from {current.value} to {target.value}")


def check(current: S, target: S) -> None:
    if target not in ALLOWED[current]:
        raise IllegalTransition(current, target)
