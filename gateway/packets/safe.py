"""The one place untrusted packet bytes are parsed (JSON and XML), with hard limits.

XML: no DTD at all (a DOCTYPE is refused before the parser sees it, which stops billion-laughs and
external-entity attacks), no network, no entity resolution, libxml2's default depth limit (256);
JSON: strict UTF-8, duplicate keys refused, numbers never become floats, bounded nesting.
Every refusal is an ``UnsafeInputError`` or ``InputError`` that names the source and the place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from lxml import etree

from gateway.errors import InputError, UnsafeInputError

Format = Literal["json", "xml"]


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 256 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 5_000_000


DEFAULT_LIMITS = Limits()


def sniff(data: bytes) -> Format:
    """JSON or XML from the first significant byte (after an optional UTF-8 BOM)."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"<"):
        return "xml"
    if head.startswith((b"{", b"[")):
        return "json"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("UTF-16 input: packets must be UTF-8")
    raise InputError("neither JSON nor XML (first byte is not '{' or '<')")


def check_size(size: int, source: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse before reading when the declared or file size is over the limit."""
    if size > limits.max_bytes:
        raise UnsafeInputError(f"input is {size} bytes, over the limit of {limits.max_bytes} bytes", location=source)


def parse_json(data: bytes, source: str = "", limits: Limits = DEFAULT_LIMITS, *, check_depth: bool = True) -> Any:
    """Strict JSON. ``check_depth=False`` is for callers that validate against a closed schema
    first (whose valid documents are shallow by construction) and call ``check_json_depth`` before
    walking a document the schema refused; the parser itself still stops runaway nesting."""
    check_size(len(data), source, limits)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid UTF-8 at byte {exc.start}", location=source) from exc
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=Decimal, parse_constant=_no_constant)
    except RecursionError as exc:
        raise UnsafeInputError(f"JSON nested deeper than {limits.max_depth} levels", location=source) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", location=source) from exc
    except _DuplicateKey as exc:
        raise InputError(f"duplicate key {exc.args[0]!r} in one object", location=source) from exc
    if check_depth:
        check_json_depth(doc, source, limits.max_depth)
    return doc


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # in C; a shorter dict than the pair list means a key came twice
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _no_constant(name: str) -> Any:
    raise InputError(f"{name} is not a JSON number")


def check_json_depth(doc: Any, source: str, max_depth: int) -> None:
    """Bound nesting after parsing (the parser itself stops runaway depth with RecursionError).
    Level by level, so the cost is one pass over the containers."""
    level: list[Any] = [doc]
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise UnsafeInputError(f"JSON nested deeper than {max_depth} levels", location=source)
        below: list[Any] = []
        for value in level:
            children = value.values() if type(value) is dict else value if type(value) is list else ()
            below.extend(v for v in children if type(v) is dict or type(v) is list)
        level = below


def _parser() -> etree.XMLParser:
    # Whitespace between elements is kept (not ``remove_blank_text``): the readers ignore it, the
    # signature covers the bytes as sent, and dropping it cost a third of the parse.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        collect_ids=False,
    )


def parse_xml(data: bytes, source: str = "", limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    check_size(len(data), source, limits)
    head = data[:65536]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data:
        raise UnsafeInputError("DTDs and entity declarations are not allowed in packets", location=source)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = f" at line {exc.lineno}" if exc.lineno else ""
        msg = str(exc.msg if hasattr(exc, "msg") else exc)
        if "Excessive depth" in msg or "depth" in msg.lower():
            raise UnsafeInputError(f"XML nested too deep{line}: {msg}", location=source) from exc
        raise InputError(f"malformed XML{line}: {msg}", location=source) from exc
    if data.count(b"<") > limits.max_elements:  # every element has a '<', so fewer means within the limit
        count = 0
        for count, _ in enumerate(root.iter(), start=1):
            if count > limits.max_elements:
                raise UnsafeInputError(f"more than {limits.max_elements} XML elements", location=source)
    return root
