"""Read, validate and write packets under a profile: the packet layer's public surface.

``read_packet`` runs, in order, the safe parser, the profile's schema (JSON Schema or XSD, every
error with its JSON pointer or XPath), the canonical model, and the cross-field rules, and raises one
``PacketInvalid`` that lists every violation found. ``write_packet`` serialises and, by default,
validates what it produced against the same schemas, so nothing invalid leaves the gateway.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import jsonschema_rs
from lxml import etree
from pydantic import BaseModel, ValidationError

from gateway.errors import GatewayError, InputError, PacketInvalid, SignatureInvalid, UnsafeInputError, Violation
from gateway.packets import canonical as jcs_form
from gateway.packets import codec, rules, safe, schemas
from gateway.packets import model as m
from gateway.packets.profile import Profile, load_profile
from gateway.packets.wire import wire_model

MAX_VIOLATIONS = 1000
"""Violations listed for one packet; past this, one more says how many were left out.

Why: a 41 MB packet with an error in each of its 150,000 figures took over ten minutes to report
(each error's XPath was found by walking its parent's 150,000 children: quadratic), and nobody reads
the 150,001st line; the intake's status answer lists 200."""


@cache
def _json_validator(profile: Profile, ptype: m.PacketType) -> jsonschema_rs.Draft202012Validator:
    """The committed JSON Schema, compiled once (jsonschema-rs: a Rust validator, ~20x the pure-Python one)."""
    schema = json.loads(profile.schema_path("json", ptype).read_text(encoding="utf-8"))
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=False)


@cache
def _xsd(profile: Profile, ptype: m.PacketType) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(profile.schema_path("xsd", ptype))))


def _pointer(parts: Any) -> str:
    return "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in parts)


@dataclass
class Located:
    """A canonical path rendered for the wire format the packet arrived in."""

    profile: Profile
    ptype: m.PacketType
    fmt: safe.Format

    def render(self, path: tuple[str | int, ...]) -> str:
        model: type[BaseModel] | None = m.Envelope
        out = f"/{self.profile.root_element}" if self.fmt == "xml" else ""
        for part in path:
            if isinstance(part, int):
                out += f"[{part + 1}]" if self.fmt == "xml" else f"/{part}"
                continue
            if model is None:
                out += f"/{part}"
                continue
            spec = next((s for s, _ in self.profile.wire_fields(model) if s.name == part), None)
            wire = self.profile.wire(model, part) if spec else part
            out += f"/{wire}"
            if spec is None:
                model = None
            elif spec.kind == "body":
                model = m.BODY_TYPES[self.ptype]
            else:
                model = spec.model
        return out


def _json_violations(doc: Any, profile: Profile, ptype: m.PacketType | None) -> list[Violation]:
    if not isinstance(doc, dict):
        return [Violation("/", "a packet is a JSON object")]
    if ptype is None:
        key = profile.wire(m.Envelope, "packet_type")
        return [
            Violation(
                f"/{key}",
                f"{key} is missing or not one of the 13 packet types ({', '.join(t.value for t in m.PacketType)})",
            )
        ]
    try:
        found = list(itertools.islice(_json_validator(profile, ptype).iter_errors(doc), MAX_VIOLATIONS + 1))
    except UnicodeEncodeError:  # a lone surrogate (JSON's "\ud800"), which the validator's patterns cannot read
        return list(itertools.islice(_surrogates(doc, ""), MAX_VIOLATIONS))
    errors = sorted(found[:MAX_VIOLATIONS], key=lambda e: [str(p) for p in e.instance_path])
    out = [Violation(_pointer(e.instance_path) or "/", _plain_message(e)) for e in errors]
    if len(found) > MAX_VIOLATIONS:
        out.append(Violation("/", f"more errors not listed: the schema check stopped after the first {MAX_VIOLATIONS}"))
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogates(value: Any, pointer: str) -> Iterator[Violation]:
    """Each string (key or value) holding a lone surrogate, by JSON pointer: no Unicode text has one."""
    if isinstance(value, str):
        if (bad := _SURROGATE.search(value)) is not None:
            yield Violation(pointer or "/", f"a lone surrogate (U+{ord(bad.group()):04X}) is not Unicode text")
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            yield from _surrogates(key, here)
            yield from _surrogates(item, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _surrogates(item, f"{pointer}/{i}")


_PADDED = "has white space at its start or end (codes and figure values are never padded)"
_PATTERN_MESSAGES = {
    m.DECIMAL_PATTERN: "is not a plain decimal (digits, an optional '-' and '.fraction'; no exponent, "
    "no thousands separators)",
    schemas.DATETIME_PATTERN: "is not an ISO 8601 timestamp with an offset (e.g. 2026-10-20T09:00:00+07:00)",
    schemas.DATE_PATTERN: "is not a date in the form YYYY-MM-DD",
    schemas.UUID_PATTERN: "is not a UUID",
    schemas.UNPADDED_PATTERN: _PADDED,
}
_XSD_PATTERN_MESSAGES = {schemas.xsd_pattern(k): v for k, v in _PATTERN_MESSAGES.items()}
_XSD_PATTERN_ERROR = re.compile(
    r"Element '(?:\{[^}]*\})?(?P<name>[^']*)': \[facet 'pattern'\] The value '(?P<value>.*)' is not accepted by "
    r"the pattern '(?P<pattern>.*)'\.",
    re.DOTALL,
)


def _plain_message(error: jsonschema_rs.ValidationError) -> str:
    """Schema messages, minus the regular expressions an operator cannot read."""
    pattern = getattr(error.kind, "pattern", None)
    if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Pattern) and pattern in _PATTERN_MESSAGES:
        return f"{error.instance!r} {_PATTERN_MESSAGES[pattern]}"
    if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.MaxLength) and isinstance(error.instance, str):
        # The schema's message quotes the whole value: a 70,000-character field made a 70 kB reason.
        return f"{len(error.instance):,} characters, longer than {error.kind.limit:,}"
    return str(error.message)


