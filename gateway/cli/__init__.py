"""The ``gateway`` command line. Thin: parse arguments, build settings, call a use case, print.

One module per command group (``processes``, ``ingest``, ``deliveries``, ``reports`` ...), each
registering its commands on the root app in :mod:`gateway.cli.common`; a new top-level command or
group is also named in ``COMMANDS`` (a test checks), so that running it imports only its module. Every command honours
``GATEWAY_DATA_DIR`` and ``--config``/``GATEWAY_CONFIG``. Domain errors are printed as one clear line
(never a traceback) with exit code 2 for configuration and unreadable input, 1 for a failed check.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys

import typer

from gateway.cli import common
from gateway.cli.common import LOADED, err
from gateway.errors import ConfigurationError, GatewayError, PacketInvalid, TimestampUnavailable

__all__ = ["app", "main"]

# Importing a command module registers its commands; this order is the order of ``gateway --help``.
COMMAND_MODULES = (
    "processes",
    "schedule",
    "ingest",
    "templates",
    "packets",
    "text",
    "signing",
    "reconcile",
    "deliveries",
    "reports",
    "regimes",
    "catalogues",
    "accounts",
    "db",
    "backup",
    "contracts",
    "sim",
    "audit",
)
COMMANDS = {
    **dict.fromkeys(("demo", "serve", "worker", "run", "scheduler"), "processes"),
    **dict.fromkeys(("calendar", "runs"), "schedule"),
    **dict.fromkeys(("ingest", "quarantine", "mapping"), "ingest"),
    "template": "templates",
    **dict.fromkeys(("validate", "convert"), "packets"),
    "unicode": "text",
    **dict.fromkeys(("keys", "sign", "verify"), "signing"),
    "reconcile": "reconcile",
    **dict.fromkeys(("deliveries", "destinations", "replay", "export-bundle"), "deliveries"),
    "reports": "reports",
    "regimes": "regimes",
    "catalogues": "catalogues",
    **dict.fromkeys(("clients", "users"), "accounts"),
    "db": "db",
    "backup": "backup",
    "contracts": "contracts",
    "sim": "sim",
    "audit": "audit",
}
"""Each top-level command or group -> the module that registers it (tested against the modules).
``gateway ingest ...`` imports only ``gateway.cli.ingest`` and Typer builds only its commands: all
eighteen modules and sixty commands were a tenth of a second of every command's start-up (issue 19)."""


def register_commands(argv: list[str] | None = None) -> None:
    """Register the command that ``argv`` names, or every command (for ``gateway``, ``--help``,
    ``--version``, shell completion, or a name that is not a command, which Typer then answers
    with the full list to choose from)."""
    module = COMMANDS.get(argv[1]) if argv is not None and len(argv) > 1 else None
    for name in (module,) if module is not None else COMMAND_MODULES:
        importlib.import_module(f"gateway.cli.{name}")


def __getattr__(name: str) -> typer.Typer:
    """``from gateway.cli import app``: the root app with every command registered."""
    if name == "app":
        register_commands()
        return common.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_UNREACHABLE = (
    "connection refused",
    "could not connect",
    "could not translate host name",
    "name or service not known",
    "timeout expired",
    "no route to host",
    "unable to open database file",
    "network is unreachable",
)


def _is_unreachable(exc: BaseException) -> bool:
    import socket

    return isinstance(exc, ConnectionError | TimeoutError | socket.gaierror) or any(
        m in str(exc).lower() for m in _UNREACHABLE
    )


def _address(url: str | None) -> str:
    """``host:port`` of a server URL (never its password), or "" when the URL names no server."""
    if not url:
        return ""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url.replace("sqla+", "", 1))
    except ArgumentError:
        return ""
    if not parsed.host:
        return ""
    default = {"postgresql": 5432, "amqp": 5672, "amqps": 5671, "pyamqp": 5672, "redis": 6379}
    port = parsed.port or default.get(parsed.get_backend_name())
    return f"{parsed.host}:{port}" if port else parsed.host


