"""Issue 18 item 12: tampering with the audit log is detected. Deleting the last events, deleting all
of them, recomputing the chain after an edit, or appending a forged event all passed
``gateway audit verify``; now each event is sealed with a key the database never sees and signed
checkpoints outside the database anchor the chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from gateway import audit
from gateway.audit import checkpoints
from gateway.bootstrap import Gateway
from gateway.db.models import AuditEvent
from tests.conftest import GatewayFactory
from tests.security.support import signed_gateway

GATEWAY = str(Path(sys.executable).parent / "gateway")


def events(gw: Gateway, n: int, what: str = "ops.test") -> None:
    for i in range(n):
        with gw.sessions.begin() as session:
            audit.record(session, at=gw.clock.now(), actor="user:nam", action=what, subject=f"thing:{i}")


def chain(gw: Gateway) -> list[AuditEvent]:
    with gw.sessions() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


@pytest.fixture(params=["signed", "hmac"])
def gw(request: pytest.FixtureRequest, gateway_factory: GatewayFactory, database_url: str, test_pki: Path) -> Gateway:
    """A gateway with 10 events and a checkpoint: signed with its packet-signing key, or, without one,
    with an HMAC under the audit key."""
    if request.param == "signed":
        gateway = signed_gateway(gateway_factory, database_url, test_pki)
    else:
        gateway = gateway_factory(database_url=database_url)
    events(gateway, 10)
    point = gateway.checkpoint_audit()
    assert point.count == len(chain(gateway)) and point.alg != ""
    assert gateway.verify_audit() == []
    return gateway


def test_removing_one_event_from_the_middle_is_named_as_removed(gw: Gateway) -> None:
    """Found from outside: one deleted event was reported as "the database holds 57: +1 events",
    which reads as one added."""
    middle = chain(gw)[4].id
    with gw.sessions.begin() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.id == middle))
    found = gw.verify_audit()
    assert any(p.endswith(": 1 removed") for p in found), found
    assert not any("+1" in p or "added" in p for p in found), found


def test_cutting_the_tail_is_detected(gw: Gateway) -> None:
    last = chain(gw)[-3].id
    with gw.sessions.begin() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.id >= last))
    with gw.sessions() as s:
        assert audit.verify(s) == []  # the chain alone cannot see it: this is what passed before
    found = gw.verify_audit()
    assert any("3 events were removed (the tail was cut)" in p for p in found), found


def test_emptying_the_table_is_detected(gw: Gateway) -> None:
    with gw.sessions.begin() as s:
        s.execute(delete(AuditEvent))
    found = gw.verify_audit()
    assert any("the table was emptied" in p for p in found), found


def test_an_edit_with_the_chain_recomputed_is_detected(gw: Gateway) -> None:
    rows = chain(gw)
    with gw.sessions.begin() as s:
        prev = rows[3].prev_hash
        for row in rows[3:]:
            ev = s.get(AuditEvent, row.id)
            assert ev is not None
            if row is rows[3]:
                ev.actor = "user:someone-else"
            ev.prev_hash = prev
            ev.hash = audit._digest(prev, ev.at, ev.actor, ev.action, ev.subject, ev.detail)
            prev = ev.hash
    with gw.sessions() as s:
        assert audit.verify(s) == []  # a recomputed chain is a valid chain
    found = gw.verify_audit()
    assert any(f"audit event {rows[3].id}: seal does not match" in p for p in found), found
    assert any("the chain was recomputed" in p for p in found), found


@pytest.mark.parametrize("back_dated", [False, True])
def test_a_forged_event_appended_is_detected(gw: Gateway, back_dated: bool) -> None:
    tail = chain(gw)[-1]
    at = gw.clock.now() - (timedelta(hours=1) if back_dated else timedelta(0))
    detail = {"reason": "added by hand", "_seal": "0" * 64}
    with gw.sessions.begin() as s:
        s.add(
            AuditEvent(
                at=at,
                actor="user:admin",
                action="delivery.cancelled",
                subject="delivery:1",
                detail=detail,
                prev_hash=tail.hash,
                hash=audit._digest(tail.hash, at, "user:admin", "delivery.cancelled", "delivery:1", detail),
            )
        )
    found = gw.verify_audit()
    assert any("seal does not match" in p for p in found), found
    if back_dated:
        assert any("it was appended afterwards" in p for p in found), found


def test_a_forged_checkpoint_is_ignored_and_named(gw: Gateway) -> None:
    with gw.sessions.begin() as s:
        s.execute(delete(AuditEvent))
    forged = checkpoints.sign(checkpoints.Checkpoint(0, 0, "", gw.clock.now().isoformat()), b"k" * 32, None)
    checkpoints.append(gw.checkpoint_file, forged)
    found = gw.verify_audit()
    assert any("bad HMAC; ignored" in p for p in found), found
    assert any("the table was emptied" in p for p in found), found


def test_the_cli_names_the_damage_and_exits_1(gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    gw = gateway_factory()
    events(gw, 5)
    gw.checkpoint_audit()
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(gw.settings.data_dir),
        "COLUMNS": "250",
        "GATEWAY_DATABASE__URL": gw.settings.database_url,
    }
    ok = subprocess.run([GATEWAY, "audit", "verify"], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    with gw.sessions.begin() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.id == chain(gw)[-1].id))
    bad = subprocess.run([GATEWAY, "audit", "verify"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and "1 events were removed" in bad.stdout, bad.stdout + bad.stderr
    lines = gw.checkpoint_file.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["count"] == 5
    assert oct(gw.checkpoint_file.stat().st_mode & 0o777) == "0o600"
