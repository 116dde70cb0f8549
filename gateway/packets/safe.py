"""The one place untrusted packet bytes are parsed (JSON and XML), with hard limits.

XML: parsed with entity resolution, DTD loading and the network off, and a resolver that refuses to
open anything; then any DTD (internal or external subset), entity declaration or entity reference is
refused *after* parsing, so the check holds in every encoding libxml2 reads (UTF-16 with or without
a BOM, UTF-32, EBCDIC...) and at any offset (a DOCTYPE after a 70 KB comment). Comments and
processing instructions are refused anywhere in a packet: they split text nodes, so a reader and a
signature could otherwise see different text (``<MaDinhDanh><!---->H15</MaDinhDanh>``). libxml2's
default depth limit (256) stands. JSON: strict UTF-8, duplicate keys refused, numbers never become
floats, bounded nesting; compact JSON (what signed packets are) is parsed in C and proven to be the
same document (``_compact``), anything else by the standard library with hooks. Numbers in both
are bounded in length (``MAX_NUMBER_DIGITS``) at parse time, well below CPython's 4,300-digit
conversion limit, so a huge integer is a located refusal, never a crash. Every refusal is an
``UnsafeInputError`` or ``InputError`` that names the source and the place.

Other XML the gateway reads (the parts of an XLSX workbook) goes through the same guard:
``parse_xml(..., comments=True)`` for a whole part, ``XmlStream`` for a part too large to hold (a
worksheet, the shared strings), which refuses a DTD at its first event, before any cell is read.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from lxml import etree

from gateway.errors import InputError, UnsafeInputError

if TYPE_CHECKING:
    import msgspec

log = logging.getLogger(__name__)

Format = Literal["json", "xml"]


MAX_NUMBER_DIGITS = 100
"""Characters in one JSON number or XML integer: a QCVN 125 value is at most 64 characters
(``DecimalText``); 100 leaves room and stays far below CPython's int conversion limit (4,300 digits)."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 256 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 5_000_000


DEFAULT_LIMITS = Limits()


def sniff(data: bytes, source: str = "") -> Format:
    """JSON or XML from the first significant byte (after an optional UTF-8 BOM).

    Packets are UTF-8 (the profile). Bytes in another encoding are named here, from their byte-order
    mark or, without one, from where the zero bytes fall around the first characters (XML 1.0
    appendix F; RFC 4627 section 3 for JSON), instead of being called "neither JSON nor XML" or
    read as garbage. XML without a mark is returned as XML all the same: ``parse_xml`` reads it
    first, so that a DTD in it is named as such in every encoding (the safety refusal first), and
    then refuses the encoding with the same message."""
    found = detect_encoding(data)
    if found is not None:
        kind = found.kind(data)
        if found.bom or kind != "XML":
            raise InputError(found.refusal(kind), location=source)
        return "xml"
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"<"):
        return "xml"
    if head.startswith((b"{", b"[")):
        return "json"
    raise InputError("neither JSON nor XML (first byte is not '{' or '<')", location=source)


@dataclass(frozen=True)
class Encoding:
    """An encoding other than UTF-8 recognised from a document's first bytes (``detect_encoding``)."""

    name: str
    codec: str
    signature: bytes
    bom: bool

    def kind(self, data: bytes) -> str:
        """What the document looks like once decoded: "XML", "JSON", or "the input"."""
        text = data[len(self.signature) if self.bom else 0 :][:64].decode(self.codec, errors="ignore").lstrip()
        return "XML" if text.startswith("<") else "JSON" if text.startswith(("{", "[")) else "the input"

    def refusal(self, kind: str) -> str:
        shown = self.signature.hex(" ").upper()
        how = f"byte-order mark {shown}" if self.bom else f"no byte-order mark; first bytes {shown}"
        return f"{kind} is encoded in {self.name} ({how}): packets must be UTF-8; send the same text encoded as UTF-8"