STREAM_FIRST_BYTES = 1 << 20
"""XML at least this large is validated while its bytes are parsed again (no tree, linear) before its
tree is: see ``_xml_violations``."""


def _xml_violations(
    root: etree._Element, profile: Profile, ptype: m.PacketType | None, data: bytes | None = None
) -> list[Violation]:
    """The XSD's violations of the packet ``root`` (parsed from ``data``, when given), each located by
    its readable XPath, at most ``MAX_VIOLATIONS`` of them and then one saying how many more.

    Why not simply the tree: for each error lxml computes libxml2's XPath of the element, which
    counts the element's preceding siblings; a 150,000-figure packet with an error in each figure
    spent 73 s in that alone (quadratic), and more finding each error's element again. So a large
    packet is first validated by streaming its bytes (errors counted, no paths: linear, and about as
    fast as validating the tree, which a valid packet then skips). When that finds more errors than
    are listed, the tree is validated in windows (``_windows``) until the first ``MAX_VIOLATIONS``
    are found, each window small enough for the paths to cost little."""
    if ptype is None:
        key = profile.wire(m.Envelope, "packet_type")
        return [Violation(f"/{profile.root_element}/{key}", f"{key} is missing or not a known packet type")]
    schema = _xsd(profile, ptype)
    total: int | None = None
    if data is not None and len(data) >= STREAM_FIRST_BYTES:
        total = _streamed_error_count(data, schema)
        if total == 0:
            return []
    names = codec.ElementPaths()
    out: list[Violation] = []
    seen: set[tuple[Any, str]] = set()
    run = _longest_run(root) if total is not None and total > MAX_VIOLATIONS else None
    for checked, origin in _windows(root, run, 2 * MAX_VIOLATIONS):
        at = _XsdPaths(checked)
        if schema.validate(checked):
            continue
        log = schema.error_log
        if total is None:  # a small packet, validated whole: its own count
            total = sum(1 for e in log if e.level >= etree.ErrorLevels.ERROR)
        for err in log:
            node = at.element(err.path or "")
            if node is not None and origin is not None:
                node = origin.get(node)
            found = (node if node is not None else err.path, err.message)
            if found in seen:
                continue  # an error outside the windowed list, found again in each window
            seen.add(found)
            line = node.sourceline if node is not None else err.line
            where = names.path(node) if node is not None else err.path or f"/{profile.root_element}"
            out.append(Violation(where, f"line {line}: {_xsd_message(err.message)}"))
            if len(out) == MAX_VIOLATIONS:
                break
        if len(out) == MAX_VIOLATIONS:
            break
    more = (total if total is not None else len(out)) - len(out)
    if more > 0:
        out.append(Violation(f"/{profile.root_element}", f"{more:,} more errors not listed"))
    return out


