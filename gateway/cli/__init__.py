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
from gateway.errors import ConfigurationError, GatewayError, PacketInvalid

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
        err.print(f"configuration error: {exc}", markup=False)
        sys.exit(2)
    except GatewayError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(2 if not isinstance(exc, PacketInvalid) else 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        logging.getLogger("gateway").debug("unexpected error", exc_info=True)
        if isinstance(exc, SQLAlchemyError):
            first = str(exc).splitlines()[0]
            err.print(f"database error: {first}. Is the schema migrated? Run `gateway db upgrade`.", markup=False)
            sys.exit(3)
        err.print(f"unexpected error: {type(exc).__name__}: {exc}. Run with GATEWAY_DEBUG=1 for details.", markup=False)
        sys.exit(70)