# Byte-order marks, longest first (FF FE 00 00 before FF FE).
_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (b"\x00\x00\xfe\xff", "UTF-32BE", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "UTF-32LE", "utf-32-le"),
    (b"\xfe\xff", "UTF-16BE", "utf-16-be"),
    (b"\xff\xfe", "UTF-16LE", "utf-16-le"),
)
# Without a mark, an ASCII character (``<``, ``{``, ``[``, white space) in a UTF-16 or UTF-32 form
# leaves its zero bytes in fixed places (XML 1.0 appendix F lists them for ``<?``); EBCDIC's
# ``<?xm`` is 4C 6F A7 94.
_ZERO_PATTERNS: tuple[tuple[re.Pattern[bytes], str, str], ...] = (
    (re.compile(rb"\x00\x00\x00[\x01-\x7f]"), "UTF-32BE", "utf-32-be"),
    (re.compile(rb"[\x01-\x7f]\x00\x00\x00"), "UTF-32LE", "utf-32-le"),
    (re.compile(rb"\x00\x00[\x01-\x7f]\x00|\x00[\x01-\x7f]\x00\x00"), "UCS-4 (unusual byte order)", "latin-1"),
    (re.compile(rb"\x00[\x01-\x7f]\x00[\x01-\x7f]"), "UTF-16BE", "utf-16-be"),
    (re.compile(rb"[\x01-\x7f]\x00[\x01-\x7f]\x00"), "UTF-16LE", "utf-16-le"),
    (re.compile(rb"\x4c\x6f\xa7\x94"), "EBCDIC", "cp037"),
)


def detect_encoding(data: bytes) -> Encoding | None:
    """The document's encoding when its first bytes show one other than UTF-8 (or ASCII), else None."""
    for bom, name, codec in _BOMS:
        if data.startswith(bom):
            return Encoding(name, codec, bom, bom=True)
    first = data[:4]
    for pattern, name, codec in _ZERO_PATTERNS:
        if pattern.fullmatch(first):
            return Encoding(name, codec, first, bom=False)
    return None


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
    doc = _compact(data)
    if doc is not _NOT_COMPACT:
        if check_depth:
            check_json_depth(doc, source, limits.max_depth)
        return doc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid UTF-8 at byte {exc.start}", location=source) from exc
    try:
        doc = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_bounded_decimal,
            parse_int=_bounded_int,
            parse_constant=_no_constant,
        )
    except _NumberTooLong as exc:
        raise InputError(
            f"a number of {len(exc.args[0])} characters at {_position(text, exc.args[0])}: "
            f"numbers are limited to {MAX_NUMBER_DIGITS} characters",
            location=source,
        ) from None
    except RecursionError as exc:
        raise UnsafeInputError(f"JSON nested deeper than {limits.max_depth} levels", location=source) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", location=source) from exc
    except _DuplicateKey as exc:
        raise InputError(f"duplicate key {exc.args[0]!r} in one object", location=source) from exc
    except _NumberOutOfRange as exc:
        raise InputError(
            f"the number {exc.args[0]} at {_position(text, exc.args[0])} is out of range (its exponent)",
            location=source,
        ) from None
    except _Constant as exc:  # NaN, Infinity, -Infinity: Python's parser takes them, JSON has none
        raise InputError(
            f"{exc.args[0]} at {_position(text, exc.args[0])} is not a JSON number", location=source
        ) from None
    if check_depth:
        check_json_depth(doc, source, limits.max_depth)
    return doc


_NOT_COMPACT: Any = object()
_JSON_SPACE = b" \t\r\n"
_NUMBER_CHARS = bytes(1 if chr(i) in "+-.0123456789Ee" else 0 for i in range(256))
_LONG_NUMBER = b"\x01" * (MAX_NUMBER_DIGITS + 1)


@cache
def _codec() -> tuple[msgspec.json.Decoder[Any], msgspec.json.Encoder] | None:
    """msgspec's JSON decoder and encoder, imported when the first JSON document is parsed (not
    at every command's start). Decimals are written back as numbers, as they were read.

    None, said once in the log, in an environment installed before msgspec was a dependency: every
    document then goes to the strict parser, which reads the same documents, only slower."""
    try:
        import msgspec
    except ImportError:
        log.warning("msgspec is not installed: JSON is read by the slower strict parser only (pip install -e .)")
        return None
    return msgspec.json.Decoder(float_hook=_exact_decimal), msgspec.json.Encoder(decimal_format="number")


