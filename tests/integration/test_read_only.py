"""``read_only`` connections (issue 19, the pull API): on SQLite a one-statement read neither takes
the process's write lock nor opens ``BEGIN IMMEDIATE``, so a reader is never queued behind a writer;
it sees committed data only."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from gateway.db.engine import make_engine, read_only, upgrade_if_behind


def test_a_read_only_statement_does_not_wait_for_an_open_write_transaction(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.sqlite'}")
    upgrade_if_behind(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (at, actor, action, subject, detail, prev_hash, hash) "
                "VALUES (CURRENT_TIMESTAMP, 'a', 'committed', 's', '{}', '', 'h1')"
            )
        )
    writing = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with engine.begin() as conn:  # holds the write lock until released
            conn.execute(
                text(
                    "INSERT INTO audit_events (at, actor, action, subject, detail, prev_hash, hash) "
                    "VALUES (CURRENT_TIMESTAMP, 'a', 'uncommitted', 's', '{}', 'h1', 'h2')"
                )
            )
            writing.set()
            release.wait(20)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        started = time.monotonic()
        with read_only(engine) as conn:
            actions = [r[0] for r in conn.execute(text("SELECT action FROM audit_events ORDER BY id"))]
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join()
    assert actions == ["committed"]  # the writer's row is not visible before it commits
    assert waited < 5, f"the read waited {waited:.1f} s for the writer"
    engine.dispose()
