"""Which observations no regime will ever send, and why.

An observation belongs to the regime its mapping names. The scheduler produces a regime's periods of
its own frequency whose data window ends on or after the regime's ``start``; an observation of any
other period (before the start, of another frequency, or of a regime that is not defined) is stored
but never sent. Issue 16 found 1,332 such values in the example workbook, silently. They are
counted at ingest and listed with ``gateway quarantine list`` and on the dashboard's quarantine page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.calendar import WorkingCalendar
from gateway.calendar.regimes import RegimeDef, load_regime, run_for
from gateway.db.models import Observation, unsent
from gateway.errors import ConfigurationError
from gateway.ingest_runs import visible_observation

WEEKDAYS = WorkingCalendar(public_holidays=False)
"""Whether a period is sent depends on its data window, never on its deadline: the public holidays
(the ``holidays`` package imports every country's module, 0.2-0.6 s, issue 19) are not needed here."""


@dataclass(frozen=True)
class Outside:
    """Why no regime sends a value: ``kind`` (``before_start``, ``other_frequency``, ``no_regime``)
    and what the message needs, so the dashboard can say it in Vietnamese and the CLI in English."""

    kind: str
    regime: str
    period: str
    detail: str = ""

    def __str__(self) -> str:
        if self.kind == "before_start":
            return f"{self.period} is before the start of {self.regime} ({self.detail})"
        if self.kind == "other_frequency":
            return f"{self.regime} reports {self.detail} periods, not {self.period}"
        return f"no regime {self.regime} is defined in mappings/regimes"


def outside_regime(regime_code: str, period_key: str) -> Outside | None:
    """Why no regime sends values of ``period_key`` under ``regime_code``; None when one does."""
    try:
        regime = load_regime(regime_code)
    except ConfigurationError:
        return Outside("no_regime", regime_code, period_key)
    return outside(regime, period_key)


def outside(regime: RegimeDef, period_key: str) -> Outside | None:
    """Why ``regime`` never sends values of ``period_key``; None when it does. The report builder asks
    the same question, so what ingest counts as never sent is exactly what is never built."""
    try:
        run = run_for(regime, period_key, WEEKDAYS)
    except (ConfigurationError, ValueError, IndexError):
        return Outside("other_frequency", regime.code, period_key, regime.frequency)
    if run.period.end < regime.start:
        return Outside("before_start", regime.code, period_key, regime.start.isoformat())
    return None


@dataclass(frozen=True)
class OutsideGroup:
    regime: str
    period: str
    values: int
    why: Outside

    @property
    def reason(self) -> str:
        return str(self.why)


def unsent_outside(session: Session) -> list[OutsideGroup]:
    """Stored, unsent observations that no regime will send, by regime and period (a few rows: the
    grouping is done by the database)."""
    rows = session.execute(
        select(Observation.regime_code, Observation.period_key, func.count())
        .where(unsent(), visible_observation())
        .group_by(Observation.regime_code, Observation.period_key)
    ).all()
    out = []
    for regime, period, count in rows:
        why = outside_regime(regime, period)
        if why is not None:
            out.append(OutsideGroup(regime, period, int(count), why))
    # Here, not at the top: reconciliation imports the whole packet layer, which an ingest never needs.
    from gateway.reconciliation.report import period_order

    return sorted(out, key=lambda g: (g.regime, period_order(g.period)))
