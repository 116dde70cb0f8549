"""JSON and XML encodings of canonical packets under a wire profile.

Canonical <-> wire-named JSON objects go through ``gateway.packets.wire`` (pydantic-core, in Rust).
XML <-> wire-named objects walk a plan compiled once per (profile, packet type) from the same
``FieldSpec`` tree, so JSON -> XML -> JSON is the identity on a canonical packet. Parsing of untrusted
bytes happens in ``gateway.packets.safe``; this module only maps already-parsed structures.
Conversion from the wire never raises on the first problem: unknown or misplaced fields are
collected as ``Violation`` with their JSON pointer or XPath (``from_wire`` is the lenient reader for
packets that need not be valid, such as a receiver's copy under reconciliation).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import cache
from typing import Any

from lxml import etree
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from gateway.errors import PacketInvalid, Violation
from gateway.packets import model as m
from gateway.packets.profile import FieldSpec, Profile
from gateway.packets.wire import wire_model


# ------------------------------------------------------------------ canonical <-> wire dict
def to_wire(envelope: m.Envelope, profile: Profile) -> dict[str, Any]:
    """Canonical envelope -> wire-named JSON object (absent optionals and empty lists omitted)."""
    return wire_model(profile, envelope.packet_type).dump(envelope)


def _submodel(spec: FieldSpec, packet_type: m.PacketType | None) -> type[BaseModel] | None:
    if spec.kind == "body":
        return m.BODY_TYPES.get(packet_type) if packet_type is not None else None
    return spec.model


def packet_type_of(wire: dict[str, Any], profile: Profile) -> m.PacketType | None:
    raw = wire.get(profile.wire(m.Envelope, "packet_type"))
    if not isinstance(raw, str):
        return None
    try:
        return m.PacketType(raw)
    except ValueError:
        return None


def from_wire(wire: dict[str, Any], profile: Profile) -> tuple[dict[str, Any], list[Violation]]:
    """Wire-named JSON object -> canonical dict, with every unknown field reported by JSON pointer."""
    problems: list[Violation] = []
    ptype = packet_type_of(wire, profile)
    return _dict_from_wire(wire, m.Envelope, profile, ptype, "", problems), problems


def _dict_from_wire(
    data: Any,
    model: type[BaseModel],
    profile: Profile,
    ptype: m.PacketType | None,
    pointer: str,
    problems: list[Violation],
) -> dict[str, Any]:
    if not isinstance(data, dict):
        problems.append(Violation(pointer or "/", "expected an object"))
        return {}
    out: dict[str, Any] = {}
    specs = profile.by_wire(model)
    for key, value in data.items():
        spec = specs.get(key)
        if spec is None:
            problems.append(
                Violation(f"{pointer}/{_escape(key)}", f"field {key!r} is not defined by profile {profile.id}")
            )
            continue
        name = spec.name
        here = f"{pointer}/{key}" if "/" not in key and "~" not in key else f"{pointer}/{_escape(key)}"
        sub = _submodel(spec, ptype)
        if spec.kind in ("object", "body"):
            if sub is None:
                continue
            out[name] = _dict_from_wire(value, sub, profile, ptype, here, problems)
        elif spec.kind == "list_object" and isinstance(value, list):
            assert sub is not None
            out[name] = [_dict_from_wire(v, sub, profile, ptype, f"{here}/{i}", problems) for i, v in enumerate(value)]
        else:
            out[name] = value
    return out


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


# ------------------------------------------------------------------ XML
SCALAR, LIST_SCALAR, OBJECT, LIST_OBJECT = range(4)
_KINDS = {"scalar": SCALAR, "list_scalar": LIST_SCALAR, "object": OBJECT, "body": OBJECT, "list_object": LIST_OBJECT}


def _datetime_text(value: Any) -> str:
    text: str = to_jsonable_python(value)  # pydantic's own rendering (``Z`` for UTC, fraction as it has it)
    return text


def _enum_text(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


# How a scalar's canonical value is written, by the profile's scalar type: exactly what pydantic's
# JSON-mode serialiser gives (a test compares the two for generated packets of every type). Strings,
# the bulk of every packet, are written as they are (None).
_SCALAR_TEXT: dict[str, Callable[[Any], str] | None] = {
    "string": None,
    "integer": str,
    "uuid": str,
    "date": date.isoformat,
    "datetime": _datetime_text,
    "enum": _enum_text,
}


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str  # canonical
    wire: str
    tag: str
    kind: int
    read: Callable[[str], Any] | None  # element text -> wire value, for XSD types other than strings
    plan: _Plan  # the nested model's plan; ``_LEAF`` for scalars
    open: str = ""
    close: str = ""
    text: Callable[[Any], str] | None = None  # non-string scalars: canonical value -> wire text


@dataclass(frozen=True, slots=True)
class _Plan:
    """One model's fields under a profile: in profile order (to write), and keyed by Clark tag (to
    read). Built once per (profile, packet type) so the per-element work is a lookup or two."""

    model: type[BaseModel]
    slots: tuple[_Slot, ...]
    by_tag: dict[str, _Slot]


_LEAF = _Plan(BaseModel, (), {})


@cache
def _xml_plan(profile: Profile, ptype: m.PacketType) -> _Plan:
    def plan(model: type[BaseModel]) -> _Plan:
        slots = []
        for spec, wire in profile.wire_fields(model):
            sub = _submodel(spec, ptype)
            read = _SCALAR_READ.get(spec.scalar.type) if spec.scalar is not None else None
            child = plan(sub) if sub is not None else _LEAF
            tag = f"{{{profile.namespace}}}{wire}"
            text = _SCALAR_TEXT[spec.scalar.type] if spec.scalar is not None else None
            slots.append(_Slot(spec.name, wire, tag, _KINDS[spec.kind], read, child, f"<{wire}>", f"</{wire}>", text))
        return _Plan(model, tuple(slots), {s.tag: s for s in slots})

    return plan(m.Envelope)


def envelope_to_xml(envelope: m.Envelope, profile: Profile) -> bytes:
    """Canonical envelope -> ``GoiTin`` document, profile field order, absent optionals and empty
    lists omitted (the profile convention, as in JSON).

    Written as text straight from the canonical objects by a writer compiled for the packet type
    (``_writer``), not through lxml's element API nor through a wire-named dict. Every value is
    checked and escaped here (``unchecked_xml`` is the faster path for callers that parse the result
    back). Raises ``PacketInvalid`` for text XML 1.0 cannot carry (control characters), naming the
    element.
    """
    problems: list[Violation] = []

    def escape(value: Any, wire: str) -> str:
        return _text(value, wire, problems)

    parts = _open(profile)
    _writer(profile, envelope.packet_type, checked=True)(envelope, parts.append, escape)
    if problems:
        raise PacketInvalid(problems)
    parts.append(f"</{profile.root_element}>")
    return "".join(parts).encode("utf-8", errors="strict")


def unchecked_xml(envelope: m.Envelope, profile: Profile) -> str | None:
    """``envelope_to_xml`` without looking at any value, or None when a value needed escaping.

    For callers that parse the result back (which refuses control characters): every value is
    written as is, and the document is then proved right by counting. Each element contributes one
    ``<`` and one ``>`` to its start tag and one each to its end tag, and no tag contains ``&`` or a
    carriage return, so the counts match and neither character appears exactly when no value holds
    ``<``, ``>``, ``&`` or ``\r``. Four C-speed scans replace a check per value.

    The writer appends one part per scalar element (start tag, value, end tag) and two per object
    element (its start tag and its end tag, around its children's parts), and counts only the
    objects, so the elements are the objects plus the parts that are not an object's tag."""
    parts = _open(profile)
    head = len(parts)
    objects = _writer(profile, envelope.packet_type, checked=False)(envelope, parts.append, None)
    scalars = len(parts) - head - 2 * objects
    elements = objects + scalars + 1  # and the root
    parts.append(f"</{profile.root_element}>")
    text = "".join(parts)
    tags = 2 * elements + 1  # and the declaration's one pair
    if text.count("<") != tags or text.count(">") != tags or "&" in text or "\r" in text:
        return None
    return text


def _open(profile: Profile) -> list[str]:
    return [
        "<?xml version='1.0' encoding='UTF-8'?>\n",
        f'<{profile.root_element} xmlns="{_attribute(profile.namespace)}">',
    ]


_Writer = Callable[[BaseModel, Callable[[str], None], Callable[[Any, str], str] | None], int]


@cache
def _writer(profile: Profile, ptype: m.PacketType, *, checked: bool) -> _Writer:
    """A function that appends the XML elements of one packet type's envelope, compiled from its plan.

    Why generated code: a 100,000-value packet is some 700,000 elements, and a generic walk over the
    plan (a loop over slots per object, a call per nested object) spent most of its time walking.
    The generated function is that walk unrolled: straight-line reads of each model's ``__dict__``,
    a loop only where the packet has a list, about twice as fast (bench/packets_bench.py). As with
    ``dataclasses`` and ``namedtuple``, the source is built from names only: canonical field names and
    wire tags enter it as ``repr`` literals, and value formatters by reference.

    The function returns how many object elements it wrote (``unchecked_xml``'s proof needs it).
    With ``checked``, every string value goes through ``escape(value, wire_name)``."""
    lines = ["def write(d0, append, escape):", "    d0 = d0.__dict__", "    objects = 0"]
    formatters: dict[str, Callable[[Any], str]] = {}

    def value(slot: _Slot, var: str) -> str:
        if slot.text is not None:
            name = f"text{len(formatters)}"
            formatters[name] = slot.text
            return f"{name}({var})"
        return f"escape({var}, {slot.wire!r})" if checked else var

    def fields(plan: _Plan, depth: int, indent: str) -> None:
        here, item, inner = f"v{depth}", f"i{depth}", indent + "    "
        for slot in plan.slots:
            lines.append(f"{indent}{here} = d{depth}[{slot.name!r}]")
            lines.append(f"{indent}if {here} is not None:")
            if slot.kind == SCALAR:
                lines.append(f"{inner}append({slot.open!r} + {value(slot, here)} + {slot.close!r})")
            elif slot.kind == LIST_SCALAR:
                lines.append(f"{inner}for {item} in {here}:")
                lines.append(f"{inner}    append({slot.open!r} + {value(slot, item)} + {slot.close!r})")
            elif slot.kind == OBJECT:
                lines.append(f"{inner}objects += 1")
                lines.append(f"{inner}append({slot.open!r})")
                lines.append(f"{inner}d{depth + 1} = {here}.__dict__")
                fields(slot.plan, depth + 1, inner)
                lines.append(f"{inner}append({slot.close!r})")
            else:
                lines.append(f"{inner}objects += len({here})")
                lines.append(f"{inner}for {item} in {here}:")
                lines.append(f"{inner}    append({slot.open!r})")
                lines.append(f"{inner}    d{depth + 1} = {item}.__dict__")
                fields(slot.plan, depth + 1, inner + "    ")
                lines.append(f"{inner}    append({slot.close!r})")

    fields(_xml_plan(profile, ptype), 0, "    ")
    lines.append("    return objects")
    namespace: dict[str, Any] = dict(formatters)
    exec(compile("\n".join(lines), f"<xml writer {profile.id} {ptype.value}>", "exec"), namespace)  # noqa: S102
    writer: _Writer = namespace["write"]
    return writer


_SPECIAL = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: Any, name: str, problems: list[Violation]) -> str:
    text = value if type(value) is str else str(value)
    if _SPECIAL.search(text) is None:
        return text
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        problems.append(Violation(f"//{name}", f"character U+{ord(bad.group()):04X} cannot be carried in XML 1.0 text"))
        return ""
    # \r as a reference, or a parser would turn it into \n (XML end-of-line handling).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def xml_packet_type(root: etree._Element, profile: Profile) -> m.PacketType | None:
    """The packet type named by the ``LoaiGoiTin`` (or the profile's name for it) child of the root."""
    type_el = root.find(f"{{{profile.namespace}}}{profile.wire(m.Envelope, 'packet_type')}")
    try:
        return m.PacketType((type_el.text or "") if type_el is not None else "")
    except ValueError:
        return None


