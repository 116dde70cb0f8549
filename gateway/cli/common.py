"""What every command module shares: the root Typer app, the consoles, and the way a command gets its
settings and its composed gateway.

Kept light on purpose: ``gateway --help`` imports this and the command modules, so anything heavy
(settings, SQLAlchemy, the bootstrap) is imported inside the functions that need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway
    from gateway.settings import Settings

app = typer.Typer(
    help="Gateway between a provincial reporting system and the national reporting network "
    "(QCVN 125:2021/BTTTT packets).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# soft_wrap: a line printed is one line, at any width (a terminal wraps it for the eye); rich would
# otherwise cut lines at 80 columns in a pipe or a log, where scripts read them (the demo's summary
# line lost its tail to ops/ci/wheel.sh's grep). Tables still fit the width.
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML configuration file")]


LOADED: dict[str, Settings] = {}
"""The settings of this command, once read: an error line can then name the server it could not reach."""


def settings_for(config: Path | None) -> Settings:
    """Settings from ``--config`` (or ``GATEWAY_CONFIG``) and the environment."""
    from gateway.settings import load_settings

    LOADED["settings"] = settings = load_settings(config)
    return settings


def gateway_for(
    config: Path | None, migrate: bool | None = None, *, create: bool = False, lazy: bool = False
) -> Gateway:
    """The composed gateway (engine, broker, connectors, clock, signer) for one command.

    Only the commands that may start a gateway's life (``ingest``, ``users add``, the servers ...)
    pass ``create=True``; every other one refuses a database that does not exist rather than make an
    empty one in ``./data`` and show an empty table (the demo's data is in ``data/demo``).
    ``lazy=True``: the signer, trust store, profile and broker are built on first use
    (``bootstrap``), for a command that seldom needs them."""
    from gateway.bootstrap import bootstrap
    from gateway.cli import checks

    settings = settings_for(config)
    if not create:
        checks.existing_database(settings)
    return bootstrap(settings, migrate=migrate, lazy=lazy)


def wire_format(value: str, option: str) -> Literal["json", "xml"]:
    """A packet encoding named on the command line, checked (and so narrowed) once."""
    if value == "json":
        return "json"
    if value == "xml":
        return "xml"
    from gateway.cli.checks import CommandInputError

    raise CommandInputError(f"unknown {option} {value!r}; one of json, xml")


def configure_logs(settings: Settings) -> None:
    from gateway import logs

    logs.configure(settings.log.level, settings.log.format)


def _print_version(value: bool) -> None:
    if not value:
        return
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    from gateway import __version__

    typer.echo(
        f"vn-report-gateway {__version__} (Python {platform.python_version()}; "
        f"vietnam-provinces {installed('vietnam-provinces')}, holidays {installed('holidays')})"
    )
    raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Gateway between a provincial reporting system and the national reporting network
    (QCVN 125:2021/BTTTT packets)."""
