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

PERIOD = re.compile(r"^(\d{4})-([0-9A-Z_]+)-(\d{1,3})$", re.ASCII)


class CommandInputError(GatewayError):
    """The command line names something that does not exist or cannot be read (exit 2)."""


def hint(value: str, known: Iterable[str]) -> str:
    choices = sorted(set(known))
    close = difflib.get_close_matches(value, choices, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(choices)}" if choices else "; none is configured"


def one_of(value: str, known: Iterable[str], what: str) -> str:
    """``value`` is one of ``known`` (an option's choices, a role, a fault profile ...)."""
    choices = list(known)
    if value not in choices:
        raise CommandInputError(f"unknown {what} {value!r}; one of {', '.join(choices)}")
    return value


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


def output_path(path: Path, what: str = "output") -> Path:
    """A file or folder to be written: its nearest existing ancestor must be a folder we may write in
    (checked before any work, so a long run does not end with "cannot write")."""
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise CommandInputError(f"{what} {path} cannot be written: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise CommandInputError(f"{what} {path} cannot be written: no permission to write in {ancestor}")
    if path.is_dir() and what != "folder":
        raise CommandInputError(f"{what} {path} is a folder: name a file")
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
        raise CommandInputError(ref if value.strip() in ref else f"period {value!r}: {ref}")
    return ref.key


def existing_database(settings: Settings) -> None:
    """The embedded (SQLite) database exists. A command that only looks at data must not create an
    empty one where the operator did not mean to look (``gateway quarantine list`` after the demo
    used to make ``./data/gateway.sqlite`` and show an empty table): say where it looked, why there,
    and how to point at the demo's data."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return  # a server database: reaching it (or not) is the answer
    path = Path(str(url.database))
    if path.is_file():
        return
    if settings.database.url:
        source = "database.url"
    elif os.environ.get("GATEWAY_DATA_DIR"):
        source = f"GATEWAY_DATA_DIR={os.environ['GATEWAY_DATA_DIR']}"
    else:
        source = "the default data folder ./data: GATEWAY_DATA_DIR is not set"
    demo = Path("data") / "demo"
    where = (
        f"the demo's data is in {demo}: export GATEWAY_DATA_DIR={demo}"
        if (demo / "gateway.sqlite").is_file()
        else "to use the demo's data: export GATEWAY_DATA_DIR=data/demo (after `gateway demo`)"
    )
    raise CommandInputError(
        f"no gateway database at {path} ({source}); nothing was created. "
        f"{where[0].upper()}{where[1:]}; for a new gateway, run `gateway db upgrade` first"
    )


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


def csv_encoding(name: str, adapter: str) -> str:
    """A CSV file's encoding: a legacy Vietnamese one (read byte for byte) or any Python codec."""
    import codecs

    if adapter != "csv":
        raise CommandInputError(f"--encoding {name!r} is for csv sources, not {adapter}")
    if name not in ("tcvn3", "vni", "viscii"):
        try:
            codecs.lookup(name)
        except LookupError:
            raise CommandInputError(
                f"unknown --encoding {name!r}; one of utf-8, utf-16, cp1258, tcvn3, vni, viscii"
            ) from None
    return name


def free_port(host: str, port: int, what: str) -> None:
    """Refuse a command whose server could not bind, before it does anything else (the demo used to
    run, make an account and print its password, then fail on "address already in use")."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandInputError(
                f"{what} cannot listen on {host}:{port} ({exc.strerror or exc}): stop what holds it, "
                "or choose another port (GATEWAY_API__PORT, or api.port in the configuration)"
            ) from None


def fault_profile(name: str) -> str:
    from gateway.sim.faults import PROFILES

    return one_of(name, PROFILES, "fault profile")


def account(gateway: Gateway, username: str) -> str:
    """An operator account that exists (an approver named with ``--as``)."""
    from sqlalchemy import select

    from gateway.db.models import ApiUser

    with gateway.sessions() as session:
        known = list(session.scalars(select(ApiUser.username)))
    if username not in known:
        raise CommandInputError(f"unknown account {username!r}{hint(username, known)}")
    return username


def new_password(password_file: Path | None) -> str:
    """A new password from a file, ``$GATEWAY_NEW_PASSWORD`` or a prompt; never from the command line.
    Without a terminal to ask on (cron, CI, a pipe), say so rather than fail inside ``getpass``."""
    if password_file is not None:
        readable_file(password_file, "password file")
        lines = password_file.read_text(encoding="utf-8").splitlines()
        if not lines or not lines[0]:
            raise CommandInputError(f"password file {password_file} is empty")
        return lines[0]
    if os.environ.get("GATEWAY_NEW_PASSWORD"):
        return os.environ["GATEWAY_NEW_PASSWORD"]
    if not sys.stdin.isatty():
        raise CommandInputError("no password: give --password-file or set GATEWAY_NEW_PASSWORD (no terminal to ask on)")
    import typer

    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


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
