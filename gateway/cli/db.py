"""Database schema (Alembic) and copying between databases."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    err,
    settings_for,
)

db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, revision: str = "head") -> None:
    """Migrate the database schema (Alembic) to ``revision``."""
    from alembic.util.exc import CommandError

    from gateway.cli import checks
    from gateway.db.engine import make_engine, upgrade

    settings = settings_for(config)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine, revision)
    except CommandError as exc:  # an unknown revision: Alembic's own words, on one line
        raise checks.CommandInputError(f"--revision {revision!r}: {exc}") from exc
    finally:
        engine.dispose()  # a server's pooled connection closed, not left to the collector
    console.print(f"database at {revision}: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("copy")
def db_copy(
    source_url: Annotated[str, typer.Argument(help="SQLAlchemy URL to copy from, e.g. sqlite:///data/gateway.sqlite")],
    from_data_dir: Annotated[
        Path | None,
        typer.Option(
            "--from-data-dir",
            help="the source's data folder, whose audit key and checkpoints come along "
            "(default: the SQLite source's folder)",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Copy all data from SOURCE_URL into the configured database (e.g. SQLite -> PostgreSQL), and
    the source's audit key and checkpoints into the configured places: the events were sealed with
    that key, so without it every copied event reads as forged. Stop every gateway process first;
    the target is migrated and must be empty."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from gateway.backup import copy_database
    from gateway.cli import checks
    from gateway.db.engine import make_engine, upgrade

    try:
        source = make_url(source_url)
    except ArgumentError as exc:
        raise checks.CommandInputError(f"SOURCE_URL {source_url!r} is not a database URL: {exc}") from exc
    if source.get_backend_name() == "sqlite" and source.database not in (None, "", ":memory:"):
        checks.readable_file(Path(str(source.database)), "source database")  # not an empty one made on the way
    settings = settings_for(config)
    carried = _audit_state(source, from_data_dir, settings)
    target = make_engine(settings.database_url)
    upgrade(target)
    from gateway.progress import progress_bar

    with progress_bar(err, "copying", "rows") as progress:
        task = progress.add_task("copy", total=None)
        counts = copy_database(
            make_engine(source_url),
            target,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(
        f"copied {sum(counts.values())} rows in {len(counts)} tables into "
        f"{target.url.render_as_string(hide_password=True)}"
    )
    for origin, place in carried:
        place.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, place)
        if place == settings.audit_key_file:
            place.chmod(0o600)
        console.print(f"copied {origin} to {place}")


def _audit_state(source: Any, from_data_dir: Path | None, settings: Any) -> list[tuple[Path, Path]]:
    """The audit key and checkpoints to carry from the source's data folder, checked before any row
    is copied: a different key already in place, or events with no key to bring, is refused (the
    copy would be a false tamper alarm on every event, for good; found by an outside operator)."""
    from sqlalchemy import func, select

    from gateway.cli import checks
    from gateway.db.engine import make_engine
    from gateway.db.models import AuditEvent

    engine = make_engine(source.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            events = int(conn.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    finally:
        engine.dispose()
    on_disk = source.get_backend_name() == "sqlite" and source.database not in (None, "", ":memory:")
    if from_data_dir is None and on_disk:
        from_data_dir = Path(str(source.database)).parent
    if from_data_dir is None:
        if events:
            raise checks.CommandInputError(
                f"the source holds {events} audit events: name its data folder with --from-data-dir, so the "
                "audit key they were sealed with and the checkpoints come along"
            )
        return []
    origins = (from_data_dir / "secrets" / "audit.key", from_data_dir / "audit" / "checkpoints.jsonl")
    places = (settings.audit_key_file, settings.audit_checkpoint_file)
    if events and not origins[0].is_file():
        raise checks.CommandInputError(
            f"no audit key at {origins[0]}: without the key its {events} audit events were sealed with, every "
            "copied event reads as forged; name the source's data folder with --from-data-dir"
        )
    carried = []
    for origin, place in zip(origins, places, strict=True):
        if not origin.is_file():
            continue
        if place.exists():
            if place.read_bytes() != origin.read_bytes():
                raise checks.CommandInputError(
                    f"{place} exists and differs from {origin}: this data folder already has its own audit "
                    "state; copy into a new data folder"
                )
            continue
        carried.append((origin, place))
    return carried
