"""Database schema (Alembic) and copying between databases."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
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
    console.print(f"database at {revision}: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("copy")
def db_copy(
    source_url: Annotated[str, typer.Argument(help="SQLAlchemy URL to copy from, e.g. sqlite:///data/gateway.sqlite")],
    config: ConfigOpt = None,
) -> None:
    """Copy all data from SOURCE_URL into the configured database (e.g. SQLite -> PostgreSQL).
    Stop every gateway process first; the target is migrated and must be empty."""
    from gateway.backup import copy_database
    from gateway.db.engine import make_engine, upgrade

    settings = settings_for(config)
    target = make_engine(settings.database_url)
    upgrade(target)
    counts = copy_database(make_engine(source_url), target)
    console.print(
        f"copied {sum(counts.values())} rows in {len(counts)} tables into "
        f"{target.url.render_as_string(hide_password=True)}"
    )
