"""Generate a profile's JSON Schemas (draft 2020-12, one per packet type) and its XSD.

The schemas are derived from the canonical models and the profile's name map, then committed under
the profile's folder so that peers can use them without our code. ``gateway contracts build`` writes
them; a test fails when the committed files drift from what the models produce.
"""

from __future__ import annotations

import json
from typing import Any

from lxml import etree
from pydantic import BaseModel

from gateway.packets import model as m
from gateway.packets.profile import FieldSpec, Profile, Scalar, fields_of

XS = "http://www.w3.org/2001/XMLSchema"
UNPADDED_PATTERN = r"^([^ \t\n\r]([\s\S]*[^ \t\n\r])?)?$"
r"""Codes and figure values: no white space (XML's four characters: space, tab, CR, LF) at either end.

Why: ``" H15"`` and ``"H15"`` are different units to every receiver, and a padded value is how a
spreadsheet's stray space or a pretty-printer's line end reaches a packet; nothing in the profile
pads, so nothing is trimmed silently: the packet is refused. The class is spelt out rather than
``\S``, which means XML's four characters in XSD but every Unicode space in ECMA-262 (JSON Schema),
so the XSD and the JSON Schema accept exactly the same values. The empty string matches, so that
an empty code is named by its ``minLength`` alone. Dates, timestamps and integers in
XML are XSD types whose white space XSD itself collapses: the gateway reads them the same way
(``codec``), and in JSON their patterns (or JSON integers) leave no room for padding."""
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATETIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


# ------------------------------------------------------------------ JSON Schema
def json_schema(profile: Profile, packet_type: m.PacketType) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    root = _json_object(m.Envelope, profile, packet_type, defs)
    root["properties"][profile.wire(m.Envelope, "packet_type")] = {"const": packet_type.value}
    root["properties"][profile.wire(m.Envelope, "profile")] = {"const": profile.id}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{profile.namespace}:{packet_type.value}",
        "title": f"{packet_type.value} ({profile.id})",
        **root,
        "$defs": defs,
    }


_CODE = next(s.scalar for s in fields_of(m.Unit) if s.name == "code")
_VALUES = {(m.Figure, "value")}  # a list record's fields (``Truong``) are free text, as names are
_FIGURE_VALUE = (
    "A plain decimal (1234.50, -0.5) in a numeric column; text only where the form's column is VAN_BAN "
    "or NGAY. A number in any other notation (1,234.5, 1.234,5, 1e3, NaN, +5, .5) is refused by the "
    "gateway's rules, which this schema cannot express."
)


def unpadded(model: type[BaseModel], spec: FieldSpec) -> str | None:
    """The no-padding pattern when ``spec`` of ``model`` is a code or a figure value, else None.

    Codes are the model's ``Code`` type (a string of 1-100 characters); a field that already has a
    pattern (``DecimalText``) is left alone, as its pattern admits no white space and XSD would OR a
    second pattern facet with it."""
    s = spec.scalar
    if s is None or s.type != "string" or s.pattern is not None:
        return None
    return UNPADDED_PATTERN if s == _CODE or (model, spec.name) in _VALUES else None


