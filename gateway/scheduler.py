"""The scheduler: for each regime, build and enqueue each report when its push date comes.

Safe to run twice: a run is one row in ``scheduled_runs`` with a unique (regime, period) key,
written in the same transaction as the packets it builds, so two schedulers never produce two reports
for one run (the loser's transaction fails on the key and rolls back, building nothing). After
downtime it executes every run it missed, oldest first, and flags those already past their deadline
as late. A run with no observations is recorded too ("no data"), so a missing report is visible.

Data that comes after its period's run (a district reporting late, an empty first run) is not left
behind: every tick also builds the reports of executed runs that were never built (no packet, no
approval draft) and now have observations, adds them to the run's record and audits them. A report
already sent is not built again here: an ingest that changes it queues its correction itself.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import audit
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import RegimeDef, Run, all_regimes, regime_path, runs
from gateway.clock import VN_TZ
from gateway.db.models import ScheduledRun
from gateway.errors import ConfigurationError
from gateway.ingest_runs import recover
from gateway.reports import BuiltPacket, build_in_session, reports_built, waiting_reports
from gateway.reports.kpis import BuiltKpis, build_kpi_data
from gateway.reports.lists import scheduled_lists
from gateway.reports.routing import check_routes

log = logging.getLogger(__name__)
NO_OBSERVATIONS = "no observations for this period"
SWEEP_OVERLAP = timedelta(hours=1)
"""How far before the last sweep an ingest run may have finished and still be looked at by the next:
a run stamps its finish before it commits, so one committing while a sweep reads is not missed."""


@dataclass(frozen=True)
class RunResult:
    regime: str
    period_key: str
    packets: int
    late: bool
    note: str | None


class Scheduler:
    def __init__(self, gateway: Gateway, regimes: list[RegimeDef] | None = None, *, name: str = "scheduler") -> None:
        self.gateway = gateway
        self.regimes = regimes if regimes is not None else all_regimes()
        self.name = name
        self._swept_at: datetime | None = None  # when this process last looked for late data (``late_data``)
        if gateway.settings.destinations:
            # At start-up, not at the first due run: a regime routed to a destination that is not
            # configured is a configuration error naming the regime's file.
            check_routes(
                [(r.code, r.destinations, regime_path(r.code)) for r in self.regimes], gateway.settings.destinations
            )

    def today(self) -> date:
        return self.gateway.clock.now().astimezone(VN_TZ).date()

    def due(self, today: date | None = None) -> list[tuple[RegimeDef, Run]]:
        """Runs whose push date has come, from each regime's start, oldest first."""
        today = today or self.today()
        out: list[tuple[RegimeDef, Run]] = []
        for regime in self.regimes:
            for year in range(regime.start.year, today.year + 1):
                out.extend(
                    (regime, run)
                    for run in runs(regime, year)
                    if run.period.end >= regime.start and run.push_on <= today
                )
        return sorted(out, key=lambda rr: (rr[1].push_on, rr[0].code))

    def tick(self) -> list[RunResult]:
        """Execute every due run not executed yet (by us or anyone)."""
        from gateway import metrics

        metrics.SCHEDULER_TICK.set(time.time())
        # An ingest killed mid-run left invisible rows: clean them up here too, not only at the next ingest.
        recover(self.gateway.sessions, self.gateway.clock, lease_seconds=self.gateway.settings.ingest.lease_seconds)
        today = self.today()
        with self.gateway.sessions() as session:
            done = {(r, k) for r, k in session.execute(select(ScheduledRun.regime_code, ScheduledRun.period_key))}
        results = []
        lag = 0.0
        for regime, run in self.due(today):
            if (regime.code, run.key) in done:
                continue
            lag = max(lag, float((today - run.push_on).days * 86400))
            result = self.execute(regime, run, today)
            if result is not None:
                results.append(result)
        results.extend(self.late_data(done))
        metrics.SCHEDULER_LAG.set(lag)
        return results

    def late_data(self, done: set[tuple[str, str]]) -> list[RunResult]:
        """Build the never-built reports of runs executed before this tick that have observations now.

        Only runs executed before this tick (``done``): a run executed now has just built everything it
        had. A report held for approval or returned by an approver is left to that workflow.

        Data comes after a run only through an ingest that completes after it, so after this process's
        first sweep (every executed period) a tick looks only at observations of ingest runs finished
        since the last sweep, less ``SWEEP_OVERLAP`` for a run that committed while the sweep read: an
        idle tick read every observation of every executed period (0.55 s for a national month of
        996,300 values, growing with every month kept)."""
        from gateway.db.models import IngestRun, Observation, unsent
        from gateway.ingest_runs import visible_observation

        started, since = self.gateway.clock.now(), self._swept_at
        recent: list[int] = []
        if since is not None:
            with self.gateway.sessions() as session:
                recent = list(
                    session.scalars(select(IngestRun.id).where(IngestRun.finished_at >= since - SWEEP_OVERLAP))
                )
            if not recent:  # no ingest finished since: nothing can have come late (one small query a tick)
                self._swept_at = started
                return []
        results = []
        for regime in self.regimes:
            periods = sorted(k for r, k in done if r == regime.code)
            if not periods:
                continue
            pending = [Observation.regime_code == regime.code, Observation.period_key.in_(periods), unsent()]
            if since is not None:
                pending.append(Observation.ingest_run_id.in_(recent))
            with self.gateway.sessions() as session:
                keys = session.execute(waiting_reports([*pending, visible_observation()])).all()
                if not keys:
                    continue
                built_before = reports_built(session, regime.code, {k.period_key for k in keys})
            # Only periods with a report never built: observations held by a draft, or left by a
            # correction that could not be built, are not this sweep's (and cost no build each tick).
            waiting = sorted({k.period_key for k in keys if tuple(k) not in built_before})
            for period_key in waiting:
                result = self._build_late(regime, period_key, built_before)
                if result is not None:
                    results.append(result)
        self._swept_at = started
        return results

    def _build_late(
        self, regime: RegimeDef, period_key: str, built_before: set[tuple[str, str, str]]
    ) -> RunResult | None:
        gw = self.gateway
        now = gw.clock.now()
        actor = f"scheduler:{self.name}"
        try:
            with gw.sessions.begin() as session:
                built = self._reports(session, regime, period_key, actor, never_built_only=True)
                if not built:
                    return None
                units = {u for _, p, u in built_before if p == period_key}
                kpis = self._kpis(
                    session,
                    regime,
                    period_key,
                    actor,
                    self._units_without_kpis(session, regime.code, period_key, units),
                )
                record = session.scalars(
                    select(ScheduledRun).where(
                        ScheduledRun.regime_code == regime.code, ScheduledRun.period_key == period_key
                    )
                ).one()
                local = now.astimezone(VN_TZ)
                late = local.date() > record.deadline
                record.packets = (record.packets or 0) + len(built)
                when = local.isoformat(timespec="minutes")  # with its offset, as every time the CLI shows
                note = f"{when}: {len(built)} report(s) built from data that came after the run"
                if kpis:
                    note += f", KPI data: {len(kpis)} packet(s)"
                # "No observations" was true when the run executed, not now that its reports are built.
                kept = [n for n in (record.note or "").split("; ") if n and not n.startswith(NO_OBSERVATIONS)]
                record.note = "; ".join([*kept, note])[-2000:]
                audit.record(
                    session,
                    at=now,
                    actor=actor,
                    action="schedule.late_data",
                    subject=f"run:{regime.code}:{period_key}",
                    detail={
                        "packets": [b.packet_id for b in built][:100],
                        "reports": len(built),
                        "kpi_packets": len(kpis),
                        "late": late,
                        "deadline": record.deadline.isoformat(),
                    },
                )
        except IntegrityError:
            return None  # another scheduler built these reports first
        gw.publish([d for b in built for d in b.delivery_ids] + [d for k in kpis for d in k.delivery_ids])
        log.warning(
            "run %s %s: %d report(s) built from data that came after the run%s",
            regime.code,
            period_key,
            len(built),
            " (after its deadline)" if late else "",
        )
        return RunResult(regime.code, period_key, len(built), late, note)

    def _reports(
        self, session: Session, regime: RegimeDef, period_key: str, actor: str, *, never_built_only: bool = False
    ) -> list[BuiltPacket]:
        gw = self.gateway
        return build_in_session(
            session,
            regime,
            sender=gw.settings.sender,
            destinations=gw.settings.destinations,
            sealer=gw.sealer,
            clock=gw.clock,
            actor=actor,
            period_key=period_key,
            build_workers=gw.settings.reports.build_workers,
            never_built_only=never_built_only,
        )

    def _kpis(
        self, session: Session, regime: RegimeDef, period_key: str, actor: str, units: set[str] | None = None
    ) -> list[BuiltKpis]:
        """The period's KPI data; none for a regime that needs approval (it waits for a person too:
        ``reports send-kpis``)."""
        if regime.approval.required:
            return []
        gw = self.gateway
        return build_kpi_data(
            session,
            regime,
            period_key,
            sender=gw.settings.sender,
            destinations=gw.settings.destinations,
            sealer=gw.sealer,
            clock=gw.clock,
            actor=actor,
            units=units,
        )

    @staticmethod
    def _nothing_built(session: Session, regime: RegimeDef, period_key: str) -> str:
        """Why a run built no report: no observations at all, or every one already in a packet (a report
        sent by hand before the push date); the run said "no observations" for both."""
        from sqlalchemy import exists

        from gateway.db.models import Observation
        from gateway.ingest_runs import visible_observation

        held = session.scalar(
            select(
                exists().where(
                    Observation.regime_code == regime.code,
                    Observation.period_key == period_key,
                    visible_observation(),
                )
            )
        )
        if held:
            return "nothing new to send: every observation of the period is already in a report packet"
        return f"{NO_OBSERVATIONS}: nothing was sent"

    @staticmethod
    def _units_without_kpis(session: Session, regime_code: str, period_key: str, sent: set[str]) -> set[str]:
        """Reporting units of the period with no KPI data packet yet: the units the sweep just built
        reports for (those whose earlier reports went out had their KPI data built with them)."""
        from gateway.db.models import Packet
        from gateway.packets.model import PacketType

        with_kpis = set(
            session.scalars(
                select(Packet.reporting_unit).where(
                    Packet.packet_type == PacketType.DU_LIEU_CHI_SO.value,
                    Packet.regime_code == regime_code,
                    Packet.period_key == period_key,
                )
            )
        )
        units = {
            u
            for u in session.scalars(
                select(Packet.reporting_unit).where(
                    Packet.packet_type == PacketType.SO_LIEU_BAO_CAO.value,
                    Packet.regime_code == regime_code,
                    Packet.period_key == period_key,
                )
            )
            if u
        }
        return (units - with_kpis) - sent

    def execute(self, regime: RegimeDef, run: Run, today: date) -> RunResult | None:
        gw = self.gateway
        now = gw.clock.now()
        late = today > run.deadline
        try:
            with gw.sessions.begin() as session:
                record = ScheduledRun(
                    regime_code=regime.code,
                    period_key=run.key,
                    deadline=run.deadline,
                    push_on=run.push_on,
                    executed_at=now,
                    executed_by=self.name,
                    late=late,
                )
                session.add(record)
                session.flush()  # claims the run: a second scheduler fails here and builds nothing
                built = self._reports(session, regime, run.key, f"scheduler:{self.name}")
                kpis = self._kpis(session, regime, run.key, f"scheduler:{self.name}")
                # List-type reports the regime declares (lists:), read from their files for the period.
                lists, list_notes = scheduled_lists(session, gw, regime, run, actor=f"scheduler:{self.name}")
                record.packets = len(built)
                notes = [] if built else [self._nothing_built(session, regime, run.key)]
                if kpis:
                    notes.append(f"KPI data: {len(kpis)} packet(s), SO_BO")
                if lists:
                    notes.append(f"list reports: {len(lists)} packet(s)")
                record.note = "; ".join(notes + list_notes)[:2000] or None
                audit.record(
                    session,
                    at=now,
                    actor=f"scheduler:{self.name}",
                    action="schedule.run",
                    subject=f"run:{regime.code}:{run.key}",
                    detail={
                        "packets": len(built),
                        "kpi_packets": len(kpis),
                        "list_packets": len(lists),
                        "not_sent": list_notes,
                        "late": late,
                        "deadline": run.deadline.isoformat(),
                    },
                )
        except IntegrityError:
            return None  # another scheduler executed this run first
        gw.publish(
            [d for b in built for d in b.delivery_ids]
            + [d for k in kpis for d in k.delivery_ids]
            + [d for sent in lists for d in sent.delivery_ids]
        )
        if late:
            log.warning("run %s %s executed after its deadline %s: flagged late", regime.code, run.key, run.deadline)
        return RunResult(regime.code, run.key, len(built), late, record.note)

    def loop(self, stop: threading.Event, interval: float = 60.0) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except ConfigurationError as exc:  # a missing signing key: say what, not a traceback a minute
                log.error("scheduler tick stopped: %s; trying again in %.0f s", exc, interval)
            except Exception as exc:
                from gateway.db.engine import unreachable

                down = unreachable(exc, self.gateway.engine.url)
                if down is None:
                    log.exception("scheduler tick failed; trying again in %.0f s", interval)
                else:  # an expected condition: one line a tick, no traceback (nothing is lost: runs catch up)
                    log.error("database %s; no run executes until it answers, trying again in %.0f s", down, interval)
            stop.wait(interval)


@dataclass(frozen=True)
class Due:
    """A deadline ahead, and whether the scheduler has already run that period."""

    regime: str
    period: str
    deadline: date
    push_on: date
    done: bool


def upcoming(session: Session, now: datetime, days: int = 45) -> list[Due]:
    """Every regime's deadlines from today to ``days`` ahead, earliest first."""
    today = now.astimezone(VN_TZ).date()
    horizon = today + timedelta(days=days)
    done = {(r, k) for r, k in session.execute(select(ScheduledRun.regime_code, ScheduledRun.period_key))}
    found = [
        Due(regime.code, run.key, run.deadline, run.push_on, (regime.code, run.key) in done)
        for regime in all_regimes()
        for year in sorted({today.year, horizon.year})
        for run in runs(regime, year)
        if today <= run.deadline <= horizon
    ]
    return sorted(found, key=lambda d: (d.deadline, d.regime))
