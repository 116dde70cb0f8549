"""The ``gateway`` command line. Thin: parse arguments, build settings, call a use case, print.

One module per command group (``processes``, ``ingest``, ``deliveries``, ``reports`` ...), each
registering its commands on the root app in :mod:`gateway.cli.common`. Every command honours
``GATEWAY_DATA_DIR`` and ``--config``/``GATEWAY_CONFIG``. Domain errors are printed as one clear line
(never a traceback) with exit code 2 for configuration and unreadable input, 1 for a failed check.
"""

from __future__ import annotations

import importlib
import logging
import sys

from gateway.cli.common import app, err
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
    "accounts",
    "db",
    "backup",
    "contracts",
    "sim",
    "audit",
)
for _name in COMMAND_MODULES:
    importlib.import_module(f"gateway.cli.{_name}")


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


def _what(exc: BaseException) -> str:
    text = f"{type(exc).__module__} {exc}".lower()
    return "the broker" if any(m in text for m in ("amqp", "kombu", "5672")) else "a server"


def database_message(exc: Exception) -> str:
    """One line for a database failure: what could not be reached, or what is wrong with the schema.
    (A refused PostgreSQL connection used to be answered "Is the schema migrated?")."""
    from sqlalchemy.exc import OperationalError

    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if isinstance(exc, OperationalError) and any(m in str(exc).lower() for m in _UNREACHABLE):
        return f"cannot reach the database: {first}. Is the server running, and is database.url right?"
    if "no such table" in first.lower() or ("does not exist" in first.lower() and "relation" in first.lower()):
        return f"database error: {first}. The schema is not migrated: run `gateway db upgrade`."
    return f"database error: {first}"


def main() -> None:
    """Entry point: domain errors become one clear line and an exit code, never a traceback
    (``GATEWAY_DEBUG=1`` re-raises unexpected errors for developers)."""
    import os

    if os.environ.get("GATEWAY_DEBUG"):
        app()
        return
    try:
        app()
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
            err.print(f"error: cannot read {exc.filename}: {exc.strerror}", markup=False, soft_wrap=True)
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