def _json_object(model: type[BaseModel], profile: Profile, ptype: m.PacketType, defs: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for spec, wire in profile.wire_fields(model):
        props[wire] = _json_field(spec, profile, ptype, defs, unpadded(model, spec))
        if (model, spec.name) == (m.Figure, "value"):
            props[wire]["description"] = _FIGURE_VALUE
        if spec.required or spec.min_items:
            required.append(wire)
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def _json_ref(model: type[BaseModel], profile: Profile, ptype: m.PacketType, defs: dict[str, Any]) -> dict[str, Any]:
    name = model.__name__
    if name not in defs:
        defs[name] = {}
        defs[name] = _json_object(model, profile, ptype, defs)
    return {"$ref": f"#/$defs/{name}"}


def _json_field(
    spec: FieldSpec, profile: Profile, ptype: m.PacketType, defs: dict[str, Any], pattern: str | None = None
) -> dict[str, Any]:
    if spec.kind == "body":
        return _json_ref(m.BODY_TYPES[ptype], profile, ptype, defs)
    if spec.kind == "object":
        assert spec.model is not None
        return _json_ref(spec.model, profile, ptype, defs)
    if spec.kind == "list_object":
        assert spec.model is not None
        return {
            "type": "array",
            "minItems": max(spec.min_items, 1),
            "items": _json_ref(spec.model, profile, ptype, defs),
        }
    assert spec.scalar is not None
    if spec.kind == "list_scalar":
        return {"type": "array", "minItems": max(spec.min_items, 1), "items": _json_scalar(spec.scalar, pattern)}
    return _json_scalar(spec.scalar, pattern)


def _json_scalar(s: Scalar, unpadded: str | None = None) -> dict[str, Any]:
    if s.type == "integer":
        out: dict[str, Any] = {"type": "integer"}
        if s.minimum is not None:
            out["minimum"] = s.minimum
        if s.maximum is not None:
            out["maximum"] = s.maximum
        return out
    if s.type == "enum":
        return {"type": "string", "enum": list(s.enum)}
    out = {"type": "string"}
    typed = {"date": DATE_PATTERN, "datetime": DATETIME_PATTERN, "uuid": UUID_PATTERN}
    pattern = typed.get(s.type, s.pattern or unpadded)
    if s.type in ("date", "datetime"):
        out["format"] = "date" if s.type == "date" else "date-time"
    if pattern:
        out["pattern"] = pattern
    if s.min_length is not None:
        out["minLength"] = s.min_length
    if s.max_length is not None:
        out["maxLength"] = s.max_length
    return out


# ------------------------------------------------------------------ XSD
def xsd(profile: Profile, packet_type: m.PacketType) -> bytes:
    """The XSD of one packet type: root ``GoiTin`` whose ``NoiDung`` has that type's content.

    XSD 1.0 cannot make the body's content model depend on ``LoaiGoiTin``, so there is one schema per
    type (the profile allows "one file or one per type"); the validator reads ``LoaiGoiTin`` from the
    parsed tree and picks the schema.
    """
    nsmap = {"xs": XS, None: profile.namespace}
    schema = etree.Element(
        f"{{{XS}}}schema", nsmap=nsmap, targetNamespace=profile.namespace, elementFormDefault="qualified"
    )
    done: set[str] = set()
    body = m.BODY_TYPES[packet_type]
    root = etree.SubElement(schema, f"{{{XS}}}element", name=profile.root_element)
    ct = etree.SubElement(root, f"{{{XS}}}complexType")
    seq = etree.SubElement(ct, f"{{{XS}}}sequence")
    for spec, wire in profile.wire_fields(m.Envelope):
        if spec.kind == "body":
            _xsd_complex(schema, body, profile, done)
            etree.SubElement(seq, f"{{{XS}}}element", name=wire, type=body.__name__)
        elif spec.name in ("packet_type", "profile"):
            el = etree.SubElement(seq, f"{{{XS}}}element", name=wire)
            st = etree.SubElement(el, f"{{{XS}}}simpleType")
            r = etree.SubElement(st, f"{{{XS}}}restriction", base="xs:string")
            fixed = packet_type.value if spec.name == "packet_type" else profile.id
            etree.SubElement(r, f"{{{XS}}}enumeration", value=fixed)
        elif spec.name == "signature":
            continue  # JSON only; XML carries an enveloped XML-DSig Signature instead
        else:
            _xsd_particle(seq, spec, wire, schema, profile, done, unpadded(m.Envelope, spec))
    # The enveloped XML-DSig Signature, when present, is the last child of GoiTin.
    etree.SubElement(
        seq, f"{{{XS}}}any", namespace="http://www.w3.org/2000/09/xmldsig#", processContents="lax", minOccurs="0"
    )
    return bytes(etree.tostring(schema, pretty_print=True, xml_declaration=True, encoding="UTF-8"))


def _xsd_complex(schema: etree._Element, model: type[BaseModel], profile: Profile, done: set[str]) -> None:
    if model.__name__ in done:
        return
    done.add(model.__name__)
    ct = etree.SubElement(schema, f"{{{XS}}}complexType", name=model.__name__)
    seq = etree.SubElement(ct, f"{{{XS}}}sequence")
    for spec, wire in profile.wire_fields(model):
        _xsd_particle(seq, spec, wire, schema, profile, done, unpadded(model, spec))
        if (model, spec.name) == (m.Figure, "value"):
            note = etree.Element(f"{{{XS}}}annotation")
            etree.SubElement(note, f"{{{XS}}}documentation").text = _FIGURE_VALUE
            seq[-1].insert(0, note)


def _xsd_particle(
    seq: etree._Element,
    spec: FieldSpec,
    wire: str,
    schema: etree._Element,
    profile: Profile,
    done: set[str],
    pattern: str | None = None,
) -> None:
    attrs: dict[str, str] = {"name": wire}
    if not spec.required and not spec.min_items:
        attrs["minOccurs"] = "0"
    if spec.kind in ("list_object", "list_scalar"):
        attrs["maxOccurs"] = "unbounded"
        attrs["minOccurs"] = str(max(spec.min_items, 1)) if spec.min_items else "0"
    if spec.kind in ("object", "list_object"):
        assert spec.model is not None
        _xsd_complex(schema, spec.model, profile, done)
        attrs["type"] = spec.model.__name__
        etree.SubElement(seq, f"{{{XS}}}element", **attrs)
        return
    assert spec.scalar is not None
    el = etree.SubElement(seq, f"{{{XS}}}element", **attrs)
    _xsd_simple(el, spec.scalar, pattern)


def _xsd_simple(el: etree._Element, s: Scalar, unpadded: str | None = None) -> None:
    st = etree.SubElement(el, f"{{{XS}}}simpleType")
    base = {"integer": "xs:integer", "date": "xs:date", "datetime": "xs:dateTime"}.get(s.type, "xs:string")
    r = etree.SubElement(st, f"{{{XS}}}restriction", base=base)
    if s.type == "enum":
        for v in s.enum:
            etree.SubElement(r, f"{{{XS}}}enumeration", value=v)
        return
    if s.type == "uuid":
        etree.SubElement(r, f"{{{XS}}}pattern", value=UUID_PATTERN.strip("^$"))
    if s.type == "date":
        etree.SubElement(r, f"{{{XS}}}pattern", value=DATE_PATTERN.strip("^$"))
    if s.type == "datetime":
        # Offsets are required on the wire (ISO 8601 with offset).
        etree.SubElement(r, f"{{{XS}}}pattern", value=r".+(Z|[+\-][0-9]{2}:[0-9]{2})")
    if s.minimum is not None:
        etree.SubElement(r, f"{{{XS}}}minInclusive", value=str(s.minimum))
    if s.maximum is not None:
        etree.SubElement(r, f"{{{XS}}}maxInclusive", value=str(s.maximum))
    if s.pattern or unpadded:
        etree.SubElement(r, f"{{{XS}}}pattern", value=xsd_pattern(s.pattern or unpadded or ""))
    if s.min_length is not None:
        etree.SubElement(r, f"{{{XS}}}minLength", value=str(s.min_length))
    if s.max_length is not None:
        etree.SubElement(r, f"{{{XS}}}maxLength", value=str(s.max_length))


def xsd_pattern(pattern: str) -> str:
    """A JSON Schema pattern as an XSD pattern facet: XSD patterns are anchored at both ends already."""
    return pattern.removeprefix("^").removesuffix("$")


def write_all(profile: Profile) -> list[str]:
    """(Re)write every schema file of ``profile``; returns the paths written."""
    written = []
    for ptype in m.PacketType:
        path = profile.schema_path("json", ptype)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(json_schema(profile, ptype), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(str(path))
        xpath = profile.schema_path("xsd", ptype)
        xpath.parent.mkdir(parents=True, exist_ok=True)
        xpath.write_bytes(xsd(profile, ptype))
        written.append(str(xpath))
    return written
