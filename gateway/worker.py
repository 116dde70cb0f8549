"""The delivery worker: wake-ups in, earliest-deadline deliveries out, from a pool of threads.

A wake-up message (kombu) says "something may be due"; the worker then claims due deliveries from
SQL in deadline order (``DeliveryService.attempt_next``), skipping destinations whose circuit is open.
The message is acknowledged after the attempt it triggered has committed. Every ``sweep_interval``
the worker also looks at SQL on its own, so a lost message, a dead broker or a killed worker (its
leases expire) delays delivery and never loses it. While the broker is unreachable the worker keeps
going from SQL alone and reconnects with backoff; while the database is, it starts no work and tries
again with backoff. Either outage is said in one line per try (host and port, never a password, no
traceback: it is expected, not a bug), and again when it is over.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from kombu import Connection
from kombu.message import Message
from sqlalchemy import text

from gateway import messaging, storage
from gateway.audit import checkpoints
from gateway.bootstrap import Gateway
from gateway.db.engine import unreachable, where
from gateway.delivery.service import AttemptResult, DeliveryService

log = logging.getLogger(__name__)

OUTAGE_BACKOFF_MAX = 30.0
"""Longest wait between two tries of a database or broker that is down: the first try is 1 s after the
failure, then 2, 4 ... 30 s; the outage is said once per try, and a return noticed within 30 s."""


class Outage:
    """A dependency that is down (the database, the broker), as one worker sees it.

    The first failure starts a wait of 1 s, doubling to ``OUTAGE_BACKOFF_MAX``, and each try that fails
    is said in one line; a failure another thread meets during the wait is the same outage and says
    nothing. ``recovered`` says when it is back and how long it was away."""

    def __init__(self, what: str, where: str, consequence: str, resumed: str, level: int) -> None:
        self.what, self.where, self.consequence, self.resumed, self.level = what, where, consequence, resumed, level
        self._lock = threading.Lock()
        self._wait = 0.0
        self._until = 0.0
        self._since: float | None = None

    @property
    def down(self) -> bool:
        return self._since is not None

    def waiting(self) -> bool:
        """True until the next try is due."""
        return time.monotonic() < self._until

    def failed(self, problem: str) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._until:
                return
            self._wait = min(OUTAGE_BACKOFF_MAX, max(1.0, self._wait * 2))
            self._until = now + self._wait
            if self._since is None:
                self._since = now
            wait = self._wait
        log.log(self.level, "%s %s; %s, trying again in %.0f s", self.what, problem, self.consequence, wait)

    def recovered(self) -> None:
        with self._lock:
            if self._since is None:
                return
            away = time.monotonic() - self._since
            self._since, self._wait, self._until = None, 0.0, 0.0
        log.warning("%s at %s is reachable again after %.0f s; %s", self.what, self.where, away, self.resumed)


class Worker:
    def __init__(self, gateway: Gateway, *, worker_id: str | None = None, concurrency: int | None = None) -> None:
        self.gateway = gateway
        self.service: DeliveryService = gateway.delivery_service(worker_id)
        self.concurrency = concurrency or gateway.settings.worker.concurrency
        self.sweep_interval = gateway.settings.worker.sweep_interval
        self._space_wait = 0.0
        self._space_until = 0.0
        self._checkpoint_wait = 0.0
        self._checkpoint_after = 0.0
        self.batch_size = gateway.settings.worker.batch_size
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="delivery")
        self._done: queue.Queue[Message] = queue.Queue()
        self._lock = threading.Lock()
        self._active = 0
        self._idle_until = 0.0
        self._stop = threading.Event()
        self._polling = threading.Lock()
        self._pool_poll = ThreadPoolExecutor(1, thread_name_prefix="status-poll")
        self._fed: dict[str, float] = {}  # destination -> when its feed (poll_url) was last read
        self.results: list[AttemptResult] = []
        self.database = Outage(
            "database", where(gateway.engine.url), "deliveries paused", "deliveries resume", logging.ERROR
        )
        self.broker = Outage(
            "broker", gateway.broker.where, "delivering from SQL alone", "wake-ups resume", logging.WARNING
        )

    # -------------------------------------------------------------- drain jobs
    def _blocked(self) -> frozenset[str]:
        circuits = self.service.circuits
        return frozenset(d for d in self.gateway.settings.destinations if circuits.blocked(d))

    def _start_job(self, message: Message | None = None) -> bool:
        with self._lock:
            if self._active >= self.concurrency or self._stop.is_set():
                return False
            self._active += 1
        try:
            self._pool.submit(self._drain, message)
        except RuntimeError:  # the pool was shut down between the check and the submit
            with self._lock:
                self._active -= 1
            return False
        return True

    def _drain(self, message: Message | None) -> None:
        """Attempt due deliveries, earliest deadline first, until none is due (or we are stopping)."""
        try:
            while not self._stop.is_set():
                try:
                    if self.database.down:  # say it is back before the first attempt, however long that takes
                        self._ping_database()
                        self.database.recovered()
                    results = self.service.attempt_batch(self._blocked(), self.batch_size)
                    self._space_wait = 0.0
                except Exception as exc:
                    if storage.is_no_space(exc):
                        self._back_off_no_space(exc)
                        return
                    if self._database_down(exc):
                        return
                    log.exception("delivery attempt failed unexpectedly; its lease will expire and it will be retried")
                    results = []
                if message is not None:
                    self._done.put(message)  # acknowledged once its attempt has committed
                    message = None
                if not results:
                    with self._lock:
                        self._idle_until = time.monotonic() + self.sweep_interval
                    return
                self.results.extend(results)
                self._more()
        finally:
            if message is not None:
                self._done.put(message)
            with self._lock:
                self._active -= 1

    def _back_off_no_space(self, exc: BaseException) -> None:
        """The disk is full: start no work for a while (1 s, doubling to 60 s), say so once per step,
        and resume by itself when an attempt succeeds again."""
        with self._lock:
            self._space_wait = min(60.0, max(1.0, self._space_wait * 2))
            self._space_until = time.monotonic() + self._space_wait
            wait = self._space_wait
        from gateway import metrics

        metrics.NO_SPACE_PAUSES.inc()
        log.error("no space left on the disk (%s); pausing deliveries for %.0f s", str(exc).splitlines()[0], wait)

    def _database_down(self, exc: BaseException) -> bool:
        """True when ``exc`` says the database server cannot be used now: noted as an outage (one line
        per back-off step, no traceback), not as a failed delivery attempt.

        It used to be "delivery attempt failed unexpectedly" with a full traceback from every drain job,
        every second, for as long as PostgreSQL was down."""
        problem = unreachable(exc, self.gateway.engine.url)
        if problem is None:
            return False
        self.database.failed(problem)
        return True

    def _ping_database(self) -> None:
        with self.gateway.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def _probe(self) -> None:
        """At a sweep, look at SQL with one drain job, and only when none is running.

        Starting ``concurrency`` jobs at every sweep made an idle node ask SQL eight times a second for
        work that a single claim answers; a job that finds work calls ``_more`` to fill the other
        slots, so a backlog found by a sweep still runs at full width within one claim. While the
        database is down this job is the one try per back-off step."""
        if time.monotonic() < self._space_until or self.database.waiting():
            return
        with self._lock:
            busy = self._active > 0
        if not busy:
            self._start_job()

    def _more(self) -> None:
        """Work was found: start drain jobs up to the concurrency (not while backing off a full disk)."""
        if time.monotonic() < self._space_until or self.database.down:
            return
        while time.monotonic() >= self._idle_until and self._start_job():
            pass

    # -------------------------------------------------------------- loop
    def run(self, stop: threading.Event, *, idle: Callable[[], None] | None = None) -> None:
        """Run until ``stop`` is set."""
        conn: Connection | None = None
        last_sweep = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if conn is None and not self.broker.waiting():
                conn = self._connect()
            self._ack_finished()
            if now - last_sweep >= self.sweep_interval:
                last_sweep = now
                if not self.database.down:  # each of these needs it; the probe below tries it again
                    self._poll_statuses()
                    self._poll_feeds()
                    self._checkpoint_audit()
                with self._lock:
                    self._idle_until = 0.0
                self._probe()
            if conn is not None:
                try:
                    messaging.wait(conn, stop)
                except Exception as exc:
                    self.broker.failed(f"connection lost: {self.gateway.broker.describe(exc)}")
                    self._close(conn)
                    conn = None
            else:
                time.sleep(0.05)
            if idle:
                idle()
        self._stop.set()
        self._pool.shutdown(wait=True)
        self._pool_poll.shutdown(wait=True)
        self._ack_finished()
        self._close(conn)

    def _poll_feeds(self) -> None:
        """Read the feed of each destination with a ``poll_url`` every ``poll_interval`` seconds."""
        now = time.monotonic()
        for name, dest in self.gateway.settings.destinations.items():
            if dest.poll_url and now - self._fed.get(name, float("-inf")) >= dest.poll_interval:
                self._fed[name] = now
                self._pool_poll.submit(self._feed_once, name)

    def _feed_once(self, destination: str) -> None:
        from gateway.inbound.poll import poll_destination

        try:
            poll_destination(self.gateway, destination)
        except Exception as exc:
            if not self._database_down(exc):
                log.exception("reading the feed of %s failed; trying again in its poll_interval", destination)

    def _checkpoint_audit(self) -> None:
        """Anchor the audit chain every ``audit.checkpoint_interval`` seconds (a file outside the database).

        A failed checkpoint is tried again after 1 s, doubling to 5 minutes, not at every sweep: on a
        full disk that was a traceback a second. "No space" is said as such, without a traceback."""
        gw = self.gateway
        now = time.monotonic()
        if now < self._checkpoint_after:
            return
        try:
            if checkpoints.due(gw.checkpoint_file, gw.settings.audit.checkpoint_interval):
                gw.checkpoint_audit()
            self._checkpoint_wait = 0.0
        except Exception as exc:
            self._checkpoint_wait = min(300.0, max(1.0, self._checkpoint_wait * 2))
            self._checkpoint_after = now + self._checkpoint_wait
            if self._database_down(exc):
                return
            if storage.is_no_space(exc):
                log.error(
                    "no space left on the disk (%s); audit checkpoint postponed %.0f s",
                    str(exc).splitlines()[0],
                    self._checkpoint_wait,
                )
            else:
                log.exception("could not write an audit checkpoint; trying again in %.0f s", self._checkpoint_wait)

    def _poll_statuses(self) -> None:
        pollable = {name: d.status_poll_after for name, d in self.gateway.settings.destinations.items() if d.status_url}
        if not pollable or self._polling.locked():
            return
        self._pool_poll.submit(self._poll_once, pollable)

    def _poll_once(self, pollable: dict[str, float]) -> None:
        with self._polling:
            try:
                self.service.poll_statuses(pollable)
            except Exception as exc:
                if not self._database_down(exc):
                    log.exception("status polling failed; trying again next sweep")

    def _connect(self) -> Connection | None:
        """Connect and consume; on failure say why, by host and port (``Broker.describe``: unreachable,
        credentials refused, or the queue declared otherwise), and back off (``Outage``)."""
        broker = self.gateway.broker
        conn = None
        try:
            conn = broker.connection()
            conn.ensure_connection(max_retries=0)  # the back-off is ours: one line per try
            consumer = conn.Consumer([broker.queue], callbacks=[self._on_message], accept=["json"])
            consumer.qos(prefetch_count=self.concurrency * 2)
            consumer.consume()
        except Exception as exc:
            self.broker.failed(broker.describe(exc))
            self._close(conn)
            return None
        self.broker.recovered()
        return conn

    def _on_message(self, body: object, message: Message) -> None:
        if messaging.parse(body) is None:
            log.warning("dropping an unreadable wake-up message: %r", body)
            message.ack()
            return
        with self._lock:
            self._idle_until = 0.0
        if self.database.waiting() or not self._start_job(message):
            message.ack()  # every slot is busy draining already, or SQL is down: this wake-up adds nothing

    def _ack_finished(self) -> None:
        while True:
            try:
                message = self._done.get_nowait()
            except queue.Empty:
                return
            try:
                message.ack()
            except Exception as exc:  # the message comes back; the claim makes it harmless
                log.warning("could not ack a wake-up (%s); it will be redelivered and ignored", exc)

    @staticmethod
    def _close(conn: Connection | None) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.release()
