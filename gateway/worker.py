"""The delivery worker: consumes wake-ups, attempts deliveries on a thread pool, sweeps SQL.

A message is acknowledged only after the attempt it triggered has committed its outcome. The sweeper
re-publishes due deliveries (retries whose wait is over, leases that expired because a worker died),
so a lost message, a dead broker or a killed worker delays delivery and never loses it. While the
broker is unreachable the worker keeps going from SQL alone.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from kombu import Connection
from kombu.message import Message

from gateway import messaging
from gateway.bootstrap import Gateway
from gateway.delivery.service import AttemptResult, DeliveryService

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, gateway: Gateway, *, worker_id: str | None = None, concurrency: int | None = None) -> None:
        self.gateway = gateway
        self.service: DeliveryService = gateway.delivery_service(worker_id)
        self.concurrency = concurrency or gateway.settings.worker.concurrency
        self.sweep_interval = gateway.settings.worker.sweep_interval
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="delivery")
        self._done: queue.Queue[Message | None] = queue.Queue()
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()
        self.results: list[AttemptResult] = []

    # -------------------------------------------------------------- work
    def _submit(self, delivery_id: int, message: Message | None) -> bool:
        with self._lock:
            if delivery_id in self._in_flight:
                if message is not None:
                    self._done.put(message)
                return False
            self._in_flight.add(delivery_id)
        future = self._pool.submit(self._attempt, delivery_id)
        future.add_done_callback(lambda f, m=message, d=delivery_id: self._finished(f, m, d))  # type: ignore[misc]
        return True

    def _attempt(self, delivery_id: int) -> AttemptResult:
        return self.service.attempt(delivery_id)

    def _finished(self, future: Future[AttemptResult], message: Message | None, delivery_id: int) -> None:
        with self._lock:
            self._in_flight.discard(delivery_id)
        exc = future.exception()
        if exc is not None:
            log.error(
                "delivery %s: attempt failed unexpectedly: %r (lease will expire and it will be retried)",
                delivery_id,
                exc,
            )
        else:
            self.results.append(future.result())
        self._done.put(message)

    def _busy(self) -> bool:
        with self._lock:
            return len(self._in_flight) >= self.concurrency * 2

    # -------------------------------------------------------------- loop
    def run(self, stop: threading.Event, *, idle: Callable[[], None] | None = None) -> None:
        """Run until ``stop`` is set. Reconnects to the broker with backoff; sweeps from SQL meanwhile."""
        conn: Connection | None = None
        consumer = None
        last_sweep = 0.0
        broker_down_until = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if conn is None and now >= broker_down_until:
                try:
                    conn = self.gateway.broker.connection()
                    conn.ensure_connection(max_retries=1)
                    consumer = conn.Consumer([self.gateway.broker.queue], callbacks=[self._on_message], accept=["json"])
                    consumer.qos(prefetch_count=self.concurrency * 2)
                    consumer.consume()
                except Exception as exc:
                    log.warning("broker unreachable (%s); delivering from SQL until it returns", exc)
                    self._close(conn)
                    conn, consumer = None, None
                    broker_down_until = now + 5.0
            self._ack_finished()
            if now - last_sweep >= self.sweep_interval:
                last_sweep = now
                conn = self._sweep(conn)
            if conn is not None and not self._busy():
                try:
                    messaging.drain(conn, timeout=0.05)
                except Exception as exc:
                    log.warning("lost the broker connection (%s); reconnecting", exc)
                    self._close(conn)
                    conn, consumer = None, None
                    broker_down_until = time.monotonic() + 1.0
            else:
                time.sleep(0.02)
            if idle:
                idle()
        self._pool.shutdown(wait=True)
        self._ack_finished()
        self._close(conn)

    def _sweep(self, conn: Connection | None) -> Connection | None:
        try:
            due = self.service.due(limit=self.concurrency * 20)
        except Exception as exc:
            log.warning("sweep failed: %s", exc)
            return conn
        if not due:
            return conn
        if conn is not None:
            try:
                self.gateway.broker.publish(due, conn)
                return conn
            except Exception as exc:
                log.warning("re-publish failed (%s); attempting %d due deliveries directly", exc, len(due))
                self._close(conn)
                conn = None
        for delivery_id in due:
            self._submit(delivery_id, None)
        return conn

    def _on_message(self, body: object, message: Message) -> None:
        delivery_id = messaging.parse(body)
        if delivery_id is None:
            log.warning("dropping an unreadable wake-up message: %r", body)
            message.ack()
            return
        self._submit(delivery_id, message)

    def _ack_finished(self) -> None:
        while True:
            try:
                message = self._done.get_nowait()
            except queue.Empty:
                return
            if message is not None:
                try:
                    message.ack()
                except Exception as exc:
                    log.warning("could not ack a wake-up (%s); it will be redelivered and ignored", exc)

    @staticmethod
    def _close(conn: Connection | None) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.release()