def _streamed_error_count(data: bytes, schema: etree.XMLSchema) -> int:
    """How many errors the XSD finds in ``data``, validated while parsed, with no tree (the bytes have
    passed ``safe.parse_xml`` already; the same guards are set)."""
    parser = etree.XMLParser(
        schema=schema, target=_NoTree(), resolve_entities=False, no_network=True, load_dtd=False, collect_ids=False
    )
    with contextlib.suppress(etree.XMLSyntaxError):  # the log holds what was found either way
        etree.fromstring(data, parser)
    return sum(1 for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR)


def _longest_run(root: etree._Element) -> tuple[etree._Element, str] | None:
    """The element with the most children, and the name most of them have: a packet's list
    (``SoLieu``, ``DuLieu``, ``BanGhi`` ...), which holds nearly all of a large packet."""
    parent = max(root.iter(), key=len)
    tags: dict[str, int] = {}
    for child in parent:
        if isinstance(child.tag, str):
            tags[child.tag] = tags.get(child.tag, 0) + 1
    return (parent, max(tags, key=lambda t: tags[t])) if tags else None


def _windows(
    root: etree._Element, run: tuple[etree._Element, str] | None, size: int
) -> Iterator[tuple[etree._Element, dict[etree._Element, etree._Element] | None]]:
    """The tree to validate, with a map from its elements to the packet's (None: it is the packet's).

    With a ``run`` (a parent and the name of its list items): copies of the packet holding every
    element but that list's items, of which each copy holds ``size`` in turn, in document order.
    Sound for the profile's schemas: list items are validated each on its own (no identity
    constraints, no upper bound on a list), and a window keeps at least one item, so the parent's
    content model still holds; an error outside the list is found again in each copy, and listed once."""
    if run is None:
        yield root, None
        return
    parent, tag = run
    count = sum(1 for c in parent if c.tag == tag)
    for first in range(0, count, size):
        origin: dict[etree._Element, etree._Element] = {}
        yield _copy(root, parent, tag, range(first, first + size), origin), origin


def _copy(
    el: etree._Element,
    parent: etree._Element,
    tag: str,
    window: range,
    origin: dict[etree._Element, etree._Element],
) -> etree._Element:
    copy = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)
    copy.text, copy.tail = el.text, el.tail
    origin[copy] = el
    item = -1
    for child in el:
        if not isinstance(child.tag, str):
            continue  # packets hold no comments or PIs (``safe.parse_xml``)
        if el is parent and child.tag == tag:
            item += 1
            if item not in window:
                continue
        copy.append(_copy(child, parent, tag, window, origin))
    return copy


def _xsd_message(message: str) -> str:
    """libxml2's message, with a pattern the operator cannot read replaced by what it means (as for
    JSON, ``_plain_message``)."""
    found = _XSD_PATTERN_ERROR.fullmatch(message)
    if found is None or found["pattern"] not in _XSD_PATTERN_MESSAGES:
        return message
    return f"{found['name']} {found['value']!r} {_XSD_PATTERN_MESSAGES[found['pattern']]}"


_GENERIC_STEP = re.compile(r"\*(?:\[([0-9]+)\])?")