def xml_to_wire(root: etree._Element, profile: Profile) -> tuple[dict[str, Any], list[Violation]]:
    """Parsed ``GoiTin`` element -> wire-named JSON object (integers restored), with every element the
    profile does not define reported by XPath. Schema-valid input has none; lenient readers (the
    reconciliation of a receiver's copy) get what could be read."""
    problems: list[Violation] = []
    expected = f"{{{profile.namespace}}}{profile.root_element}"
    if root.tag != expected:
        problems.append(
            Violation(f"/{root.tag}", f"root element must be {profile.root_element} in namespace {profile.namespace}")
        )
        return {}, problems
    ptype = xml_packet_type(root, profile)
    if ptype is None:
        key = profile.wire(m.Envelope, "packet_type")
        problems.append(Violation(f"/{profile.root_element}/{key}", f"{key} is missing or not a known packet type"))
        return {}, problems
    unknown: list[tuple[etree._Element, str]] = []
    wire = _xml_dict(root, _xml_plan(profile, ptype), profile, unknown)
    paths = ElementPaths()  # one numbering of each parent's children for every unknown element
    problems.extend(Violation(paths.path(el), message) for el, message in unknown)
    return wire, problems


def _xml_dict(
    el: etree._Element, plan: _Plan, profile: Profile, problems: list[tuple[etree._Element, str]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by_tag = plan.by_tag
    for child in el:
        slot = by_tag.get(child.tag)
        if slot is None:
            _unknown(child, plan, profile, problems)
            continue
        kind = slot.kind
        if kind == SCALAR:
            text = child.text or ""
            out[slot.wire] = text if slot.read is None else slot.read(text)
        elif kind == OBJECT:
            out[slot.wire] = _xml_dict(child, slot.plan, profile, problems)
        elif kind == LIST_OBJECT:
            value = _xml_dict(child, slot.plan, profile, problems)
            if slot.wire in out:
                out[slot.wire].append(value)
            else:
                out[slot.wire] = [value]
        else:
            text = child.text or ""
            out.setdefault(slot.wire, []).append(text if slot.read is None else slot.read(text))
    return out


def _unknown(child: etree._Element, plan: _Plan, profile: Profile, problems: list[tuple[etree._Element, str]]) -> None:
    if not isinstance(child.tag, str):
        return  # comments and processing instructions carry no data
    local = etree.QName(child).localname
    if local == profile.signature_element and plan.model is m.Envelope:
        return  # enveloped XML-DSig is handled by the signature layer, not the body model
    problems.append((child, f"element {local!r} is not defined by profile {profile.id}"))


XML_SPACE = " \t\n\r"
"""XML's white space (the ``S`` production), which XSD collapses in values of its non-string types."""
_XSD_INTEGER = re.compile(r"[+-]?[0-9]{1,100}")


def _integer(text: str) -> int | str:
    """An ``xs:integer`` as XSD reads it: white space at either end collapsed away, then an optional
    sign and digits (``int`` alone would also take ``1_000`` and Unicode digits and spaces)."""
    trimmed = text.strip(XML_SPACE)
    if _XSD_INTEGER.fullmatch(trimmed):
        return int(trimmed)
    return text  # the schema or the model names the problem with its place


def _collapsed(text: str) -> str:
    """An ``xs:date`` or ``xs:dateTime`` as XSD reads it: white space at either end is not part of the
    value. The XSD accepts ``<TuNgay> 2026-09-15 </TuNgay>``, so the gateway reads the same date
    instead of refusing what its own schema accepted (the model takes no padding)."""
    return text.strip(XML_SPACE)


_SCALAR_READ: dict[str, Callable[[str], Any]] = {"integer": _integer, "date": _collapsed, "datetime": _collapsed}


def element_path(el: etree._Element) -> str:
    """``/GoiTin/NoiDung[1]/SoLieu[3]/GiaTri[1]``: local names with 1-based positions among
    same-named siblings, readable where lxml's own ``getpath`` gives ``/*/*[3]`` for namespaced documents.
    For many elements of one document, use one ``ElementPaths``."""
    return ElementPaths().path(el)


class ElementPaths:
    """``element_path`` for many elements of one document: each parent's children are numbered once.

    Why: counting an element's same-named siblings walks its parent's children, and a report's
    ``NoiDung`` has one ``SoLieu`` per figure; a path per error of a 150,000-figure packet was
    quadratic (over ten minutes). The numbers are kept per parent for the life of this object (and
    hold the parents' children alive, so lxml hands back the same element objects)."""

    def __init__(self) -> None:
        self._numbers: dict[etree._Element, dict[etree._Element, int]] = {}

    def path(self, el: etree._Element) -> str:
        parts = []
        node: etree._Element | None = el
        while node is not None:
            local = etree.QName(node).localname
            parent = node.getparent()
            if parent is None:
                parts.append(local)
            else:
                parts.append(f"{local}[{self._number(parent, node)}]")
            node = parent
        return "/" + "/".join(reversed(parts))

    def _number(self, parent: etree._Element, node: etree._Element) -> int:
        numbers = self._numbers.get(parent)
        if numbers is None:
            numbers = self._numbers[parent] = {}
            seen: dict[str, int] = {}
            for child in parent:
                if isinstance(child.tag, str):
                    local = child.tag.rpartition("}")[2]
                    seen[local] = numbers[child] = seen.get(local, 0) + 1
        return numbers[node]
