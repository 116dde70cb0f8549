"""Read, validate and write packets under a profile: the packet layer's public surface.

``read_packet`` runs, in order, the safe parser, the profile's schema (JSON Schema or XSD, every
error with its JSON pointer or XPath), the canonical model, and the cross-field rules, and raises one
``PacketInvalid`` that lists every violation found. ``write_packet`` serialises and, by default,
validates what it produced against the same schemas, so nothing invalid leaves the gateway.
"""

from __future__ import annotations

import gc
import json
import os
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

from gateway.errors import InputError, PacketInvalid, UnsafeInputError, Violation
from gateway.packets import canonical as jcs_form
from gateway.packets import codec, rules, safe, schemas
from gateway.packets import model as m
from gateway.packets.profile import Profile, load_profile
from gateway.packets.wire import wire_model


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
    errors = sorted(_json_validator(profile, ptype).iter_errors(doc), key=lambda e: [str(p) for p in e.instance_path])
    return [Violation(_pointer(e.instance_path) or "/", _plain_message(e)) for e in errors]


_PATTERN_MESSAGES = {
    m.DECIMAL_PATTERN: "is not a plain decimal (digits, an optional '-' and '.fraction'; no exponent, "
    "no thousands separators)",
    schemas.DATETIME_PATTERN: "is not an ISO 8601 timestamp with an offset (e.g. 2026-10-20T09:00:00+07:00)",
    schemas.DATE_PATTERN: "is not a date in the form YYYY-MM-DD",
    schemas.UUID_PATTERN: "is not a UUID",
}


def _plain_message(error: jsonschema_rs.ValidationError) -> str:
    """Schema messages, minus the regular expressions an operator cannot read."""
    pattern = getattr(error.kind, "pattern", None)
    if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Pattern) and pattern in _PATTERN_MESSAGES:
        return f"{error.instance!r} {_PATTERN_MESSAGES[pattern]}"
    if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.MaxLength) and isinstance(error.instance, str):
        # The schema's message quotes the whole value: a 70,000-character field made a 70 kB reason.
        return f"{len(error.instance):,} characters, longer than {error.kind.limit:,}"
    return str(error.message)


def _xml_violations(root: etree._Element, profile: Profile, ptype: m.PacketType | None) -> list[Violation]:
    if ptype is None:
        key = profile.wire(m.Envelope, "packet_type")
        return [Violation(f"/{profile.root_element}/{key}", f"{key} is missing or not a known packet type")]
    schema = _xsd(profile, ptype)
    if schema.validate(root):
        return []
    out = []
    for err in schema.error_log:
        path = err.path or ""
        # lxml renders namespaced paths as /*/*[3]; use the readable element names instead.
        out.append(Violation(_readable_xpath(root, path), f"line {err.line}: {err.message}"))
    return out


def _readable_xpath(root: etree._Element, path: str) -> str:
    try:
        found = root.getroottree().xpath(path)
    except etree.XPathError:
        return path
    if found and isinstance(found[0], etree._Element):
        tree = root.getroottree()
        return str(tree.getpath(found[0])) if "*" not in tree.getpath(found[0]) else codec.element_path(found[0])
    return path


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
    fmt = safe.sniff(data)
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
                raise PacketInvalid(problems, source=source)
            wire = doc
            document: bytes | None = data  # strict UTF-8, checked by the parser
        else:
            root = parsed if parsed is not None else safe.parse_xml(data, source, limits)
            # The text rules scan the bytes only when they are the UTF-8 the parser read them as;
            # a document declared in another encoding gets the per-field walk.
            encoding = (root.getroottree().docinfo.encoding or "UTF-8").upper().replace("_", "-")
            document = data if encoding in ("UTF-8", "UTF8", "ASCII", "US-ASCII") else None
            wire, problems = codec.xml_to_wire(root, profile)
            ptype = codec.xml_packet_type(root, profile)
            problems = (_xml_violations(root, profile, ptype) or problems) if ptype is not None else problems
            if problems:
                raise PacketInvalid(problems, source=source)
        assert ptype is not None
        try:
            envelope = wire_model(profile, ptype).load(wire)
        except ValidationError as exc:
            raise PacketInvalid(_pydantic_violations(exc, profile, fmt), source=source) from exc
        _raise_broken(envelope, profile, fmt, document, source)
        return envelope


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
    text rules over the bytes written (NFC, legacy fonts: ``rules.text_is_clean``), the period rule
    and the duplicate-figure rule: what ``write_packet`` checks for this packet type. Whatever this
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