class _XsdPaths:
    """The element of a libxml2 error path, which for a namespaced document is ``/*/*[8]/*[123]/*[5]``:
    the n-th element child at each step, taken by position (an XPath query per error walked the
    whole parent each time); ``codec.ElementPaths`` then names it readably."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root

    def element(self, path: str) -> etree._Element | None:
        steps = path.split("/")
        if len(steps) < 2 or steps[0] or _GENERIC_STEP.fullmatch(steps[1]) is None:
            return self._by_xpath(path)
        node = self.root
        for step in steps[2:]:
            found = _GENERIC_STEP.fullmatch(step)
            if found is None:
                return self._by_xpath(path)
            index = int(found.group(1) or 1) - 1
            try:
                child = node[index]
            except IndexError:
                return self._by_xpath(path)
            # Packets hold no comments or PIs (``safe.parse_xml``), so the n-th child is the n-th element.
            if child is None or not isinstance(child.tag, str):
                return self._by_xpath(path)
            node = child
        return node

    def _by_xpath(self, path: str) -> etree._Element | None:
        try:
            found = self.root.getroottree().xpath(path)
        except etree.XPathError:
            return None
        return found[0] if isinstance(found, list) and found and isinstance(found[0], etree._Element) else None


def _pydantic_violations(exc: ValidationError, profile: Profile, fmt: safe.Format) -> list[Violation]:
    """The codec validates wire-named data, so locations already are wire names (the aliases)."""
    out = []
    for err in exc.errors():
        parts = [p for p in err["loc"] if isinstance(p, str | int)]
        if fmt == "xml":
            where = f"/{profile.root_element}" + "".join(f"[{p + 1}]" if isinstance(p, int) else f"/{p}" for p in parts)
        else:
            where = _pointer(parts) or "/"
        out.append(Violation(where, err["msg"]))
    return out


def read_packet(
    data: bytes,
    *,
    source: str = "",
    profile: Profile | None = None,
    limits: safe.Limits = safe.DEFAULT_LIMITS,
    parsed: Any = None,
) -> m.Envelope:
    """Untrusted bytes -> a valid canonical packet, or ``PacketInvalid`` listing every violation.

    ``parsed``: the document ``safe.parse_json`` or ``safe.parse_xml`` already made of exactly
    ``data`` (the signature verifier's parse, issue 19), so the packet is not parsed twice."""
    profile = profile or load_profile()
    fmt = safe.sniff(data, source)
    with gc_paused():
        if fmt == "json":
            doc = parsed if parsed is not None else safe.parse_json(data, source, limits, check_depth=False)
            ptype = codec.packet_type_of(doc, profile) if isinstance(doc, dict) else None
            try:
                problems = _json_violations(doc, profile, ptype)
            except ValueError as exc:  # jsonschema-rs stops at its own recursion limit (a few hundred)
                safe.check_json_depth(doc, source, limits.max_depth)
                raise UnsafeInputError(f"JSON too deeply nested to validate: {exc}", location=source) from exc
            if problems:
                # The closed schemas bound the depth of a valid packet; a refused one is measured before
                # anything walks it, so a deeply nested document is named as such.
                safe.check_json_depth(doc, source, limits.max_depth)
            wire = doc
            document: bytes | None = data  # strict UTF-8, checked by the parser
        else:
            root = parsed if parsed is not None else safe.parse_xml(data, source, limits)
            # UTF-8 by now (``safe.parse_xml`` refuses any other encoding in a packet); the guard
            # stays for a caller's own parse: the text rules scan the bytes only when UTF-8.
            encoding = (root.getroottree().docinfo.encoding or "UTF-8").upper().replace("_", "-")
            document = data if encoding in ("UTF-8", "UTF8", "ASCII", "US-ASCII") else None
            ptype = codec.xml_packet_type(root, profile)
            # The XSD first, before the wire document exists: its streaming pass then adds no peak.
            schema_problems = _xml_violations(root, profile, ptype, data) if ptype is not None else []
            wire, problems = codec.xml_to_wire(root, profile)
            problems = schema_problems or problems
        if problems:
            raise PacketInvalid(_and_rules(problems, wire, profile, ptype, fmt, document), source=source)
        assert ptype is not None
        try:
            envelope = wire_model(profile, ptype).load(wire)
        except ValidationError as exc:
            raise PacketInvalid(_pydantic_violations(exc, profile, fmt), source=source) from exc
        _raise_broken(envelope, profile, fmt, document, source)
        return envelope


def _and_rules(
    problems: list[Violation],
    wire: Any,
    profile: Profile,
    ptype: m.PacketType | None,
    fmt: safe.Format,
    document: bytes | None,
) -> list[Violation]:
    """The schema's violations, then what the cross-field rules find in the same packet, together at
    most ``MAX_VIOLATIONS`` (the schema's first).

    Why: a sender who fixed every schema error used to meet a second refusal for a rule (a period
    ending outside its month, text not in NFC) that was there all along. The rules need the
    canonical model, which a packet the schema refused can still make (the schema is the stricter
    of the two: padded codes, timestamps without an offset, an unknown element beside valid ones);
    then every rule runs. When it cannot, only the text rules run, over the wire document as parsed
    (they need no model); the period, reason and duplicate rules wait for a packet that has the
    fields they compare. Cheap: the model load costs what reading a valid packet does, and only a
    refused packet pays it."""
    if ptype is None or not isinstance(wire, dict) or len(problems) >= MAX_VIOLATIONS:
        return problems
    try:
        envelope = wire_model(profile, ptype).load(wire)
    except ValidationError:
        found = [] if document is not None and rules.text_is_clean(document) else list(rules.check_nfc(wire, ()))
        broken = [Violation(_wire_path(path, profile, fmt), msg) for path, msg in found]
    else:
        loc = Located(profile, ptype, fmt)
        broken = [Violation(loc.render(path), msg) for path, msg in rules.check(envelope, document=document)]
    seen = set(problems)
    added = [v for v in broken if v not in seen]
    room = MAX_VIOLATIONS - len(problems)
    if len(added) > room:
        root = f"/{profile.root_element}" if fmt == "xml" else "/"
        added = [*added[:room], Violation(root, f"{len(added) - room:,} more rule violations not listed")]
    return problems + added


def _wire_path(path: tuple[str | int, ...], profile: Profile, fmt: safe.Format) -> str:
    """A path of wire names and list positions as a JSON pointer, or as the XPath ``Located`` writes."""
    if fmt == "json":
        return _pointer(path) or "/"
    return f"/{profile.root_element}" + "".join(f"[{p + 1}]" if isinstance(p, int) else f"/{p}" for p in path)


def refusal_details(exc: GatewayError, fmt: safe.Format, profile: Profile | None = None) -> list[Violation]:
    """Where and what, for each problem of a refused packet: the ``LoiChiTiet`` of a ``TU_CHOI``.

    ``ViTri`` is a place in the packet (an XPath for XML, a JSON pointer for JSON), never the name the
    gateway gave its source (``packet from api:client``), which the sender cannot look up: a
    ``PacketInvalid`` has a place per violation; a signature refusal points at the signature (or at
    the sender's code, when the certificate speaks for another unit); any other refusal of the
    packet as a whole points at its root. The first entry is the first error."""
    profile = profile or load_profile()
    if isinstance(exc, PacketInvalid) and exc.violations:
        return [
            Violation(v.location if v.location.startswith("/") else _root(profile, fmt), v.message)
            for v in exc.violations[:MAX_VIOLATIONS]
        ]
    reason = getattr(exc, "reason", None) or str(exc)
    where = getattr(exc, "location", "") or ""
    if isinstance(exc, SignatureInvalid):
        # The binding of a status to its sender (``gateway.delivery.binding``) refuses by the unit codes:
        # point at the code that broke it, not at the signature.
        if exc.code in ("signer_mismatch", "client_mismatch", "not_the_receiver", "client_unbound"):
            path: tuple[str | int, ...] = (profile.wire(m.Envelope, "sender"), profile.wire(m.Unit, "code"))
        elif exc.code == "misaddressed":
            path = (profile.wire(m.Envelope, "receiver"), profile.wire(m.Unit, "code"))
        elif exc.code == "wrong_report":
            path = (profile.wire(m.Envelope, "body"),)
        elif fmt == "xml":
            path = (profile.signature_element,)
        else:
            path = (profile.wire(m.Envelope, "signature"),)
        return [Violation(_wire_path(path, profile, fmt), reason)]
    return [Violation(where if where.startswith("/") else _root(profile, fmt), reason)]


def _root(profile: Profile, fmt: safe.Format) -> str:
    return f"/{profile.root_element}" if fmt == "xml" else "/"


def _raise_broken(
    envelope: m.Envelope, profile: Profile, fmt: safe.Format, document: str | bytes | None, source: str
) -> None:
    broken = rules.check(envelope, document=document)
    if broken:
        loc = Located(profile, envelope.packet_type, fmt)
        raise PacketInvalid([Violation(loc.render(path), msg) for path, msg in broken], source=source)


def check_envelope(envelope: m.Envelope, profile: Profile | None = None, fmt: safe.Format = "json") -> None:
    """Cross-field rules on a packet we built ourselves; raises ``PacketInvalid``."""
    _raise_broken(envelope, profile or load_profile(), fmt, None, f"packet {envelope.packet_id}")


def write_packet(
    envelope: m.Envelope,
    fmt: safe.Format = "json",
    *,
    profile: Profile | None = None,
    validate: bool = True,
    canonical: bool = False,
) -> bytes:
    """Serialise ``envelope``; with ``validate`` the bytes are checked against the profile's schema
    and cross-field rules, so nothing invalid leaves the gateway.

    ``canonical`` (the sealer sets it for packets it signs): the bytes returned are the form a
    signature covers, made from the document already parsed back for validation, so the signer
    hashes them as they are instead of parsing and canonicalising the packet again (issue 19). JSON:
    the RFC 8785 form (``gateway.packets.canonical.CanonicalEnvelope`` when unsigned); signed JSON
    packets always went out in that form. XML: the exclusive C14N of the document
    (``CanonicalXml``, no XML declaration), which the XML-DSig signer writes out as it is."""
    profile = profile or load_profile()
    source = f"packet {envelope.packet_id}"
    codec_ = wire_model(profile, envelope.packet_type)
    with gc_paused():
        if fmt == "json":
            data = codec_.dump_json(envelope)
            if not (validate or canonical):
                return data
            doc, plain = jcs_form.parse(data) if canonical else (json.loads(data), False)
            if validate:
                # What is checked is what was written: the bytes, parsed back.
                _raise_broken(envelope, profile, "json", data, source)
                problems = _json_violations(doc, profile, envelope.packet_type)
                if problems:
                    raise PacketInvalid(problems, source=source)
            if canonical:
                try:
                    form = jcs_form.form(doc, plain)
                    return jcs_form.CanonicalEnvelope(form) if envelope.signature is None else form
                except jcs_form.NoCanonicalForm as exc:
                    raise PacketInvalid([Violation("/", f"no RFC 8785 canonical form: {exc}")], source=source) from exc
            return data
        if not validate:
            return codec.envelope_to_xml(envelope, profile)
        written = codec.unchecked_xml(envelope, profile)
        try:
            data = written.encode("utf-8") if written is not None else b""
        except UnicodeEncodeError:  # a lone surrogate: the checked writer names the element
            written = None
        if written is None:
            data = codec.envelope_to_xml(envelope, profile)
        _raise_broken(envelope, profile, "xml", data, source)
        tree: list[etree._Element] | None = [] if canonical else None
        try:
            # What is checked is what was written: the bytes, parsed back against the XSD.
            problems = _xml_violations_streamed(data, profile, envelope.packet_type, source, tree)
        except InputError:
            # A control character XML 1.0 cannot carry: the checked writer names its element.
            codec.envelope_to_xml(envelope, profile)
            raise
        if problems:
            raise PacketInvalid(problems, source=source)
        if tree:  # canonical: the exclusive C14N of the tree the XSD just checked (signers hash it)
            c14n = etree.tostring(tree[0].getroottree(), method="c14n", exclusive=True, with_comments=False)
            return jcs_form.CanonicalXml(c14n)
        return data


@dataclass(frozen=True)
class FigureNames:
    """The wire names a report's figures are written with under one profile (``figure_names``)."""

    body: str  # NoiDung
    figures: str  # SoLieu
    receiver: str  # DonViNhan
    row: str  # MaDong
    indicator: str  # MaChiTieu
    column: str  # MaCot
    cut: str  # PhanTo
    value: str  # GiaTri
    unit: str  # DonViTinh
    dimension: str  # MaPhanTo
    value_code: str  # MaGiaTri
    code: str  # MaDinhDanh
    name: str  # Ten


@cache
def figure_names(profile: Profile) -> FigureNames:
    w = profile.wire
    return FigureNames(
        body=w(m.Envelope, "body"),
        figures=w(m.ReportFigures, "figures"),
        receiver=w(m.Envelope, "receiver"),
        row=w(m.Figure, "row_code"),
        indicator=w(m.Figure, "indicator_code"),
        column=w(m.Figure, "column_code"),
        cut=w(m.Figure, "disaggregation"),
        value=w(m.Figure, "value"),
        unit=w(m.Figure, "unit"),
        dimension=w(m.Disaggregation, "dimension"),
        value_code=w(m.Disaggregation, "value_code"),
        code=w(m.Unit, "code"),
        name=w(m.Unit, "name"),
    )


@cache
def _astral_names(profile: Profile) -> bool:
    """Whether any wire name holds a character above U+FFFF (where RFC 8785's UTF-16 key order and
    Python's code-point order can differ)."""
    return any(jcs_form.ASTRAL.search(name) for name in profile.names.values())


def report_head(
    packet_id: uuid.UUID,
    profile_id: str,
    created_at: datetime,
    sender: m.Unit,
    receiver: m.Unit,
    head: m.SubmittedForm,
) -> m.Envelope:
    """A ``SO_LIEU_BAO_CAO`` envelope without its figures: every field validated by the canonical
    model, the body's figure list left empty for ``write_report_json`` (or ``report_envelope``) to
    fill from wire-named dicts. Only the writers here read it; it is never written as it is."""
    body = m.ReportFigures.model_construct(**dict(head), figures=[])
    return m.Envelope(
        packet_id=packet_id,
        packet_type=m.PacketType.SO_LIEU_BAO_CAO,
        profile=profile_id,
        created_at=created_at,
        sender=sender,
        receiver=receiver,
        body=body,
    )


def _report_document(head: m.Envelope, figures: list[dict[str, Any]], profile: Profile) -> dict[str, Any]:
    names = figure_names(profile)
    wire = wire_model(profile, m.PacketType.SO_LIEU_BAO_CAO).dump(head)
    return {**wire, names.body: {**wire[names.body], names.figures: figures}}


def report_envelope(
    head: m.Envelope, figures: list[dict[str, Any]], *, profile: Profile | None = None, source: str = "report"
) -> m.Envelope:
    """The whole packet of ``report_head`` + figures as the canonical model (every figure validated):
    for an XML copy, a report held for approval, or naming what ``write_report_json`` refused."""
    profile = profile or load_profile()
    doc = _report_document(head, figures, profile)
    try:
        return wire_model(profile, m.PacketType.SO_LIEU_BAO_CAO).load(doc)
    except ValidationError as exc:
        raise PacketInvalid(_pydantic_violations(exc, profile, "json"), source=source) from exc


def write_report_json(
    head: m.Envelope,
    figures: list[dict[str, Any]],
    *,
    profile: Profile | None = None,
    canonical: bool = False,
) -> bytes:
    """A ``SO_LIEU_BAO_CAO`` packet as JSON, written straight from its head and wire-named figures and
    validated as a whole, with no model object per figure (issue 19).

    ``head`` is a ``report_head``: every field but the figures went through the canonical model.
    ``figures`` are wire-named dicts as the report builder makes them from stored rows: strings only
    (codes, the value as stored, exact decimal text; the unit), a disaggregation as a list of
    wire-named dicts, omitted when empty. Before the bytes are returned, the document is checked
    against the profile's JSON Schema (every figure: types, lengths, required and unknown keys), the
    text rules over the bytes written (NFC, legacy fonts: ``rules.text_is_clean``), the period rule,
    the plain-notation rule of figure values and the duplicate-figure rule: what ``write_packet``
    checks for this packet type. Whatever this
    path cannot prove (a violation, escaped or non-NFC text, a lone surrogate) goes through the
    canonical model and ``write_packet`` instead, which raises the same ``PacketInvalid`` as for any
    packet (or writes it, when the doubt was only this path's).

    The bytes are the RFC 8785 form, signed or not: one ``json.dumps`` with sorted keys of a plain
    document (strings, and the head's integers, bounded by the model; ``canonical.plain`` proves
    it). With ``canonical`` they are returned as ``CanonicalEnvelope``, which the signer hashes as
    they are."""
    profile = profile or load_profile()
    names = figure_names(profile)
    body = head.body
    assert isinstance(body, m.ReportFigures) and head.signature is None
    doc = _report_document(head, figures, profile)
    source = f"packet {head.packet_id}"
    with gc_paused():
        data = None
        if (
            not _astral_names(profile)
            and not _json_violations(doc, profile, m.PacketType.SO_LIEU_BAO_CAO)
            and jcs_form.plain({k: v for k, v in doc.items() if k != names.body})
            and jcs_form.plain({k: v for k, v in doc[names.body].items() if k != names.figures})
            and not any(rules.check_period(body.period, ("body", "period")))
            and not any(rules.numbers_in_other_notation([f[names.value] for f in figures], ("body", "figures")))
            and not _duplicates(figures, names)
        ):
            try:
                data = jcs_form.plain_dumps(doc)  # plain: proven just above
            except UnicodeEncodeError:  # a lone surrogate: the canonical model names it
                data = None
            if data is not None and not rules.text_is_clean(data):
                data = None  # escaped, decomposed or legacy-font text: the per-field rules name it
        if data is None:
            envelope = report_envelope(head, figures, profile=profile, source=source)
            return write_packet(envelope, "json", profile=profile, canonical=canonical)
        return jcs_form.CanonicalEnvelope(data) if canonical else data


def _duplicates(figures: list[dict[str, Any]], names: FigureNames) -> bool:
    """Whether two figures share row, indicator, column and disaggregation (in any order): the rule
    of ``rules._duplicate_figures``, on wire-named dicts. The builder shares one disaggregation list
    among the figures that have it, so the lists are told apart by identity once it is known that no
    two distinct lists hold the same pairs (then identity and equal pairs are the same thing)."""
    row, indicator, column, cut = names.row, names.indicator, names.column, names.cut
    lists = {id(c): c for c in [f.get(cut) for f in figures] if c is not None}
    pairs = {tuple(sorted((d[names.dimension], d[names.value_code]) for d in c)) for c in lists.values()}
    keys: set[tuple[Any, ...]]
    if len(pairs) == len(lists):
        keys = {(f.get(row), f[indicator], f.get(column), id(f.get(cut))) for f in figures}
    else:
        by_id = {i: tuple(sorted((d[names.dimension], d[names.value_code]) for d in c)) for i, c in lists.items()}
        keys = {(f.get(row), f[indicator], f.get(column), by_id.get(id(f.get(cut)))) for f in figures}
    return len(keys) != len(figures)


class _NoTree:
    """A parser target that keeps nothing: the XSD sees the parse, no element objects are made."""

    def close(self) -> None:
        return None


def _xml_violations_streamed(
    data: bytes, profile: Profile, ptype: m.PacketType, source: str, tree: list[etree._Element] | None = None
) -> list[Violation]:
    """Validate serialised XML against the XSD while it is parsed, building no tree; ``InputError``
    when it is not well-formed.

    Why: a document we wrote ourselves is almost always valid, and libxml2 validates during the
    parse (its SAX validator) at little more than the parse's own cost, where building the tree and
    then validating it cost twice that for a 100,000-value packet. The streaming validator reports
    messages without element paths, so when it finds anything the tree is built and validated again
    for ``_xml_violations``' XPaths (its messages are kept if that somehow finds nothing). With
    ``tree`` (the canonical writer) the parse keeps its tree and appends its root there."""
    parser = etree.XMLParser(
        schema=_xsd(profile, ptype),
        target=_NoTree() if tree is None else None,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        collect_ids=False,
    )
    try:
        root = etree.fromstring(data, parser)
        if tree is not None and root is not None:
            tree.append(root)
    except etree.XMLSyntaxError:
        safe.parse_xml(data, source)  # raises InputError with the place
        raise InputError("the packet written is not well-formed XML", location=source) from None
    errors = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR]
    if not errors:
        return []
    root = safe.parse_xml(data, source)
    found = _xml_violations(root, profile, ptype)
    return found or [Violation(f"/{profile.root_element}", f"line {e.line}: {e.message}") for e in errors]


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False
_gc_paused_at = 0.0  # when the current unbroken pause began (monotonic)