def _configured(kind: str) -> str:
    settings = LOADED.get("settings")
    if settings is None:
        return ""
    return _address(settings.broker_url if kind == "broker" else settings.database_url)


def _what(exc: BaseException) -> str:
    text = f"{type(exc).__module__} {exc}".lower()
    if any(m in text for m in ("amqp", "kombu", "5672")):
        where = _configured("broker")
        return f"the broker at {where}" if where else "the broker"
    return "a server"


_PG_SERVER = re.compile(r'server at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+)')


def database_message(exc: Exception, url: str | None = None) -> str:
    """One line for a database failure: what could not be reached (host:port), or what is wrong with
    the schema. (A refused PostgreSQL connection used to be answered "Is the schema migrated?")."""
    from sqlalchemy.exc import OperationalError

    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if isinstance(exc, OperationalError) and any(m in str(exc).lower() for m in _UNREACHABLE):
        named = _PG_SERVER.search(first)
        where = f"{named['host']}:{named['port']}" if named else _address(url) if url else _configured("database")
        at = f" at {where}" if where else ""
        return f"cannot reach the database{at}: {first}. Is the server running, and is database.url right?"
    if "no such table" in first.lower() or ("does not exist" in first.lower() and "relation" in first.lower()):
        return f"database error: {first}. The schema is not migrated: run `gateway db upgrade`."
    return f"database error: {first}"


def _usage_error(exc: typer.TyperException) -> int:
    """A command line the parser refused (unknown command or option, a value out of range, a missing
    argument): one line naming it and where the help is, as git and pip do, not Typer's framed panel."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":  # ``gateway`` or ``gateway users`` alone: the help
        help_text = exc.format_message()  # Rich has already drawn it when it returns nothing
        if help_text.strip():
            typer.echo(help_text)
        return int(getattr(exc, "exit_code", 2))
    message = " ".join(exc.format_message().split())
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None and ctx.command_path else ""
    err.print(f"error: {message}{where}", markup=False, soft_wrap=True, highlight=False)
    return int(getattr(exc, "exit_code", 2))


def main() -> None:
    """Entry point: domain errors become one clear line and an exit code, never a traceback
    (``GATEWAY_DEBUG=1`` re-raises unexpected errors for developers)."""
    import os

    register_commands(sys.argv)
    app = common.app
    if os.environ.get("GATEWAY_DEBUG"):
        app()
        return
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:
        sys.exit(_usage_error(exc))
    except typer.Abort:
        err.print("aborted: nothing was changed", markup=False)
        sys.exit(1)
    except ConfigurationError as exc:
        err.print(f"configuration error: {exc}", markup=False, soft_wrap=True)
        sys.exit(2)
    except TimestampUnavailable as exc:
        err.print(f"error: {exc}. Nothing was stored; run again when it answers.", markup=False, soft_wrap=True)
        sys.exit(75)  # EX_TEMPFAIL, as for a full disk
    except GatewayError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(2 if not isinstance(exc, PacketInvalid) else 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        logging.getLogger("gateway").debug("unexpected error", exc_info=True)
        from gateway.storage import is_no_space

        if is_no_space(exc):
            first = str(exc).splitlines()[0]
            err.print(f"no space left on the disk: {first}. Free space and run again.", markup=False, soft_wrap=True)
            sys.exit(75)  # EX_TEMPFAIL: nothing is wrong with the input, try again later
        if isinstance(exc, SQLAlchemyError):
            err.print(database_message(exc), markup=False, soft_wrap=True)
            sys.exit(3)
        if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError):
            err.print(f"error: cannot use {exc.filename}: {exc.strerror}", markup=False, soft_wrap=True)
            sys.exit(2)
        if _is_unreachable(exc):
            err.print(f"cannot reach {_what(exc)}: {exc}", markup=False, soft_wrap=True)
            sys.exit(3)
        err.print(
            f"unexpected error: {type(exc).__name__}: {exc}. Run with GATEWAY_DEBUG=1 for details.",
            markup=False,
            soft_wrap=True,
        )
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)
