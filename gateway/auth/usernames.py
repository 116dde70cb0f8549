"""Operator usernames: one spelling per person, none that looks like another's.

NFC and NFD spellings of one name became two accounts (an operator and an admin) that look identical,
and zero-width, right-to-left, newline and empty names were accepted. A username is now:

- normalised: Unicode NFC, then case-folded (``Admin`` and ``admin`` are one account);
- restricted to ASCII letters, digits, ``.``, ``_`` and ``-``, 2 to 64 characters, beginning with a
  letter or digit (``ALLOWED``): no invisible, right-to-left or combining characters can hide in it,
  and every operator's keyboard can type it (a person's full Vietnamese name goes in ``full_name``);
- refused when its *skeleton* equals an existing name's: separators dropped and the ASCII
  confusables of UTS #39 folded (``0``/``o``, ``1``/``l``/``i``, ``rn``/``m``, ``vv``/``w``), so
  ``adrnin`` or ``adm1n`` cannot stand beside ``admin``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from gateway.errors import InputError

ALLOWED = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_CONFUSABLE = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("i", "l"), ("|", "l"), ("5", "s"), ("8", "b"))


def normalise(raw: str) -> str:
    """The one spelling of ``raw`` (NFC, case-folded); not yet checked against ``ALLOWED``."""
    return unicodedata.normalize("NFC", raw).casefold()


def checked(raw: str) -> str:
    """``raw`` normalised, or ``InputError`` saying which rule it breaks."""
    name = normalise(raw)
    if not ALLOWED.fullmatch(name):
        shown = ascii(raw)
        raise InputError(
            f"username {shown} is not allowed: use 2-64 ASCII letters, digits, '.', '_' or '-', "
            "beginning with a letter or digit (the full name may hold any Vietnamese text)"
        )
    return name


def skeleton(name: str) -> str:
    out = re.sub(r"[._-]", "", normalise(name))
    for confusable, plain in _CONFUSABLE:
        out = out.replace(confusable, plain)
    return out


def look_alike(name: str, existing: Iterable[str]) -> str | None:
    """The existing name that ``name`` could be mistaken for, if any (an identical name is not a look-alike)."""
    mine = skeleton(name)
    for other in existing:
        if other != name and skeleton(other) == mine:
            return other
    return None
