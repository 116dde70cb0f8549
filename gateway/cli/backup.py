"""Backups of the database."""

from __future__ import annotations

from pathlib import Path

import typer

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    gateway_for,
    settings_for,
)

backup_app = typer.Typer(
    help="Backups of the database, with a manifest of row counts and a hash.", no_args_is_help=True
)
app.add_typer(backup_app, name="backup")


@backup_app.command("create")
def backup_create(directory: Path, config: ConfigOpt = None) -> None:
    """Back up the database into DIRECTORY (safe while workers run)."""
    from gateway import backup

    gw = gateway_for(config)
    manifest = backup.create(gw.engine, directory)
    total = sum(manifest.row_counts.values())
    console.print(
        f"backup of {manifest.backend} in {directory}: {manifest.file}, {total} rows, SHA-256 {manifest.sha256}"
    )


@backup_app.command("restore")
def backup_restore(directory: Path, config: ConfigOpt = None) -> None:
    """Restore DIRECTORY into the configured database (stop workers and schedulers first)."""
    from gateway import backup

    settings = settings_for(config)
    from gateway.db.engine import make_engine

    manifest = backup.restore(make_engine(settings.database_url), directory)
    console.print(f"restored {manifest.file} ({manifest.created_at}); row counts match the manifest")
