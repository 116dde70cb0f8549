"""Backups of a busy database restore into a fresh one with every row, and delivery resumes where it
stopped. SQLite (online backup API) and PostgreSQL (pg_dump from an exported snapshot)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway import backup
from gateway.bootstrap import Gateway
from gateway.db.engine import make_engine
from gateway.db.models import Delivery
from gateway.sim.faults import FaultPlan
from gateway.worker import Worker
from tests.conftest import GatewayFactory, SimFactory, fresh_pg_database, national_destination
from tests.support.packets import store_packets


def acknowledged(gw: Gateway) -> int:
    with gw.sessions() as s:
        return int(s.scalar(select(func.count()).where(Delivery.state == "acknowledged")) or 0)


@pytest.mark.slow
def test_busy_backup_restores_and_delivery_resumes(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    sim = sim_factory(FaultPlan(slow_seconds=0.05, p_503=0.1))
    dest = {"national": national_destination(sim.receive_url, max_attempts=30)}
    gw = gateway_factory(database_url=database_url, destinations=dest, lease_seconds=2)
    _, _ids = store_packets(gw, 300)
    stop = threading.Event()
    thread = threading.Thread(target=Worker(gw, worker_id="busy").run, args=(stop,), daemon=True)
    thread.start()
    try:
        while acknowledged(gw) < 30:
            time.sleep(0.05)
        manifest = backup.create(gw.engine, tmp_path / "backup")  # while the worker writes
    finally:
        stop.set()
        thread.join(timeout=30)
    at_backup = manifest.row_counts["deliveries"]
    assert at_backup == 300 and manifest.row_counts["packets"] == 300
    assert manifest.row_counts["delivery_attempts"] > 0

    if database_url.startswith("sqlite"):
        fresh_url = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    else:
        fresh_url = fresh_pg_database(request.getfixturevalue("pg_server_url"))
    restored, _ = backup.restore(make_engine(fresh_url), tmp_path / "backup")
    assert restored.row_counts == manifest.row_counts

    again = gateway_factory(database_url=fresh_url, destinations=dest, lease_seconds=2, migrate=False)
    with again.sessions() as s:
        before = {k: v for k, v in s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))}
    assert sum(before.values()) == 300 and before.get("acknowledged", 0) < 300  # some work was left
    stop = threading.Event()
    thread = threading.Thread(target=Worker(again, worker_id="after-restore").run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 90
        while acknowledged(again) < 300 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert acknowledged(again) == 300  # everything the backup held is delivered after the restore


def test_damaged_backup_is_refused(gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    gw = gateway_factory()
    store_packets(gw, 3, destinations=["national"])
    backup.create(gw.engine, tmp_path / "b")
    with (tmp_path / "b" / "gateway.sqlite").open("r+b") as f:
        f.seek(200)
        f.write(b"\x00garbage")
    with pytest.raises(backup.BackupError, match="SHA-256 does not match"):
        backup.restore(make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}"), tmp_path / "b")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: {**m, "file": "../elsewhere.sqlite"}, "not a file of the backup folder"),
        (lambda m: {**m, "file": "gone.sqlite"}, "the database file the manifest names is missing"),
        (lambda m: [m], "no readable manifest.json"),
    ],
    ids=["outside-the-folder", "missing-file", "not-an-object"],
)
def test_a_backup_whose_manifest_does_not_hold_is_refused(
    gateway_factory: GatewayFactory, tmp_path: Path, edit: Callable[[Any], Any], message: str
) -> None:
    gw = gateway_factory()
    backup.create(gw.engine, tmp_path / "b")
    manifest = tmp_path / "b" / "manifest.json"
    manifest.write_text(json.dumps(edit(json.loads(manifest.read_text()))))
    with pytest.raises(backup.BackupError, match=message):
        backup.restore(make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}"), tmp_path / "b")


@pytest.mark.postgres
def test_moving_from_sqlite_to_postgresql_keeps_everything(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    tmp_path: Path,
    pg_server_url: str,
) -> None:
    from gateway.backup import copy_database, row_counts
    from gateway.db.engine import upgrade

    sim = sim_factory(FaultPlan())
    dest = {"national": national_destination(sim.receive_url)}
    embedded = gateway_factory(destinations=dest)
    _, ids = store_packets(embedded, 20)
    service = embedded.delivery_service("before-move")
    for i in ids[:10]:
        assert service.attempt(i).outcome == "acknowledged"
    target_url = fresh_pg_database(pg_server_url)
    target = make_engine(target_url)
    upgrade(target)
    counts = copy_database(embedded.engine, target)
    assert counts == row_counts(embedded.engine) and counts["deliveries"] == 20
    target.dispose()
    moved = gateway_factory(database_url=target_url, destinations=dest, migrate=False)
    outcomes = [moved.delivery_service("after-move").attempt_next() for _ in range(11)]
    assert [o.outcome for o in outcomes if o] == ["acknowledged"] * 10 and outcomes[-1] is None
    with moved.sessions.begin() as s:  # sequences continue after the copied ids
        from gateway.db.models import AuditEvent

        assert max(e.id for e in s.scalars(select(AuditEvent))) == counts["audit_events"] + 10