def _exact_decimal(text: str) -> Decimal:
    return Decimal(text)  # a float's text as written; an exponent Decimal refuses goes to the strict parser


def _compact(data: bytes) -> Any:
    """The document, parsed in C, when ``data`` is JSON written compactly (RFC 8785's form, as signed
    packets are sent: no whitespace between tokens); else ``_NOT_COMPACT`` and the strict parser below
    decides, and names any problem, exactly as before.

    Why: the strict parser calls Python for every object (the duplicate-key hook) and every number,
    twice plain ``json.loads``, itself about seven times the RSA verification of the same packet
    (issue 19). msgspec parses in C but keeps the last of two equal keys, so what it read is proven
    to be the whole text instead: encoded again it must give back ``data`` byte for byte. The
    encoder writes each key of a dict once, escapes each string one way and writes numbers as they
    were read (integers as integers, every other number kept as its exact ``Decimal``, as the strict
    parser's hooks make them), so equal bytes mean the text holds no key twice and means exactly
    this document: the one the strict parser makes of it. A duplicate key, whitespace, another
    escape or spelling of a number, a lone surrogate, invalid UTF-8, NaN or nesting past Python's
    recursion limit all end here (different bytes, or msgspec refuses) and go to the strict parser.
    Numbers longer than ``MAX_NUMBER_DIGITS`` are looked for before parsing (a run of number
    characters anywhere, strings included: such a run sends the text to the strict parser), so no
    long integer is ever converted."""
    body = data.strip(_JSON_SPACE)
    if b"\n" in body or b'": ' in body or _LONG_NUMBER in data.translate(_NUMBER_CHARS):
        # Laid out for reading: a raw line end stands only between tokens (never inside a JSON
        # string), '": ' almost only there; such text would only be parsed here to be refused by
        # the comparison, so it goes straight to the strict parser (a gate, not a proof).
        return _NOT_COMPACT
    codec = _codec()
    if codec is None:
        return _NOT_COMPACT
    decoder, encoder = codec
    try:
        doc = decoder.decode(data)
        again = encoder.encode(doc)
    except (ValueError, TypeError, ArithmeticError, RecursionError):  # msgspec's errors are ValueErrors
        return _NOT_COMPACT
    if again != body:
        return _NOT_COMPACT
    return doc


class _DuplicateKey(ValueError):
    pass


class _NumberTooLong(ValueError):
    pass


class _NumberOutOfRange(ValueError):
    pass


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise _NumberTooLong(text)
    return int(text)


def _bounded_decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_DIGITS:
        raise _NumberTooLong(text)
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent beyond Decimal's (1e999999999999999999): was a traceback
        raise _NumberOutOfRange(text) from None


def _position(text: str, number: str) -> str:
    """Line and column of the first occurrence of ``number`` (as the JSON decoder reports places)."""
    offset = text.find(number)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line} column {column}"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # in C; a shorter dict than the pair list means a key came twice
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