def _after_fork_in_child() -> None:
    """A forked child (the report builder's workers, ``gateway.reports.parallel``) runs only the
    thread that forked: a hold another thread had at that moment is never released here, and a lock
    it held would never be unlocked, so the child starts with a fresh lock and no holders."""
    global _gc_lock, _gc_holders
    _gc_lock = threading.Lock()
    _gc_holders = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

MAX_GC_PAUSE = 5.0
"""Seconds the collector may stay paused without a break. Busy threads can overlap their pauses
indefinitely (a worker pool under sustained load); past this, the next packet to finish runs one
collection, so cyclic garbage made elsewhere in the process cannot pile up through a soak."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic-garbage collection while a packet is parsed, built or serialised.

    A 100,000-value packet allocates some 10^6 acyclic objects; with the collector on, CPython runs
    hundreds of young-generation passes and several full ones over them, which measured 3-5x the cost
    of the work itself. Nothing built here can form a cycle, and reference counting still frees
    everything, so the collector only resumes (when it was on) once the last concurrent holder leaves,
    or is run once by a leaving holder when the pause has lasted ``MAX_GC_PAUSE`` seconds.
    """
    global _gc_holders, _gc_was_enabled, _gc_paused_at
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            _gc_paused_at = time.monotonic()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        overdue = False
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0:
                if _gc_was_enabled:
                    gc.enable()
            elif _gc_was_enabled and time.monotonic() - _gc_paused_at >= MAX_GC_PAUSE:
                _gc_paused_at = time.monotonic()
                overdue = True
        if overdue:
            gc.collect()
