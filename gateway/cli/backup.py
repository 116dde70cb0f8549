"""Backups of the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    err,
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
    from gateway.cli import checks

    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise checks.CommandInputError(f"backup folder {directory} exists and is not empty: name a new folder")
    checks.output_path(directory, "folder")
    from gateway.progress import progress_bar

    gw = gateway_for(config)
    with progress_bar(err, "backing up", "pages") as progress:
        task = progress.add_task("backup", total=None)
        manifest = backup.create(
            gw.engine,
            directory,
            lambda done, total: progress.update(task, completed=done, total=total),
            files=backup.state_files(gw.settings),
        )
    total = sum(manifest.row_counts.values())
    console.print(
        f"backup of {manifest.backend} in {directory}: {manifest.file}, {total} rows, SHA-256 {manifest.sha256}"
    )


@backup_app.command("restore")
def backup_restore(
    directory: Path,
    config: ConfigOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask: replace the database")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="restore even while other processes or sessions use the database")
    ] = False,
) -> None:
    """Restore DIRECTORY into the configured database, replacing what it holds. Refuses while other
    processes (workers, schedulers, the API) use the database: stop them first. Asks first; --yes for
    scripts."""
    from gateway import backup
    from gateway.cli import checks

    checks.existing_dir(directory, "backup folder")
    checks.readable_file(directory / "manifest.json", "backup manifest")
    settings = settings_for(config)
    from gateway.db.engine import make_engine

    engine = make_engine(settings.database_url)
    users = backup.other_users(engine)
    if users and not force:
        raise checks.CommandInputError(
            "the database is in use; stop the workers, schedulers and the API first "
            "(docs/operations.md, \"Restoring within 4 hours\"), or --force:\n  " + "\n  ".join(users)
        )
    checks.confirm(
        f"Replace every row of the database {engine.url.render_as_string()} with the backup in {directory}?",
        yes,
    )
    manifest, put = backup.restore(engine, directory, backup.state_files(settings))
    console.print(f"restored {manifest.file} ({manifest.created_at}); row counts match the manifest")
    for item in put:
        kept = f"; the different file that was there is kept as {item.kept}" if item.kept else ""
        console.print(f"restored {item.name} to {item.path}{kept}", markup=False, highlight=False)
    if "audit.key" not in manifest.files:
        err.print(
            "warning: this backup holds no audit key (made before backups carried it): `gateway audit verify` "
            f"passes only with the key that sealed its events, at {settings.audit_key_file}",
            markup=False,
        )
    console.print("next: `gateway db upgrade`, then `gateway audit verify`", markup=False, highlight=False)
