"""Database schema (Alembic) and copying between databases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    config: ConfigOpt = None,
) -> None:
    """Copy all data from SOURCE_URL into the configured database (e.g. SQLite -> PostgreSQL).
    Stop every gateway process first; the target is migrated and must be empty."""
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
