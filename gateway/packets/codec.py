"""JSON and XML encodings of canonical packets under a wire profile.

Both directions walk the same ``FieldSpec`` tree, so JSON -> XML -> JSON is the identity on a
canonical packet. Parsing of untrusted bytes happens in ``gateway.packets.safe``; this module only
maps already-parsed structures. Conversion from the wire never raises on the first problem: unknown or
misplaced fields are collected as ``Violation`` with their JSON pointer or XPath.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from pydantic import BaseModel

from gateway.errors import Violation
from gateway.packets import model as m
from gateway.packets.profile import FieldSpec, Profile


# ------------------------------------------------------------------ canonical <-> wire dict
def to_wire(envelope: m.Envelope, profile: Profile) -> dict[str, Any]:
    """Canonical envelope -> wire-named JSON object (absent optionals and empty lists omitted)."""
    return _dict_to_wire(envelope.canonical(), m.Envelope, profile, envelope.packet_type)


def _dict_to_wire(
    data: dict[str, Any], model: type[BaseModel], profile: Profile, packet_type: m.PacketType
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec, wire in profile.wire_fields(model):
        if spec.name not in data:
            continue
        value = data[spec.name]
        sub = _submodel(spec, packet_type)
        if spec.kind in ("object", "body"):
            assert sub is not None
            out[wire] = _dict_to_wire(value, sub, profile, packet_type)
        elif spec.kind == "list_object":
            assert sub is not None
            out[wire] = [_dict_to_wire(v, sub, profile, packet_type) for v in value]
        else:
            out[wire] = value
    return out


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
def to_xml_element(envelope: m.Envelope, profile: Profile) -> etree._Element:
    ns = profile.namespace
    root = etree.Element(f"{{{ns}}}{profile.root_element}", nsmap={None: ns})
    _fill_xml(root, to_wire(envelope, profile), m.Envelope, profile, envelope.packet_type)
    return root


def to_xml(envelope: m.Envelope, profile: Profile) -> bytes:
    """Canonical envelope -> XML document bytes (UTF-8, with declaration)."""
    return bytes(etree.tostring(to_xml_element(envelope, profile), xml_declaration=True, encoding="UTF-8"))


def _fill_xml(
    parent: etree._Element, wire: dict[str, Any], model: type[BaseModel], profile: Profile, ptype: m.PacketType
) -> None:
    ns = profile.namespace
    for spec, name in profile.wire_fields(model):
        if name not in wire:
            continue
        value = wire[name]
        tag = f"{{{ns}}}{name}"
        sub = _submodel(spec, ptype)
        if spec.kind in ("object", "body"):
            assert sub is not None
            _fill_xml(etree.SubElement(parent, tag), value, sub, profile, ptype)
        elif spec.kind == "list_object":
            assert sub is not None
            for item in value:
                _fill_xml(etree.SubElement(parent, tag), item, sub, profile, ptype)
        elif spec.kind == "list_scalar":
            for item in value:
                etree.SubElement(parent, tag).text = _xml_text(item)
        else:
            etree.SubElement(parent, tag).text = _xml_text(value)


def _xml_text(value: Any) -> str:
    return str(value)


def xml_to_wire(root: etree._Element, profile: Profile) -> tuple[dict[str, Any], list[Violation]]:
    """Parsed, schema-valid ``GoiTin`` element -> wire-named JSON object (integers restored)."""
    problems: list[Violation] = []
    ns = profile.namespace
    expected = f"{{{ns}}}{profile.root_element}"
    if root.tag != expected:
        problems.append(Violation(f"/{root.tag}", f"root element must be {profile.root_element} in namespace {ns}"))
        return {}, problems
    type_el = root.find(f"{{{ns}}}{profile.wire(m.Envelope, 'packet_type')}")
    try:
        ptype: m.PacketType | None = m.PacketType((type_el.text or "") if type_el is not None else "")
    except ValueError:
        ptype = None
    return _xml_dict(root, m.Envelope, profile, ptype, f"/{profile.root_element}", problems), problems


def _xml_dict(
    el: etree._Element,
    model: type[BaseModel],
    profile: Profile,
    ptype: m.PacketType | None,
    xpath: str,
    problems: list[Violation],
) -> dict[str, Any]:
    prefix = f"{{{profile.namespace}}}"
    cut = len(prefix)
    specs = profile.by_wire(model)
    out: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # comments and processing instructions carry no data
        local = tag[cut:] if tag.startswith(prefix) else etree.QName(child).localname
        counts[local] = counts.get(local, 0) + 1
        spec = specs.get(local) if tag.startswith(prefix) else None
        if spec is None:
            if local == profile.signature_element and model is m.Envelope:
                continue  # enveloped XML-DSig is handled by the signature layer, not the body model
            here = f"{xpath}/{local}[{counts[local]}]"
            problems.append(Violation(here, f"element {local!r} is not defined by profile {profile.id}"))
            continue
        kind = spec.kind
        if kind == "scalar":
            out[local] = _scalar_from_text(child.text or "", spec)
        elif kind == "list_scalar":
            out.setdefault(local, []).append(_scalar_from_text(child.text or "", spec))
        else:
            sub = _submodel(spec, ptype)
            if sub is None:
                continue
            here = f"{xpath}/{local}[{counts[local]}]"
            value = _xml_dict(child, sub, profile, ptype, here, problems)
            if kind == "list_object":
                out.setdefault(local, []).append(value)
            else:
                out[local] = value
    return out


def _scalar_from_text(text: str, spec: FieldSpec) -> Any:
    if spec.scalar is not None and spec.scalar.type == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    return text
