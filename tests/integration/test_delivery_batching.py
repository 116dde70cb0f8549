"""The throughput measures of issue 5 change how work is grouped, never what is recorded.

Capped wake-ups, a batch's outcomes in one transaction with its status receipts read once, the audit
chain's tail carried through a transaction, and SQLite writers queued on an in-process lock: each
test pins what the slower, simpler path guaranteed by construction.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gateway import audit
from gateway.connectors.base import OutgoingPacket, Receipt
from gateway.db import engine as engine_module
from gateway.db.models import AuditEvent, Delivery, StatusReceipt
from gateway.messaging import MAX_WAKEUPS
from gateway.packets import model as m
from gateway.packets.validate import read_packet
from gateway.sim.faults import FaultPlan
from gateway.worker import Worker
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.integration.test_worker import wait_until_final
from tests.support.packets import status_packet, store_packets


def test_one_publish_sends_a_bounded_number_of_wake_ups_and_everything_drains(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    broker_url: str,
) -> None:
    sim = sim_factory(FaultPlan())
    gw = gateway_factory(
        database_url=database_url,
        broker_url=broker_url,
        destinations={"national": national_destination(sim.receive_url)},
        worker={"concurrency": 2, "batch_size": 8, "sweep_interval": 30.0},  # the sweeper will not help
    )
    _, delivery_ids = store_packets(gw, 60)
    assert gw.broker.publish(delivery_ids) == MAX_WAKEUPS < len(delivery_ids)
    stop = threading.Event()
    thread = threading.Thread(target=Worker(gw, worker_id="w1").run, args=(stop,), daemon=True)
    thread.start()
    try:
        states = wait_until_final(gw, len(delivery_ids), timeout=60)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert states == {"acknowledged": 60}
    assert sim.stats["unique_packets"] == 60


class SameStatusTwice:
    """A receiver that answers every packet with one and the same status packet (a duplicate
    acknowledgement inside one batch)."""

    name = "national"

    def __init__(self) -> None:
        self.status: m.Envelope | None = None

    def send(self, packet: OutgoingPacket) -> Receipt:
        if self.status is None:
            self.status = read_packet(status_packet(packet.packet_id, m.ReportStatus.DA_TIEP_NHAN))
        return Receipt(200, status=self.status)

    def poll_status(self, packet_id: str) -> m.Envelope | None:
        return None

    def fetch_copy(self, packet_id: str) -> bytes | None:
        return None

    def close(self) -> None:
        pass


def test_a_status_packet_seen_twice_in_one_batch_is_recorded_once(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    gw = gateway_factory(database_url=database_url, destinations={"national": national_destination("http://unused")})
    gw.connectors["national"] = SameStatusTwice()
    for _ in range(3):  # three forms of one report period: the one status names each one's report
        store_packets(gw, 1)
    results = gw.delivery_service("w1").attempt_batch(limit=10)
    assert sorted(r.outcome for r in results) == ["acknowledged"] * 3
    with gw.sessions() as s:
        assert s.scalar(select(func.count()).select_from(StatusReceipt)) == 1
        assert set(s.scalars(select(Delivery.state))) == {"acknowledged"}
        assert audit.verify(s) == []


def test_the_audit_chain_carried_through_a_transaction_survives_a_rollback(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory()
    now = gw.clock.now()
    with gw.sessions.begin() as s:
        for i in range(20):
            audit.record(s, at=now, actor="t", action="test.kept", subject=f"n:{i}")
    session = gw.sessions()

    def abandoned() -> None:
        with session.begin():
            audit.record(session, at=now, actor="t", action="test.lost", subject="x")
            raise RuntimeError("abandon the transaction")

    with pytest.raises(RuntimeError):
        abandoned()
    with session.begin():  # the same session: the carried tail must not outlive the rollback
        audit.record(session, at=now, actor="t", action="test.after", subject="y")
    session.close()
    with gw.sessions() as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        assert actions.count("test.kept") == 20 and "test.lost" not in actions and actions[-1] == "test.after"
        assert audit.verify(s) == []


# ------------------------------------------------------------------ the SQLite write lock
def _counter_db(tmp_path: Path) -> sessionmaker[Session]:
    engine = engine_module.make_engine(f"sqlite:///{tmp_path / 'lock.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    return sessionmaker(engine)


def test_sqlite_writers_in_one_process_queue_and_none_is_lost(tmp_path: Path) -> None:
    sessions = _counter_db(tmp_path)
    errors: list[BaseException] = []

    def bump(times: int) -> None:
        try:
            for _ in range(times):
                with sessions.begin() as s:
                    n = s.execute(text("SELECT n FROM counter")).scalar_one()
                    time.sleep(0.001)  # a read-modify-write that would lose updates if two overlapped
                    s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(40,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 240


def test_the_write_lock_is_given_back_on_rollback_and_on_error(tmp_path: Path) -> None:
    sessions = _counter_db(tmp_path)

    def failing() -> None:
        with sessions.begin() as s:
            s.execute(text("UPDATE counter SET n = 1"))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing()
    s = sessions()
    s.execute(text("SELECT n FROM counter"))
    s.close()  # the pool's rollback on return
    done = threading.Event()

    def write() -> None:
        with sessions.begin() as s2:
            s2.execute(text("UPDATE counter SET n = 2"))
        done.set()

    threading.Thread(target=write).start()
    assert done.wait(5), "a later writer waited on a lock nobody held"
    with sessions() as s3:
        assert s3.execute(text("SELECT n FROM counter")).scalar_one() == 2


def test_a_second_write_transaction_in_the_same_thread_fails_clearly_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT", 0.3)
    sessions = _counter_db(tmp_path)
    with sessions.begin() as outer:
        outer.execute(text("UPDATE counter SET n = 5"))
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"), sessions.begin() as inner:
            inner.execute(text("SELECT n FROM counter")).scalar_one()
        assert time.monotonic() - started < 5
    with sessions() as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 5
