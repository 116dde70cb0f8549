"""The hash-chained audit log detects altered, removed and reordered events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from gateway import audit
from gateway.db.engine import make_engine, upgrade


def chain(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    upgrade(engine)
    sessions = sessionmaker(engine)
    with sessions.begin() as s:
        for i in range(5):
            audit.record(
                s,
                at=datetime(2026, 11, 1, tzinfo=UTC),
                actor="op:an",
                action="delivery.replay",
                subject=f"delivery:{i}",
                detail={"n": i},
            )
    return sessions


def test_intact_chain_verifies(tmp_path: Path) -> None:
    with chain(tmp_path)() as s:
        assert audit.verify(s) == []


def test_altered_event_is_named(tmp_path: Path) -> None:
    sessions = chain(tmp_path)
    with sessions.begin() as s:
        s.execute(text("UPDATE audit_events SET actor = 'op:mallory' WHERE id = 3"))
    with sessions() as s:
        breaks = audit.verify(s)
    assert [b.event_id for b in breaks] == [3]
    assert "altered" in breaks[0].problem


def test_removed_event_breaks_the_next(tmp_path: Path) -> None:
    sessions = chain(tmp_path)
    with sessions.begin() as s:
        s.execute(text("DELETE FROM audit_events WHERE id = 2"))
    with sessions() as s:
        assert [b.event_id for b in audit.verify(s)] == [3]
