"""Reports read and sealed by forked worker processes while the builder stores and links them.

Building a period's reports is CPU work in Python (read the rows, write the document, validate,
sign) followed by a little writing (the packet, its deliveries, the observation links). On one
process the second core of a 2-core node sat idle for the whole build (issue 19: 24 s of the
national load on SQLite, 57 s on PostgreSQL). Here, worker processes forked from the builder each
read and seal whole reports; the builder, which holds the run's transaction, stores what they send
back, in report order, in batches, so the run stays one transaction and its outcome is the same as
a build on one process.

Why it is safe:

- a worker only reads: the observations (committed by their ingest runs before the build started;
  a report is read by one worker only) and the latest revision of its own report. SQLite's WAL and
  PostgreSQL's MVCC let readers run beside the builder's open write transaction;
- a worker is forked after the builder has everything it needs (keys, profile, signing key), so
  nothing is loaded twice; it drops the pooled connections it inherited (SQLAlchemy's documented
  rule for a forked child) and opens its own;
- at most ``2 x workers`` sealed reports wait for the builder, so memory stays bounded by a few
  reports, not by the period;
- any failure in a worker sends the report back unbuilt, and the builder builds it itself: its error
  (an invalid figure, a missing key) is raised exactly as in a build on one process.

Not used when a report must wait for approval (holding a draft writes), when packets are
time-stamped (the TSA client's connections are not to be shared by forked processes), or where
``fork`` does not exist.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.pool import AsyncResult
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

WORKER_SILENCE_SECONDS = 300.0
"""How long the builder waits for one report from a worker (a report of the national load takes about
a second) before it stops the workers and builds the rest itself: a forked child can hang on a lock
another thread of a multi-threaded parent (``gateway run``) held when it forked."""

AUTO_FROM_REPORTS = 8
"""With ``reports.build_workers = 0``: a period with fewer reports than this is built on one process
(starting workers costs more than it saves for a handful of small reports)."""

Key = TypeVar("Key")
Made = TypeVar("Made")


def workers_for(setting: int, reports: int) -> int:
    """How many worker processes build ``reports`` reports: the setting, or with 0 one per core this
    process may run on (``taskset`` counts) for a period of ``AUTO_FROM_REPORTS`` reports or more;
    never more than the reports; 1 means the builder works alone."""
    if not hasattr(os, "fork"):
        return 1
    if setting == 0:
        if reports < AUTO_FROM_REPORTS:
            return 1
        try:
            setting = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            setting = os.cpu_count() or 1
    return max(1, min(setting, reports))


class _Job(Generic[Key, Made]):
    """What the forked workers inherit (nothing of it is pickled; a task is an index)."""

    def __init__(self, engine: Engine, keys: Sequence[Key], make: Callable[[Session, Key], Made]):
        self.engine, self.keys, self.make = engine, keys, make
        self.sessions: sessionmaker[Session] | None = None


_JOB: _Job[Any, Any] | None = None
_INHERITED: list[object] = []


def _worker_start() -> None:
    """In a forked worker: the builder's pooled connections are not ours (nor its transaction), so
    the engine gets a pool of its own. The inherited pool is kept, never closed nor collected: closing
    an inherited SQLite handle would drop this process's own locks on the file, and closing a
    PostgreSQL one would end the builder's session on the server. Workers leave by ``os._exit``.

    A worker's sessions read in autocommit (each statement its own snapshot): on SQLite an ORM
    session opens ``BEGIN IMMEDIATE`` under the process's write lock, which the builder held when it
    forked us (and holds on the file until its run commits)."""
    job = _JOB
    assert job is not None
    _INHERITED.append(job.engine.pool)
    job.engine.dispose(close=False)
    job.sessions = sessionmaker(bind=job.engine.execution_options(isolation_level="AUTOCOMMIT"))


def _work(index: int) -> Any:
    job = _JOB
    assert job is not None and job.sessions is not None
    try:
        with job.sessions() as session:
            return job.make(session, job.keys[index])
    except Exception:  # the builder builds this report itself and raises its error there
        log.debug("report %r not built by worker %d; the builder takes it", job.keys[index], os.getpid(), exc_info=True)
        return None


def made_in_workers(
    engine: Engine,
    keys: Sequence[Key],
    make: Callable[[Session, Key], Made],
    workers: int,
) -> Iterator[tuple[Key, Made | None]]:
    """``make(session, key)`` for every key, run by ``workers`` forked processes, yielded in the
    order of ``keys`` as each is done (None: the worker could not make it; the caller makes it).
    Each result is pickled back to this process: ``make`` returns bytes and ids, not live objects."""
    global _JOB
    if _JOB is not None:
        raise RuntimeError("a parallel build is already running in this process")
    _JOB = _Job(engine, keys, make)
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, initializer=_worker_start) as pool:
            waiting: deque[tuple[int, AsyncResult[Any]]] = deque()
            ahead = 2 * workers
            following = 0
            while waiting or following < len(keys):
                while following < len(keys) and len(waiting) < ahead:
                    waiting.append((following, pool.apply_async(_work, (following,))))
                    following += 1
                index, result = waiting.popleft()
                try:
                    made = result.get(timeout=WORKER_SILENCE_SECONDS)
                except multiprocessing.TimeoutError:
                    log.warning(
                        "a build worker sent nothing for %.0f s (report %s): stopping the workers; the "
                        "remaining %d report(s) are built here",
                        WORKER_SILENCE_SECONDS,
                        keys[index],
                        len(keys) - index,
                    )
                    pool.terminate()
                    yield from ((keys[i], None) for i in range(index, len(keys)))
                    return
                if made is None:
                    log.warning("report %s was not built by a worker process; building it here", keys[index])
                yield keys[index], made
    finally:
        _JOB = None
