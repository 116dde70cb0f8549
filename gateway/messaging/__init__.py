"""Wake-up messages over kombu: the SQLAlchemy transport embedded, RabbitMQ at scale; same code.

A message says only "delivery N may be due" (JSON, versioned: ``{"v": 1, "delivery": N}``); SQL is
the source of truth. Queues are durable, messages persistent, publishes confirmed where the broker
supports it, and a message is acknowledged only after the delivery's new state is committed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from threading import Event
from typing import Any

from kombu import Connection, Exchange, Queue
from kombu.message import Message
from kombu.transport import virtual

log = logging.getLogger(__name__)

MESSAGE_VERSION = 1
MAX_WAKEUPS = 16
"""Wake-ups per publish: more than the drain jobs a node runs (``worker.concurrency``, default 8)."""

ACCESS_REFUSED, PRECONDITION_FAILED, NOT_ALLOWED = 403, 406, 530
"""AMQP reply codes: wrong credentials or permissions; a declaration that differs from the existing
queue or exchange; a virtual host the user may not open."""
_DECLARED = re.compile(r"for (queue|exchange) '([^']*)'")


class BrokerUnavailable(Exception):
    """The broker cannot be used, said for an operator: unreachable at host:port, credentials refused by
    host:port for user U, or a queue declared differently there. Never carries the password."""


class Broker:
    def __init__(self, url: str, queue: str, *, polling_interval: float = 0.1, queue_type: str = "classic") -> None:
        self.url = url
        self.exchange = Exchange("gateway", type="direct", durable=True)
        arguments = None
        if queue_type == "quorum" and url.startswith(("amqp", "pyamqp")):
            # As declared in ops/rabbitmq/definitions.json: replicated, with a dead-letter exchange for
            # messages redelivered too often (they are only wake-ups; SQL keeps the work).
            arguments = {"x-queue-type": "quorum", "x-dead-letter-exchange": "gateway.dlx", "x-delivery-limit": 20}
        self.queue = Queue(queue, exchange=self.exchange, routing_key=queue, durable=True, queue_arguments=arguments)
        self.queue_type = queue_type
        self.polling_interval = polling_interval
        options: dict[str, Any] = {}
        if url.startswith(("amqp", "pyamqp")):
            options = {"confirm_publish": True}
        elif url.startswith(("sqla+sqlite", "sqlalchemy+sqlite")):
            # The SQLAlchemy transport hands its options to create_engine: wait on SQLite's lock.
            options = {"connect_args": {"timeout": 30}}
        self._options = options

    def connection(self) -> Connection:
        conn = Connection(self.url, transport_options=self._options, connect_timeout=10)
        if not self.url.startswith(("amqp", "pyamqp")):
            # Polling transports: the SQLAlchemy transport would pass a polling_interval transport
            # option to create_engine, so it is set on the transport instead.
            conn.transport.polling_interval = self.polling_interval
        return conn

    @property
    def where(self) -> str:
        """``host:port`` of a network broker (RabbitMQ); the URL of a local one, password masked."""
        conn = Connection(self.url)
        if not self.url.startswith(("amqp", "pyamqp")):
            return str(conn.as_uri())
        info = conn.info()
        return f"{info['hostname']}:{info['port']}"

    def describe(self, exc: BaseException) -> str:
        """What went wrong with the broker, in one line an operator can act on.

        Everything used to read "unreachable", with no host: a wrong password, a queue declared
        differently (a classic queue where the configuration says quorum) and a stopped server all
        looked alike, and the first two never heal by waiting."""
        code, text = _reply(exc)
        conn = Connection(self.url)
        if code in (ACCESS_REFUSED, NOT_ALLOWED):
            what = "credentials" if "login" in text.lower() else "access"
            return f"{what} refused by {self.where} for user {conn.userid or '(none)'} ({text})"
        declared = _DECLARED.search(text)
        if code == PRECONDITION_FAILED and declared:
            kind, name = declared.groups()
            return (
                f"{kind} {name!r} on {self.where} is declared differently from what this gateway declares "
                f"(broker.queue_type = {self.queue_type!r}): {text}; delete it on the broker (it holds only "
                "wake-ups) and let the workers declare it again, or set broker.queue_type to match"
            )
        if code is not None:
            return f"error from {self.where} ({text})"
        return f"unreachable at {self.where} ({text})"

    def check(self) -> None:
        """Connect and declare the queue as the worker and the publishers do; raise ``BrokerUnavailable``
        saying why not. A connection alone proved nothing: a queue that exists with other arguments
        refuses every consumer and every publish while the connection succeeds."""
        conn = self.connection()
        try:
            conn.ensure_connection(max_retries=0)
            self.queue(conn.default_channel).declare()
        except Exception as exc:
            raise BrokerUnavailable(self.describe(exc)) from exc
        finally:
            with contextlib.suppress(Exception):  # closing after a refused declaration
                conn.release()

    def declare(self) -> None:
        with self.connection() as conn:
            self.queue(conn.default_channel).declare()

    def publish(self, delivery_ids: Iterable[int], conn: Connection | None = None) -> int:
        """Publish wake-ups for newly due deliveries; returns how many messages. Errors propagate:
        callers treat them as 'sweeper will do it'.

        At most ``MAX_WAKEUPS`` messages per call, naming the first deliveries: a woken drain job
        claims due deliveries in deadline order until none is left, so one message per drain job that
        could run is enough, and every further message was a broker write (on the SQLAlchemy
        transport, a committed SQLite transaction: 3 ms each) that woke nobody."""
        ids = list(delivery_ids)[:MAX_WAKEUPS]
        if not ids:
            return 0
        own = conn is None
        conn = conn or self.connection()
        try:
            producer = conn.Producer(serializer="json")
            for delivery_id in ids:
                producer.publish(
                    {"v": MESSAGE_VERSION, "delivery": delivery_id},
                    exchange=self.exchange,
                    routing_key=self.queue.routing_key,
                    declare=[self.queue],
                    delivery_mode=2,
                    retry=True,
                    retry_policy={"max_retries": 3, "interval_start": 0.1},
                )
        except Exception as exc:  # said with the broker's host and what it refused (``describe``)
            raise BrokerUnavailable(self.describe(exc)) from exc
        finally:
            if own:
                with contextlib.suppress(Exception):  # releasing after a refused declaration
                    conn.release()
        return len(ids)

    def purge(self) -> int:
        with self.connection() as conn:
            return int(self.queue(conn.default_channel).purge() or 0)


def _reply(exc: BaseException) -> tuple[int | None, str]:
    """The AMQP reply code and text behind ``exc`` (kombu wraps py-amqp's errors), or no code and the
    innermost reason (``[Errno 111] Connection refused``, ``timed out``)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        code = getattr(current, "reply_code", None)
        if isinstance(code, int) and code:
            return code, str(getattr(current, "reply_text", "") or current)
        current = current.__cause__ or current.__context__
    innermost = seen[-1]
    return None, " ".join(str(innermost).split()) or type(innermost).__name__


def parse(body: Any) -> int | None:
    """The delivery id in a wake-up body, or None for a body we do not understand (acked and dropped:
    the sweeper still finds whatever it meant)."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if isinstance(body, dict) and body.get("v") == MESSAGE_VERSION and isinstance(body.get("delivery"), int):
        return int(body["delivery"])
    return None


def drain(conn: Connection, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        conn.drain_events(timeout=timeout)


def wait(conn: Connection, stop: Event, timeout: float = 0.05) -> bool:
    """Deliver what the broker has for ``conn``'s consumers, else wait a little; True when something came.

    On RabbitMQ the broker pushes, so this drains with ``timeout``. kombu's virtual transports (the
    embedded SQLAlchemy one) poll: ``drain_events(timeout=0.05)`` with a 0.1 s polling interval asked
    the database twice per call, each ask a queue lookup plus a write transaction on SQLite, which
    kept an idle worker at 12 % of a core. Here a polling transport is asked once, and when it has
    nothing the caller waits one ``polling_interval`` on ``stop`` (so stopping stays prompt)."""
    transport = conn.transport
    if not isinstance(transport, virtual.Transport):
        try:
            conn.drain_events(timeout=timeout)
        except TimeoutError:
            return False
        return True
    try:
        conn.drain_events(timeout=0)
    except TimeoutError:
        stop.wait(transport.polling_interval or timeout)
        return False
    return True


MessageHandler = Callable[[int | None, Message], None]
