"""Engines and migrations. Built by the composition root from settings, never at import."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from alembic.config import Config
    from alembic.script import ScriptDirectory

from gateway.errors import ConfigurationError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


BUSY_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10
"""Seconds a new PostgreSQL connection may take (unless the URL or ``PGCONNECT_TIMEOUT`` says): libpq's own
default waits until the kernel gives up (about two minutes for a host that drops packets), holding a
delivery thread, or ``/readyz``, that long."""

_application_name = "gateway-cli"


def name_process(role: str) -> None:
    """Call this process ``role`` (``gateway-worker``, ``gateway-serve`` ...) in PostgreSQL's
    ``pg_stat_activity``, for every engine made after.

    Without a name, the sessions listed there (by an operator, or by ``backup restore`` when it refuses
    to replace a database still in use) could not be told apart. A URL's own ``application_name``, or
    ``PGAPPNAME`` in the environment, wins. Every command that is not a server stays ``gateway-cli``."""
    global _application_name
    _application_name = role


def _server_connect_args(parsed: URL) -> dict[str, Any]:
    """libpq options the URL (or the environment) left unset: the process's name and a connect timeout."""
    args: dict[str, Any] = {}
    if "application_name" not in parsed.query and not os.environ.get("PGAPPNAME"):
        args["application_name"] = _application_name
    if "connect_timeout" not in parsed.query and not os.environ.get("PGCONNECT_TIMEOUT"):
        args["connect_timeout"] = CONNECT_TIMEOUT
    return args


class _SQLiteConnection(sqlite3.Connection):
    """A pysqlite connection that gives the engine's in-process write lock back when its
    transaction ends (commit or rollback, including the pool's rollback on return)."""

    write_lock: threading.Lock | None = None
    holding = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def _release(self) -> None:
        if self.holding and self.write_lock is not None:
            self.holding = False
            self.write_lock.release()


def make_engine(url: str) -> Engine:
    """An engine tuned for its backend. SQLite: WAL, a busy timeout, foreign keys, immediate writes,
    and one write transaction at a time per process, queued on a lock.

    Why the lock: SQLite lets one writer in at a time, and a connection that finds the file locked
    polls with sleeps of 1, 2, 5 ... 100 ms. With eight delivery threads that polling, not the work,
    was 70% of the worker's time (py-spy, bench/delivery_bench.py). Waiting on a lock in the process
    wakes the next thread the moment the previous transaction ends; other processes still meet the
    busy timeout."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT, "check_same_thread": False, "factory": _SQLiteConnection}
        engine = create_engine(url, **kwargs)
        write_lock = threading.Lock()

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                return  # a one-statement read (``read_only``): its own snapshot, no write lock to queue on
            # BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock on upgrade.
            dbapi_conn = conn.connection.dbapi_connection
            if not write_lock.acquire(timeout=BUSY_TIMEOUT):
                # What SQLite's own busy timeout would have raised (a second transaction opened by a
                # thread that already holds one waits for itself), wrapped as SQLAlchemy wraps it.
                why = f"database is locked: no write transaction of this process ended within {BUSY_TIMEOUT:g} s"
                raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(why))
            dbapi_conn.write_lock, dbapi_conn.holding = write_lock, True
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi_conn._release()
                raise

        return engine
    kwargs["pool_pre_ping"] = True
    kwargs["pool_size"] = 10
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = _server_connect_args(parsed)
    return create_engine(url, **kwargs)


def where(url: URL | str) -> str:
    """The database as an operator names it, never with its password: ``host:port/name`` of a server,
    the file of SQLite."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database or "an in-memory SQLite database")
    port = parsed.port or {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}.get(parsed.get_backend_name())
    return f"{parsed.host or 'localhost'}:{port}/{parsed.database or ''}"


_AUTHENTICATION = re.compile(r"(?i)authentication failed|no pg_hba\.conf entry|password")
_GONE = ("08", "57P01", "57P02", "57P03")  # connection exceptions; admin/crash shutdown, cannot connect now


