"""Which observations no regime will ever send, and why.

An observation belongs to the regime its mapping names. The scheduler produces a regime's periods of
its own frequency whose data window ends on or after the regime's ``start``; an observation of any
other period (before the start, of another frequency, or of a regime that is not defined) is stored
but never sent. Issue 16 found 1,332 such values in the example workbook, silently. They are
counted at ingest and listed with ``gateway quarantine list`` and on the dashboard's quarantine page.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.calendar.regimes import load_regime, run_for
from gateway.db.models import Observation
from gateway.errors import ConfigurationError
from gateway.ingest_runs import visible_observation
from gateway.reconciliation.report import period_order


@cache
def outside_regime(regime_code: str, period_key: str) -> str | None:
    """Why no regime sends values of ``period_key`` under ``regime_code``; None when one does."""
    try:
        regime = load_regime(regime_code)
    except ConfigurationError:
        return f"no regime {regime_code} is defined in mappings/regimes"
    try:
        run = run_for(regime, period_key)
    except (ConfigurationError, ValueError, IndexError):
        return f"{regime_code} reports {regime.frequency} periods, not {period_key}"
    if run.period.end < regime.start:
        return f"{period_key} is before the start of {regime_code} ({regime.start.isoformat()})"
    return None


@dataclass(frozen=True)
class OutsideGroup:
    regime: str
    period: str
    values: int
    reason: str


def unsent_outside(session: Session) -> list[OutsideGroup]:
    """Stored, unsent observations that no regime will send, by regime and period (a few rows: the
    grouping is done by the database)."""
    rows = session.execute(
        select(Observation.regime_code, Observation.period_key, func.count())
        .where(Observation.packet_id.is_(None), visible_observation())
        .group_by(Observation.regime_code, Observation.period_key)
    ).all()
    out = []
    for regime, period, count in rows:
        reason = outside_regime(regime, period)
        if reason is not None:
            out.append(OutsideGroup(regime, period, int(count), reason))
    return sorted(out, key=lambda g: (g.regime, period_order(g.period)))