class _Constant(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _Constant(name)


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


class _RefuseAll(etree.Resolver):  # type: ignore[misc]
    """Resolves nothing: records what the document asked for and hands back nothing, so no local file
    is ever opened and the answer cannot reveal whether one exists."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def resolve(self, system_url: str | None, public_id: str | None, context: Any) -> Any:
        self.asked.append(system_url or public_id or "?")
        return self.resolve_string("", context)


def _parser() -> tuple[etree.XMLParser, _RefuseAll]:
    # Whitespace between elements is kept (not ``remove_blank_text``): the readers ignore it, the
    # signature covers the bytes as sent, and dropping it cost a third of the parse.
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        collect_ids=False,
    )
    resolver = _RefuseAll()
    parser.resolvers.add(resolver)
    return parser, resolver


_NOT_DATA = (etree.Comment, etree.ProcessingInstruction, etree.Entity)


def parse_xml(
    data: bytes, source: str = "", limits: Limits = DEFAULT_LIMITS, *, comments: bool = False, packet: bool = True
) -> etree._Element:
    """Untrusted XML -> its root element, or ``UnsafeInputError``/``InputError`` naming the place.

    ``comments=True`` lets comments and processing instructions through (a workbook part, which no
    signature covers); DTDs and entities are refused either way. ``packet`` (the default): the
    document must also be what the profile allows, UTF-8 XML 1.0 (``check_packet_prolog``); checked
    after the safety checks (DTDs, entities, comments, the element count), so a hostile document is
    named as such whatever its encoding."""
    check_size(len(data), source, limits)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:  # the cheap refusal for the usual spelling, anywhere
        raise UnsafeInputError(_NO_DTD, location=source)
    parser, resolver = _parser()
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        if resolver.asked:
            raise UnsafeInputError(_NO_DTD, location=source) from None
        found = detect_encoding(data) if packet else None
        if found is not None:  # libxml2's own message ("Char 0x0 out of allowed range") misleads
            raise InputError(found.refusal("XML"), location=source) from None
        line = f" at line {exc.lineno}" if exc.lineno else ""
        msg = str(exc.msg if hasattr(exc, "msg") else exc)
        if "Excessive depth" in msg or "depth" in msg.lower():
            raise UnsafeInputError(f"XML nested too deep{line}: {msg}", location=source) from exc
        if "entity" in msg.lower() or "doctype" in msg.lower():
            raise UnsafeInputError(f"{_NO_DTD}{line}", location=source) from None
        raise InputError(f"malformed XML{line}: {msg}", location=source) from exc
    check_no_dtd(root, source, asked=resolver.asked, comments=comments)
    # An element takes at least four bytes (``<a/>``, in any encoding) and has a '<': a document of
    # fewer bytes than four per allowed element, or with fewer '<', is within the limit uncounted
    # (counting the '<' of a 176 kB packet cost as much as its signature's key operation, issue 19).
    if len(data) > 4 * limits.max_elements and data.count(b"<") > limits.max_elements:
        count = 0
        for count, _ in enumerate(root.iter(), start=1):
            if count > limits.max_elements:
                raise UnsafeInputError(f"more than {limits.max_elements} XML elements", location=source)
    if packet:  # after every safety refusal, so a hostile document is named as such in any encoding
        check_packet_prolog(root, data, source)
    return root


def check_packet_prolog(root: etree._Element, data: bytes, source: str) -> None:
    """Refuse a packet that is not UTF-8 XML 1.0, naming what it is instead.

    XML 1.0 (section 4.3.3, appendix F) lets a document be UTF-16 with a byte-order mark, or any
    encoding its declaration names and its bytes can carry; libxml2 reads all of them, and UTF-16LE
    or UTF-32LE without a mark too, which the specification does not allow. The profile is narrower:
    UTF-8 only (so a packet's bytes, its signature and its JSON twin all carry the same text), and
    XML 1.0 (1.1 changes which characters and line ends a document may hold, which a peer's 1.0
    parser would read differently)."""
    found = detect_encoding(data)
    if found is not None:
        raise InputError(found.refusal("XML"), location=source)
    docinfo = root.getroottree().docinfo
    declared = docinfo.encoding or "UTF-8"  # lxml says UTF-8 when nothing is declared
    if declared.upper() != "UTF-8":
        raise InputError(
            f'the XML declaration names encoding="{declared}": packets must be UTF-8 '
            '(declare encoding="UTF-8" or no encoding, and send UTF-8 bytes)',
            location=source,
        )
    if docinfo.xml_version not in (None, "1.0"):
        raise InputError(
            f'the XML declaration says version="{docinfo.xml_version}": packets are XML 1.0 (declare version="1.0")',
            location=source,
        )


_NO_DTD = "DTDs, entity declarations and entity references are not allowed in packets (nor in any XML we read)"


def check_no_dtd(root: etree._Element, source: str, *, asked: list[str] | None = None, comments: bool = False) -> None:
    """Refuse, after parsing, a document that declared a DTD or entities, referred to an entity, or
    (unless ``comments``) carries a comment or processing instruction (anywhere, before or after the
    root too)."""
    _check_doctype(root, source, asked)
    kinds = (etree.Entity,) if comments else _NOT_DATA
    outside = [n for n in (*root.itersiblings(preceding=True), *root.itersiblings()) if n.tag in kinds]
    for node in itertools.chain(outside, root.iter(*kinds)):
        if isinstance(node, etree._Entity):
            raise UnsafeInputError(f"{_NO_DTD} (&{node.name}; at line {node.sourceline})", location=source)
        if isinstance(node, etree._Comment | etree._ProcessingInstruction):
            what = "a comment" if isinstance(node, etree._Comment) else "a processing instruction"
            parent = node.getparent()
            where = _path(parent) if parent is not None else "outside the root element"
            raise UnsafeInputError(
                f"{what} at line {node.sourceline} in {where}: comments and processing instructions are "
                "not allowed in packets (they split the text a signature covers)",
                location=source,
            )


def _check_doctype(el: etree._Element, source: str, asked: list[str] | None) -> None:
    docinfo = el.getroottree().docinfo
    if asked or docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeInputError(_NO_DTD, location=source)


class XmlStream:
    """Streaming XML under the same guard as ``parse_xml``: entity resolution, DTD loading and the
    network off, a resolver that opens nothing, and a DTD refused at the first event (a DOCTYPE can
    only precede the root element, so by then it has been read, in whatever encoding; with none, an
    entity reference other than the five predefined ones is a well-formedness error). Memory stays
    the caller's: it clears what it has read, as with ``lxml.etree.XMLPullParser``."""

    def __init__(self, source: str, *, events: tuple[str, ...] = ("end",), tag: Any = None) -> None:
        self.source = source
        self._parser = etree.XMLPullParser(
            events=events,
            tag=tag,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            collect_ids=False,
        )
        self._resolver = _RefuseAll()
        self._parser.resolvers.add(self._resolver)
        self._checked = False

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.feed(chunk)
        except etree.XMLSyntaxError as exc:
            raise self._refusal(exc) from exc

    def read_events(self) -> Iterator[tuple[str, Any]]:
        for event, el in self._parser.read_events():
            if not self._checked:
                self._check(el)
            yield event, el

    def close(self) -> etree._Element:
        try:
            root = self._parser.close()
        except etree.XMLSyntaxError as exc:
            raise self._refusal(exc) from exc
        self._check(root)
        check_no_dtd(root, self.source, asked=self._resolver.asked, comments=True)
        return root

    def _check(self, el: Any) -> None:
        node = el[0] if isinstance(el, tuple) else el  # ("start-ns", ...) events carry no element
        if isinstance(node, etree._Element):
            _check_doctype(node, self.source, self._resolver.asked)
            self._checked = True

    def _refusal(self, exc: etree.XMLSyntaxError) -> InputError:
        msg = str(exc.msg if hasattr(exc, "msg") else exc)
        if self._resolver.asked or "entity" in msg.lower() or "doctype" in msg.lower():
            return UnsafeInputError(_NO_DTD, location=self.source)
        line = f" at line {exc.lineno}" if exc.lineno else ""
        return InputError(f"malformed XML{line}: {msg}", location=self.source)


def iter_xml(stream: Any, source: str, *, tag: Any = None, chunk: int = 1 << 16) -> Iterator[Any]:
    """The elements ending in ``stream`` (a binary file), filtered by ``tag``, through ``XmlStream``;
    the caller clears each one when done with it."""
    parser = XmlStream(source, tag=tag)
    while data := stream.read(chunk):
        parser.feed(data)
        for _, el in parser.read_events():
            yield el
    parser.close()
    for _, el in parser.read_events():
        yield el


def _path(el: etree._Element) -> str:
    parts = []
    node: etree._Element | None = el
    while node is not None:
        parts.append(etree.QName(node).localname)
        node = node.getparent()
    return "/" + "/".join(reversed(parts))
