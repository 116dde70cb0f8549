"""The delivery worker: wake-ups in, earliest-deadline deliveries out, from a pool of threads.

A wake-up message (kombu) says "something may be due"; the worker then claims due deliveries from
SQL in deadline order (``DeliveryService.attempt_next``), skipping destinations whose circuit is open.
The message is acknowledged after the attempt it triggered has committed. Every ``sweep_interval``
the worker also looks at SQL on its own, so a lost message, a dead broker or a killed worker (its
leases expire) delays delivery and never loses it. While the broker is unreachable the worker keeps
going from SQL alone and reconnects with backoff.
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

from gateway import messaging, storage
from gateway.audit import checkpoints
from gateway.bootstrap import Gateway
from gateway.delivery.service import AttemptResult, DeliveryService

log = logging.getLogger(__name__)


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
                    results = self.service.attempt_batch(self._blocked(), self.batch_size)
                    self._space_wait = 0.0
                except Exception as exc:
                    if storage.is_no_space(exc):
                        self._back_off_no_space(exc)
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

    def _probe(self) -> None:
        """At a sweep, look at SQL with one drain job, and only when none is running.

        Starting ``concurrency`` jobs at every sweep made an idle node ask SQL eight times a second for
        work that a single claim answers; a job that finds work calls ``_more`` to fill the other
        slots, so a backlog found by a sweep still runs at full width within one claim."""
        if time.monotonic() < self._space_until:
            return
        with self._lock:
            busy = self._active > 0
        if not busy:
            self._start_job()

    def _more(self) -> None:
        """Work was found: start drain jobs up to the concurrency (not while backing off a full disk)."""
        if time.monotonic() < self._space_until:
            return
        while time.monotonic() >= self._idle_until and self._start_job():
            pass

    # -------------------------------------------------------------- loop
    def run(self, stop: threading.Event, *, idle: Callable[[], None] | None = None) -> None:
        """Run until ``stop`` is set."""
        conn: Connection | None = None
        broker_down_until = 0.0
        last_sweep = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if conn is None and now >= broker_down_until:
                conn = self._connect()
                if conn is None:
                    broker_down_until = now + 5.0
            self._ack_finished()
            if now - last_sweep >= self.sweep_interval:
                last_sweep = now
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
                    log.warning("lost the broker connection (%s); reconnecting", exc)
                    self._close(conn)
                    conn = None
                    broker_down_until = time.monotonic() + 1.0
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
        except Exception:
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
            except Exception:
                log.exception("status polling failed; trying again next sweep")

    def _connect(self) -> Connection | None:
        conn = None
        try:
            conn = self.gateway.broker.connection()
            conn.ensure_connection(max_retries=1)
            consumer = conn.Consumer([self.gateway.broker.queue], callbacks=[self._on_message], accept=["json"])
            consumer.qos(prefetch_count=self.concurrency * 2)
            consumer.consume()
            return conn
        except Exception as exc:
            log.warning("broker unreachable (%s); delivering from SQL until it returns", exc)
            self._close(conn)
            return None

    def _on_message(self, body: object, message: Message) -> None:
        if messaging.parse(body) is None:
            log.warning("dropping an unreadable wake-up message: %r", body)
            message.ack()
            return
        with self._lock:
            self._idle_until = 0.0
        if not self._start_job(message):
            message.ack()  # every slot is busy draining already; this wake-up adds nothing

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
