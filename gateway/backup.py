"""Backups and restore of the gateway's database (the broker holds only wake-ups: nothing to keep).

- SQLite: the online backup API (consistent while workers write), into ``gateway.sqlite``.
- PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot), into ``gateway.dump``.
A ``manifest.json`` records the backend, the schema revision, the row count of every table and the
file's SHA-256. ``restore`` checks the hash first, restores into the configured (empty or stale)
database, and checks every row count against the manifest, so a restore that lost anything fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from gateway.db.models import Base
from gateway.errors import ConfigurationError, GatewayError


class BackupError(GatewayError):
    pass


@dataclass(frozen=True)
class BackupManifest:
    backend: str
    file: str
    sha256: str
    revision: str | None
    row_counts: dict[str, int]
    created_at: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in Base.metadata.sorted_tables}


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if not found:
        raise ConfigurationError(f"{name} not found: install PostgreSQL's client tools (Debian: postgresql-client)")
    return str(found)


def _private(path: Path) -> Path:
    """Create ``path`` readable by its owner only (0600) before anything is written into it: a backup
    holds every packet, account hash and audit event, and must not be world-readable even briefly."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    path.chmod(0o600)
    return path


def create(engine: Engine, directory: Path, progress: Callable[[int, int], None] | None = None) -> BackupManifest:
    """Back up into ``directory``. ``progress(done, total)`` follows SQLite's pages as they are copied
    (pg_dump says nothing until it ends)."""
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
    backend = engine.url.get_backend_name()
    if backend == "sqlite":
        target = _private(directory / "gateway.sqlite")
        source = sqlite3.connect(str(engine.url.database), timeout=30)
        try:
            dest = sqlite3.connect(str(target))
            with dest:
                if progress is None:
                    source.backup(dest)
                else:  # 1,024 pages (4 MiB) a step, so a large database shows its pace
                    source.backup(dest, pages=1024, progress=lambda _s, left, total: progress(total - left, total))
            dest.close()
        finally:
            source.close()
        counts = _sqlite_counts(target)
        revision = sqlite3.connect(str(target)).execute("SELECT version_num FROM alembic_version").fetchone()[0]
    elif backend == "postgresql":
        target = _private(directory / "gateway.dump")
        # Count rows and dump from one exported snapshot, so the manifest describes exactly the dump.
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
            counts = {
                t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in Base.metadata.sorted_tables
            }
            revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
            run = subprocess.run(
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    "--file",
                    str(target),
                    _libpq(engine.url.render_as_string(hide_password=False)),
                ],
                capture_output=True,
                text=True,
            )
            conn.commit()  # the snapshot must outlive pg_dump, so the transaction ends only now
        if run.returncode != 0:
            raise BackupError(f"pg_dump failed: {run.stderr.strip()[:500]}")
    else:
        raise ConfigurationError(f"backups support SQLite and PostgreSQL, not {backend}")
    manifest = BackupManifest(
        backend, target.name, _sha256(target), revision, counts, datetime.now(UTC).isoformat(timespec="seconds")
    )
    _private(directory / "manifest.json").write_text(json.dumps(manifest.__dict__, indent=2) + "\n", encoding="utf-8")
    return manifest


def _sqlite_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(str(path))
    try:
        return {
            t.name: int(conn.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0])  # noqa: S608
            for t in Base.metadata.sorted_tables
        }
    finally:
        conn.close()


def read_manifest(directory: Path) -> BackupManifest:
    try:
        raw = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        return BackupManifest(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise BackupError(f"{directory}: no readable manifest.json ({exc})") from exc


def restore(engine: Engine, directory: Path) -> BackupManifest:
    """Restore into ``engine``'s database; stop workers and schedulers first."""
    manifest = read_manifest(directory)
    if Path(manifest.file).name != manifest.file:
        raise BackupError(f"{directory}: the manifest names {manifest.file!r}, not a file of the backup folder")
    source = directory / manifest.file
    if not source.is_file():
        raise BackupError(f"{source}: the database file the manifest names is missing")
    if _sha256(source) != manifest.sha256:
        raise BackupError(f"{source}: SHA-256 does not match the manifest; the backup is damaged")
    backend = engine.url.get_backend_name()
    if backend != manifest.backend:
        raise BackupError(f"backup is {manifest.backend}, the configured database is {backend}")
    engine.dispose()
    if backend == "sqlite":
        target = Path(str(engine.url.database))
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(source, target)
        counts = _sqlite_counts(target)
    else:
        run = subprocess.run(
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--dbname",
                _libpq(engine.url.render_as_string(hide_password=False)),
                str(source),
            ],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise BackupError(f"pg_restore failed: {run.stderr.strip()[:500]}")
        counts = row_counts(engine)
        engine.dispose()
    if counts != manifest.row_counts:
        raise BackupError(f"restored row counts {counts} differ from the manifest {manifest.row_counts}")
    return manifest


def copy_database(
    source: Engine, target: Engine, batch: int = 2000, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Copy every row from ``source`` to ``target`` (migrated, empty), table by table in dependency
    order, then move PostgreSQL sequences past the copied ids. Used to move from the embedded SQLite
    default to PostgreSQL; stop every gateway process first."""
    counts: dict[str, int] = {}
    total = sum(row_counts(source).values()) if progress is not None else 0
    done = 0
    with source.connect() as src, target.begin() as dst:
        for table in Base.metadata.sorted_tables:
            if dst.scalar(select(func.count()).select_from(table)):
                raise BackupError(f"target table {table.name} is not empty; copy into a freshly migrated database")
            copied = 0
            result = src.execute(select(table)).mappings()
            while rows := result.fetchmany(batch):
                dst.execute(table.insert(), [dict(r) for r in rows])
                copied += len(rows)
                done += len(rows)
                if progress is not None:
                    progress(done, max(total, done))
            counts[table.name] = copied
        if target.url.get_backend_name() == "postgresql":
            for table in Base.metadata.sorted_tables:
                pk = list(table.primary_key.columns)
                if len(pk) == 1 and pk[0].autoincrement is not False and str(pk[0].type) == "INTEGER":
                    name, column = table.name, pk[0].name  # our own schema's names, not input
                    statement = (
                        f"SELECT setval(pg_get_serial_sequence('{name}', '{column}'), "  # noqa: S608
                        f"COALESCE((SELECT MAX({column}) FROM {name}), 0) + 1, false)"
                    )
                    dst.execute(text(statement))
    if row_counts(target) != counts:
        raise BackupError("the copy's row counts do not match the source")
    return counts
