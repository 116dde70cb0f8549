"""Checks of what an operator typed, made before a command does anything.

A wrong name or a missing file used to be silently accepted: ``ingest`` of a missing file counted
one quarantined record and exited 0, ``destinations resume nosuch`` said "resumed", ``export-bundle``
to an unknown destination wrote an empty zip, ``--state deadd`` listed nothing. Each check here
raises :class:`CommandInputError`, which ``gateway.cli.main`` prints as one line (``error: ...``)
with exit code 2, as pip and git do for a usage error.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway
    from gateway.settings import Settings

PERIOD = re.compile(r"^(\d{4})-([0-9A-Z_]+)-(\d{1,3})$")


class CommandInputError(GatewayError):
    """The command line names something that does not exist or cannot be read (exit 2)."""


def hint(value: str, known: Iterable[str]) -> str:
    choices = sorted(set(known))
    close = difflib.get_close_matches(value, choices, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(choices)}" if choices else "; none is configured"


def readable_file(path: Path, what: str = "input file") -> Path:
    """``path`` exists, is a file and can be read."""
    if not path.exists():
        raise CommandInputError(f"{what} {path} does not exist")
    if path.is_dir():
        raise CommandInputError(f"{what} {path} is a folder, not a file")
    if not os.access(path, os.R_OK):
        raise CommandInputError(f"{what} {path} cannot be read (permission denied)")
    return path


def existing_dir(path: Path, what: str = "folder") -> Path:
    if not path.is_dir():
        problem = "does not exist" if not path.exists() else "is not a folder"
        raise CommandInputError(f"{what} {path} {problem}")
    return path


def period_key(value: str) -> str:
    """A period key such as ``2026-THANG-10``, checked as the readers check it (month 13 is refused)."""
    from adapters.base import PeriodRef, period_ref

    match = PERIOD.match(value.strip())
    if match is None:
        raise CommandInputError(f"period {value!r} is not a period key such as 2026-THANG-10 or 2026-QUY-3")
    year, period_type, number = match.groups()
    ref = period_ref(period_type, int(number), int(year))
    if not isinstance(ref, PeriodRef):
        raise CommandInputError(ref)
    return ref.key


def delivery_state(value: str) -> str:
    from gateway.db.models import DeliveryState

    known = [s.value for s in DeliveryState]
    if value not in known:
        raise CommandInputError(f"unknown delivery state {value!r}{hint(value, known)}")
    return value


def destination(settings: Settings, name: str, gateway: Gateway | None = None) -> str:
    """A destination the configuration declares, or (for filters over history) one the database has seen."""
    known = set(settings.destinations)
    if name in known:
        return name
    if gateway is not None:
        from sqlalchemy import select

        from gateway.db.models import Delivery, DestinationState

        with gateway.sessions() as session:
            known |= set(session.execute(select(Delivery.destination).distinct()).scalars())
            known |= set(session.execute(select(DestinationState.name)).scalars())
        if name in known:
            return name
    raise CommandInputError(f"unknown destination {name!r}{hint(name, known)}")


def regime(code: str) -> str:
    from gateway.calendar.regimes import all_regimes

    known = [r.code for r in all_regimes()]
    if code not in known:
        raise CommandInputError(f"unknown regime {code!r}{hint(code, known)}")
    return code


def confirm(question: str, yes: bool) -> None:
    """Destructive commands ask first; ``--yes`` answers for scripts. Without a terminal to ask on and
    without ``--yes``, refuse (exit 2) rather than guess."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CommandInputError(f"{question} Refusing without --yes (no terminal to ask on)")
    import typer

    if not typer.confirm(question, default=False):
        raise CommandInputError("cancelled: nothing was changed")
