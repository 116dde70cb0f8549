"""RFC 8785 (JCS) canonical JSON, written by the C ``json`` module wherever that is provably the same.

Why: a JSON packet's signature covers the RFC 8785 form of its envelope. The ``rfc8785`` package is
pure Python and cost ~15 ms per 1,000 values, five to ten times the RSA signature itself (issue 19).
For the values a packet holds, ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` writes exactly the same bytes:

- strings: both escape only ``"``, ``\\``, and U+0000-U+001F (``\\b \\t \\n \\f \\r`` short, the rest as
  lowercase ``\\u00xx``) and write everything else as UTF-8 (RFC 8785 3.2.2.2, ECMAScript
  ``JSON.stringify``); a lone surrogate cannot be encoded and falls back (``rfc8785`` refuses it);
- integers inside +-(2**53 - 1): the same digits; ``true``, ``false``, ``null``: the same literals;
- keys: RFC 8785 sorts by UTF-16 code units, Python by code points. The two orders differ only
  between a character above U+FFFF (a surrogate pair in UTF-16) and one in U+E000-U+FFFF, so they are
  equal whenever no key holds a character above U+FFFF.

What the fast path does not cover is sent to ``rfc8785``: floats (ECMAScript number formatting),
NaN/Infinity, integers outside the exact range, keys above U+FFFF, lone surrogates. Those are proven
absent, not assumed: the document is parsed with hooks that refuse floats, constants and wide
integers, and the keys are walked only when the text holds a character above U+FFFF at all.
``tests/unit/test_canonical_json.py`` compares the result with ``rfc8785`` over generated documents
(astral and control characters, escapes, big integers, floats) and RFC 8785's own example.

This module imports only the standard library: the packet writer uses it, and every command imports
the writer (``rfc8785`` is imported when a fallback needs it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

MAX_EXACT = 2**53 - 1
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
ASTRAL = _ASTRAL
"""Characters above U+FFFF: where RFC 8785's UTF-16 key order may differ from Python's."""


class CanonicalJson(bytes):
    """Bytes proven to be the RFC 8785 form of a JSON object; only ``form`` and ``parse_and_form``
    make them, so a signer may hash them as they are (``gateway.signing.jcs.sign_canonical``)."""

    __slots__ = ()


class CanonicalEnvelope(CanonicalJson):
    """The RFC 8785 form of a packet envelope that carries no signature: what the packet writer
    returns with ``canonical=True`` for an unsigned envelope. A signer appends its signature member
    to these bytes as they are, with nothing to strip and nothing to re-read."""

    __slots__ = ()


class CanonicalXml(bytes):
    """The exclusive XML C14N 1.0 form (no comments) of an unsigned packet document: what the packet
    writer returns for XML with ``canonical=True``, from the tree it parsed to validate. It is the
    very octets an enveloped XML-DSig Reference digests, so a signer hashes them as they are
    (``gateway.signing.xmldsig.sign_canonical``) instead of parsing and canonicalising again."""

    __slots__ = ()


class NoCanonicalForm(ValueError):
    """The value has no RFC 8785 form (NaN, an integer outside +-(2**53 - 1), a lone surrogate...)."""


class _NotPlain(Exception):
    """Raised by the parse hooks: the document holds something the fast path does not cover."""


def _refuse(_: str) -> Any:
    raise _NotPlain


def _exact_int(text: str) -> int:
    value = int(text)
    if -MAX_EXACT <= value <= MAX_EXACT:
        return value
    raise _NotPlain


def _loads_plain(data: bytes | str) -> Any:
    return json.loads(data, parse_float=_refuse, parse_constant=_refuse, parse_int=_exact_int)


def parse(data: bytes | str) -> tuple[Any, bool]:
    """``json.loads(data)``, and whether the document is *plain*: no float, no NaN/Infinity and no
    integer outside +-(2**53 - 1) (so its canonical form may be written by ``json.dumps``)."""
    try:
        return _loads_plain(data), True
    except _NotPlain:
        return json.loads(data), False


def plain(value: Any) -> bool:
    """Whether a JSON value made in memory is *plain* (``parse``): strings, booleans, null, integers
    inside +-(2**53 - 1), and lists and string-keyed objects of them; no float. ``json.dumps`` with
    sorted keys writes such a value in its RFC 8785 form when no key holds a character above U+FFFF."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int):
            if not -MAX_EXACT <= item <= MAX_EXACT:
                return False
        else:
            return False
    return True


@cache
def _msgspec_encode() -> Callable[[Any], bytes] | None:
    try:
        import msgspec
    except ImportError:  # an environment installed before msgspec was a dependency: ``json`` writes
        return None
    return msgspec.json.Encoder(order="sorted").encode


def plain_dumps(value: Any) -> bytes:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` as UTF-8, for
    a value the caller has proven ``plain`` (no float: msgspec and ``json`` format floats apart),
    written by msgspec's C encoder where that is provably the same bytes (issue 19: 12x faster for a
    report of 15,000 figures). Both write the same separators, sorted keys (code points) and
    integers; they could differ only in escapes, so output holding a backslash (something was
    escaped) is written again by ``json``. ``UnicodeEncodeError`` for a lone surrogate, as
    ``.encode("utf-8")`` of the ``json`` text raises it."""
    encode = _msgspec_encode()
    if encode is not None:
        try:
            data = encode(value)
        except UnicodeEncodeError:
            raise
        except (TypeError, ValueError, OverflowError):
            data = None
        if data is not None and b"\\" not in data:
            return data
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _astral_key(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if _ASTRAL.search(key):
                    return True
                if isinstance(child, dict | list):
                    stack.append(child)
        elif isinstance(item, list):
            stack.extend(child for child in item if isinstance(child, dict | list))
    return False


def _slow(value: Any) -> CanonicalJson:
    import rfc8785

    try:
        return CanonicalJson(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise NoCanonicalForm(str(exc)) from exc


def form(value: Any, plain: bool) -> CanonicalJson:
    """The RFC 8785 bytes of ``value``, a document read by ``parse`` (``plain`` as it returned).
    Raises ``NoCanonicalForm``."""
    if not plain:
        return _slow(value)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if _ASTRAL.search(text) and _astral_key(value):
        return _slow(value)
    try:
        return CanonicalJson(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: rfc8785 names it
        return _slow(value)


def canonical(value: Any) -> CanonicalJson:
    """The RFC 8785 bytes of a JSON value made in memory (string keys, as ``json.loads`` gives):
    written by ``json.dumps``, read back with ``parse``'s hooks to prove it plain, else ``rfc8785``."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return _slow(value)
    try:
        _loads_plain(text)
    except _NotPlain:
        return _slow(value)
    if _ASTRAL.search(text) and _astral_key(value):
        return _slow(value)
    try:
        return CanonicalJson(text.encode("utf-8"))
    except UnicodeEncodeError:
        return _slow(value)
