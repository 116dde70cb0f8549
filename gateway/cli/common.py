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

console = Console()
err = Console(stderr=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML configuration file")]


def settings_for(config: Path | None) -> Settings:
    """Settings from ``--config`` (or ``GATEWAY_CONFIG``) and the environment."""
    from gateway.settings import load_settings

    return load_settings(config)


def gateway_for(config: Path | None, migrate: bool | None = None) -> Gateway:
    """The composed gateway (engine, broker, connectors, clock, signer) for one command."""
    from gateway.bootstrap import bootstrap

    return bootstrap(settings_for(config), migrate=migrate)


def wire_format(value: str, option: str) -> Literal["json", "xml"]:
    """A packet encoding named on the command line, checked (and so narrowed) once."""
    if value == "json":
        return "json"
    if value == "xml":
        return "xml"
    raise typer.BadParameter(f"{option} must be json or xml")


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
