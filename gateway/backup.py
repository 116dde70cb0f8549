"""Backups and restore of the gateway's state (the broker holds only wake-ups: nothing to keep).

- SQLite: the online backup API (consistent while workers write), into ``gateway.sqlite``.
- PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot), into ``gateway.dump``.
- The files the database depends on and never holds (``STATE_FILES``): the audit key that seals
  every audit event, and the audit checkpoints file that anchors the chain. Without the key a
  restored database fails ``gateway audit verify`` on every event; without the checkpoints it is
  unanchored. The checkpoints are copied before the database, so every checkpoint in a backup
  describes events its database holds.
A ``manifest.json`` records the backend, the schema revision, the row count of every table and the
SHA-256 of every file. ``restore`` checks the hashes first, restores into the configured (empty or
stale) database, checks every row count against the manifest, so a restore that lost anything fails,
and then puts the state files back where the configuration expects them (a different file already
there is kept beside it, renamed, never overwritten).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from gateway.db.models import Base
from gateway.errors import ConfigurationError, GatewayError

if TYPE_CHECKING:
    from gateway.settings import Settings


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
    files: dict[str, str] = field(default_factory=dict)
    """State files in the backup folder: name -> SHA-256 (absent from backups made before 2026-12)."""


STATE_FILES = ("audit.key", "audit-checkpoints.jsonl")
"""The names, in a backup folder, of the audit key and the audit checkpoints file."""


def state_files(settings: Settings) -> dict[str, Path]:
    """Where this configuration keeps each state file a backup carries."""
    return dict(zip(STATE_FILES, (settings.audit_key_file, settings.audit_checkpoint_file), strict=True))


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


def _copy_state(files: dict[str, Path], directory: Path) -> dict[str, str]:
    """Copy each existing state file into ``directory`` (0600), under the lock its writers take, and
    only whole lines of a file being appended to; their SHA-256 by name."""
    copied: dict[str, str] = {}
    for name, path in files.items():
        if not path.is_file():
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # checkpoints.append holds LOCK_EX while it writes a line
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read()
        finally:
            os.close(fd)
        if name.endswith(".jsonl") and not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]
        target = _private(directory / name)
        target.write_bytes(data)
        copied[name] = hashlib.sha256(data).hexdigest()
    return copied


def create(
    engine: Engine,
    directory: Path,
    progress: Callable[[int, int], None] | None = None,
    files: dict[str, Path] | None = None,
) -> BackupManifest:
    """Back up into ``directory``: the database and the state ``files`` (``state_files(settings)``).
    ``progress(done, total)`` follows SQLite's pages as they are copied (pg_dump says nothing until
    it ends)."""
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
    copied = _copy_state(files or {}, directory)  # before the database: its checkpoints are all covered
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
        backend,
        target.name,
        _sha256(target),
        revision,
        counts,
        datetime.now(UTC).isoformat(timespec="seconds"),
        copied,
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
        manifest = BackupManifest(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise BackupError(f"{directory}: no readable manifest.json ({exc})") from exc
    files = manifest.files
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise BackupError(f"{directory}: manifest.json: 'files' must map file names to SHA-256 hex digests")
    return manifest


def other_users(engine: Engine) -> list[str]:
    """Who else has the database open now, one line each: a restore under a running worker, scheduler
    or API would have them write into the database being replaced (the restore's row-count check
    could then fail, or pass and lose what they wrote).

    SQLite: processes of this host holding the file (or its WAL) open, from ``/proc``. PostgreSQL:
    the other sessions on the database, from ``pg_stat_activity``."""
    if engine.url.get_backend_name() == "sqlite":
        database = Path(str(engine.url.database)).resolve()
        names = {str(database), f"{database}-wal", f"{database}-shm"}
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            if proc.name == str(os.getpid()):
                continue
            try:
                holds = any(os.readlink(fd) in names for fd in (proc / "fd").iterdir())
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            except OSError:  # gone meanwhile, or not ours to look at
                continue
            if holds:
                found.append(f"process {proc.name}: {command[:120]}")
        return sorted(found)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid, application_name, client_addr, state FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY pid"
            )
        ).all()
    engine.dispose()
    return [
        f"session {pid} ({app or 'no application name'}, {addr or 'local socket'}, {state})"
        for pid, app, addr, state in rows
    ]


def _checked(directory: Path, name: str, sha256: str, what: str) -> Path:
    if Path(name).name != name:
        raise BackupError(f"{directory}: the manifest names {name!r}, not a file of the backup folder")
    source = directory / name
    if not source.is_file():
        raise BackupError(f"{source}: the {what} the manifest names is missing")
    if _sha256(source) != sha256:
        raise BackupError(f"{source}: SHA-256 does not match the manifest; the backup is damaged")
    return source


@dataclass(frozen=True)
class PutBack:
    """A state file restored to ``path``; ``kept``: the different file that was there, renamed."""

    name: str
    path: Path
    kept: Path | None


def _put_back(source: Path, target: Path, stamp: str) -> Path | None:
    data = source.read_bytes()
    kept = None
    if target.exists():
        if target.read_bytes() == data:
            return None
        kept = target.with_name(f"{target.name}.replaced-{stamp}")
        target.rename(kept)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return kept


def restore(
    engine: Engine, directory: Path, files: dict[str, Path] | None = None
) -> tuple[BackupManifest, list[PutBack]]:
    """Restore into ``engine``'s database, then the state files the backup holds to where ``files``
    says (``state_files(settings)``); stop workers and schedulers first. Every hash is checked before
    anything is replaced."""
    manifest = read_manifest(directory)
    source = _checked(directory, manifest.file, manifest.sha256, "database file")
    state = {name: _checked(directory, name, digest, "state file") for name, digest in manifest.files.items()}
    targets = files or {}
    unknown = sorted(set(state) - set(targets))
    if files is not None and unknown:
        raise BackupError(f"{directory}: the manifest names state files this gateway does not know: {unknown}")
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
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    put = [
        PutBack(name, targets[name], _put_back(path, targets[name], stamp))
        for name, path in state.items()
        if name in targets
    ]
    return manifest, put


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