def unreachable(exc: BaseException, url: URL | str) -> str | None:
    """What an operator needs to read when ``exc`` says the database server cannot be used right now
    (refused, gone, shutting down, credentials refused), naming it by host and port; None for any other
    error, which is a bug or a data problem and keeps its traceback.

    A database server that is down is an expected condition: those who meet it (the worker, ``/readyz``)
    say this one line instead of a traceback. SQLite, a local file, is never "unreachable" here (a
    locked or full file is its own condition)."""
    found = next((e for e in _chain(exc) if isinstance(e, DBAPIError)), None)
    if found is None or isinstance(found.orig, sqlite3.Error):
        return None
    orig = found.orig
    sqlstate = getattr(orig, "sqlstate", None)
    gone = found.connection_invalidated or sqlstate is None or str(sqlstate).startswith(_GONE)
    if not (isinstance(found, OperationalError) and gone):
        return None
    reason = " ".join(str(orig).split("\n")[0].split()) or type(orig).__name__
    parsed = make_url(url) if isinstance(url, str) else url
    if str(sqlstate or "").startswith("28") or _AUTHENTICATION.search(reason):
        return f"credentials refused by {where(parsed)} for user {parsed.username or '(none)'} ({reason})"
    return f"unreachable at {where(parsed)} ({reason})"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def read_only(engine: Engine) -> Connection:
    """A connection for one-statement reads on hot paths (the pull API): autocommit, so on SQLite it
    neither takes the process's write lock nor opens ``BEGIN IMMEDIATE`` (every ORM session does, and
    readers queued behind writers); each statement reads its own consistent snapshot."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` on the engine's own connection."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        from alembic.script import ScriptDirectory

        refuse_newer_schema(conn, ScriptDirectory.from_config(cfg), engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def refuse_newer_schema(conn: Any, script: ScriptDirectory, engine: Engine) -> None:
    """A database written by a newer gateway has a revision this one does not know: say so, with
    what to do, instead of Alembic's "Can't locate revision" (shown as an unexpected error)."""
    from alembic.runtime.migration import MigrationContext

    known = {rev.revision for rev in script.walk_revisions()}
    current = MigrationContext.configure(conn).get_current_heads()
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        raise _newer_schema(engine, unknown, script.get_heads())


def _newer_schema(engine: Engine, unknown: list[str], heads: Iterable[str]) -> ConfigurationError:
    from gateway import __version__

    return ConfigurationError(
        f"the database {engine.url.render_as_string()} is at schema revision {', '.join(unknown)}, newer than "
        f"this gateway ({__version__}) knows (its newest is {', '.join(sorted(heads))}): run the gateway "
        "version that wrote it, or restore a backup made by this version (`gateway backup restore DIR`)"
    )


def is_at_head(engine: Engine) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == set(script.get_heads())


_REVISION = re.compile(r"^(down_revision|revision)\b[^=]*=\s*['\"]?([^'\"\s]+)", re.M)


@cache
def _revision_lines() -> tuple[frozenset[str], frozenset[str]]:
    """Every revision of the migration scripts and every parent one, read from their two lines."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((key, value) for key, value in _REVISION.findall(script.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
        if found.get("down_revision") not in (None, "None"):
            parents.add(found["down_revision"])
    return frozenset(revisions), frozenset(parents)


def head_revisions() -> frozenset[str]:
    """The heads of the migration scripts, read from their ``revision``/``down_revision`` lines.

    Importing Alembic and loading every script costs more than the rest of a short command (issue 19:
    every ``gateway`` command on the embedded default migrated on start); the scripts' own two lines
    are enough to know whether there is anything to do. Alembic stays the one that migrates."""
    revisions, parents = _revision_lines()
    return revisions - parents


def refuse_unknown_revision(engine: Engine) -> None:
    """On a server database (migrated as a deployment step, not on start), refuse a schema written
    by a newer gateway before any command reads or writes it: one query, no Alembic import.

    The embedded default does the same inside its migration on start (``refuse_newer_schema``); a
    PostgreSQL deployment used to run ordinary commands against a newer schema and fail later with
    whatever SQL error the difference caused. A database with no schema yet is left to the first
    query's own message (``gateway db upgrade`` is the deployment step)."""
    try:
        with engine.connect() as conn:
            current = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except DBAPIError:  # no alembic_version table (not migrated yet) or unreachable: said by the first query
        return
    known, _ = _revision_lines()
    unknown = sorted(current - known)
    if unknown:
        raise _newer_schema(engine, unknown, head_revisions())


def upgrade_if_behind(engine: Engine) -> bool:
    """Migrate unless the database is already at the scripts' head (checked with one query, no
    Alembic import); returns whether Alembic ran."""
    try:
        with engine.connect() as conn:
            current = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except DBAPIError:  # no alembic_version table yet: a new database
        current = set()
    if current and current == head_revisions():
        return False
    upgrade(engine)
    return True
