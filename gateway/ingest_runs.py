"""The life of an ingest run: ``running`` -> ``completed`` | ``failed`` (or ``unchanged``).

Why runs commit in batches: on SQLite one write transaction locks the whole database, and reading a
large workbook takes minutes; an ingest in one transaction stalled every delivery for that long. So a
run commits its observations in short batches, and what it has committed stays invisible
(``visible_observation``) until the run completes. A run that fails removes its rows; a run whose
process died (SIGKILL, power loss) is found by the next ingest or scheduler tick, either because its
process is gone from this host or because its heartbeat is older than the lease, and is failed and
cleaned up the same way.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway import audit
from gateway.clock import Clock, as_utc
from gateway.db.models import UNFINISHED_INGEST, IngestRun, IngestState, Observation, ObservationLink, QuarantineRecord

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60.0


def visible_observation() -> ColumnElement[bool]:
    """Observations anyone may use: not of a run that is still running (or failed)."""
    return Observation.ingest_run_id.not_in(select(IngestRun.id).where(IngestRun.state.in_(UNFINISHED_INGEST)))


def visible_quarantine() -> ColumnElement[bool]:
    """Quarantine records anyone may see: of no run, or of a finished one."""
    return or_(
        QuarantineRecord.ingest_run_id.is_(None),
        QuarantineRecord.ingest_run_id.not_in(select(IngestRun.id).where(IngestRun.state.in_(UNFINISHED_INGEST))),
    )


def this_process() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs on this host (a zombie, killed but not yet reaped, is not running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


class Heartbeat:
    """Refreshes a running run's ``heartbeat_at`` from a thread, so a slow reader (a large workbook
    being parsed, an API honouring ``Retry-After``) is never mistaken for a dead one."""

    def __init__(self, sessions: sessionmaker[Session], run_id: int, clock: Clock, interval: float) -> None:
        self.sessions, self.run_id, self.clock, self.interval = sessions, run_id, clock, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"ingest-{run_id}-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.sessions.begin() as session:
                    session.execute(
                        update(IngestRun)
                        .where(IngestRun.id == self.run_id, IngestRun.state == IngestState.RUNNING.value)
                        .values(heartbeat_at=self.clock.now())
                    )
            except Exception:  # a busy database delays one beat; the lease allows for several
                log.warning("ingest run %d: heartbeat not recorded", self.run_id, exc_info=True)


def fail(
    sessions: sessionmaker[Session], run_id: int, error: str, clock: Clock, *, actor: str = "system"
) -> tuple[int, int]:
    """Mark the run failed and remove what it stored; returns (observations, quarantine records) removed."""
    with sessions.begin() as session:
        return _fail_in(session, run_id, error, clock.now(), actor)


def _fail_in(session: Session, run_id: int, error: str, now: datetime, actor: str) -> tuple[int, int]:
    # A running or failed run's values are never built into a packet, so this finds no link; it is
    # here because ``observation_links`` has no foreign key to refuse a dangling one (migration 0014).
    session.execute(
        delete(ObservationLink).where(
            ObservationLink.observation_id.in_(select(Observation.id).where(Observation.ingest_run_id == run_id))
        )
    )
    observations = _rowcount(session.execute(delete(Observation).where(Observation.ingest_run_id == run_id)))
    quarantined = _rowcount(session.execute(delete(QuarantineRecord).where(QuarantineRecord.ingest_run_id == run_id)))
    session.execute(
        update(IngestRun)
        .where(IngestRun.id == run_id)
        .values(state=IngestState.FAILED.value, error=error[:4000], finished_at=now)
    )
    audit.record(
        session,
        at=now,
        actor=actor,
        action="ingest.failed",
        subject=f"ingest:{run_id}",
        detail={"error": error[:500], "removed_observations": observations, "removed_quarantine": quarantined},
    )
    return observations, quarantined


def _rowcount(result: object) -> int:
    """Rows a DML statement touched (``CursorResult.rowcount``; typed as a plain ``Result``)."""
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Abandoned:
    """A run found unfinished and cleaned up."""

    run_id: int
    source: str
    why: str
    removed_observations: int
    removed_quarantine: int

    def describe(self) -> str:
        return (
            f"ingest run {self.run_id} ({self.source}) was found unfinished ({self.why}): "
            f"{self.removed_observations} observation(s) and {self.removed_quarantine} quarantine record(s) "
            "it had stored were removed; read the source again"
        )


def _why_abandoned(run: IngestRun, now: datetime, lease: float, host: str) -> str | None:
    beat = as_utc(run.heartbeat_at or run.started_at)
    if run.host == host and run.pid is not None and run.pid != os.getpid() and not process_alive(run.pid):
        return f"its process {run.pid} on {host} is gone"
    if now - beat > timedelta(seconds=lease):
        return f"no heartbeat since {beat.isoformat(timespec='seconds')}, lease {lease:g} s"
    return None


def recover(
    sessions: sessionmaker[Session],
    clock: Clock,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    actor: str = "system",
) -> list[Abandoned]:
    """Fail and clean up every run whose process died. Cheap when there is none (one indexed query)."""
    now = as_utc(clock.now())
    host, _ = this_process()
    found: list[Abandoned] = []
    with sessions() as session:
        running = list(session.scalars(select(IngestRun).where(IngestRun.state == IngestState.RUNNING.value)))
        session.expunge_all()
    for run in running:
        why = _why_abandoned(run, now, lease_seconds, host)
        if why is None:
            continue
        with sessions.begin() as session:
            # Claimed by a conditional update: two recoverers never clean one run twice.
            claimed = _rowcount(
                session.execute(
                    update(IngestRun)
                    .where(IngestRun.id == run.id, IngestRun.state == IngestState.RUNNING.value)
                    .values(state=IngestState.FAILED.value)
                )
            )
            if not claimed:
                continue
            removed = _fail_in(session, run.id, f"found unfinished: {why}", now, actor)
        log.warning("ingest run %d (%s) found unfinished (%s): its rows were removed", run.id, run.source, why)
        found.append(Abandoned(run.id, run.source, why, *removed))
    return found
