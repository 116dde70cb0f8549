"""Wire profiles: how canonical fields are named and laid out on the wire.

A profile is a folder under ``contracts/qcvn125/profiles/`` holding ``profile.json`` (id, XML
namespace, root element, and the map from canonical field names to wire names, with
``"Model.field"`` keys scoping a name to one model: wire names are per (model, field), the bare
name being the default for every model that has the field) plus the JSON
Schemas and XSD generated from it by ``gateway contracts build``. Nothing in code names a wire field:
adopting the official QCVN 125 tables later is a new folder, not a rewrite.

The profile also walks the canonical pydantic models once and caches, per model, the ordered list of
``FieldSpec`` the codecs and schema generators share (kind, scalar type, constraints).
"""

from __future__ import annotations

import json
import re
import types
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic import BaseModel

from gateway import resources
from gateway.errors import ConfigurationError
from gateway.packets import model as m

PROFILES_DIR = resources.bundled("profiles")
CONTRACTS_DIR = PROFILES_DIR.parent
DEFAULT_PROFILE = "qcvn125-gw/0"

ScalarType = Literal["string", "integer", "date", "datetime", "uuid", "enum"]
Kind = Literal["scalar", "object", "list_scalar", "list_object", "body"]


@dataclass(frozen=True)
class Scalar:
    type: ScalarType
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    required: bool
    scalar: Scalar | None = None
    model: type[BaseModel] | None = None
    min_items: int = 0


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _scalar(tp: Any, metadata: list[Any]) -> Scalar:
    # The type's own constraints first, then the field's: a field that widens its type
    # (``certificate: Text = Field(max_length=65536)``) is written with the field's limit, as
    # pydantic applies it (the schemas said 4000, so a long certificate or RFC 3161 token was refused).
    metas: list[Any] = []
    if get_origin(tp) is Annotated:
        base, *extra = get_args(tp)
        metas.extend(extra)
        tp = base
    metas.extend(metadata)
    kw: dict[str, Any] = {}
    for meta in metas:
        for attr, key in (("pattern", "pattern"), ("min_length", "min_length"), ("max_length", "max_length")):
            if getattr(meta, attr, None) is not None:
                kw[key] = getattr(meta, attr)
        if isinstance(meta, MinLen):
            kw["min_length"] = meta.min_length
        if isinstance(meta, MaxLen):
            kw["max_length"] = meta.max_length
        if isinstance(meta, Ge):
            kw["minimum"] = int(meta.ge)  # type: ignore[call-overload]
        if isinstance(meta, Le):
            kw["maximum"] = int(meta.le)  # type: ignore[call-overload]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return Scalar("enum", enum=tuple(str(e.value) for e in tp))
    mapping: dict[Any, ScalarType] = {
        str: "string",
        int: "integer",
        date: "date",
        datetime: "datetime",
        uuid.UUID: "uuid",
    }
    if tp not in mapping:
        raise TypeError(f"unsupported scalar type {tp!r}")
    return Scalar(mapping[tp], **kw)


@cache
def fields_of(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    """The ordered field specs of a canonical model (declaration order = profile table order)."""
    specs: list[FieldSpec] = []
    for name, info in model.model_fields.items():
        tp, optional = _unwrap_optional(info.annotation)
        required = info.is_required() and not optional
        if name == "body" and model is m.Envelope:
            specs.append(FieldSpec(name, "body", True))
            continue
        if get_origin(tp) is list:
            (inner,) = get_args(tp)
            min_items = next((x.min_length for x in info.metadata if isinstance(x, MinLen)), 0)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                specs.append(FieldSpec(name, "list_object", required, model=inner, min_items=min_items))
            else:
                specs.append(FieldSpec(name, "list_scalar", required, scalar=_scalar(inner, []), min_items=min_items))
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            specs.append(FieldSpec(name, "object", required, model=tp))
        else:
            specs.append(FieldSpec(name, "scalar", required, scalar=_scalar(tp, list(info.metadata))))
    return tuple(specs)


@dataclass
class Profile:
    """A loaded wire profile: names, namespace, code maps, and where its schemas live."""

    id: str
    directory: Path
    namespace: str
    root_element: str
    names: dict[str, str]
    title: str = ""
    signature_element: str = "Signature"

    def wire(self, model: type[BaseModel], name: str) -> str:
        """Wire name of canonical field ``name`` of ``model``."""
        qualified = f"{model.__name__}.{name}"
        if qualified in self.names:
            return self.names[qualified]
        try:
            return self.names[name]
        except KeyError:
            raise ConfigurationError(
                f"profile {self.id}: no wire name for canonical field {qualified!r} "
                f"(add it to {self.directory / 'profile.json'} under 'names')"
            ) from None

    def wire_fields(self, model: type[BaseModel]) -> list[tuple[FieldSpec, str]]:
        return _wire_fields(self, model)

    def canonical_name(self, model: type[BaseModel], wire: str) -> str | None:
        return _reverse(self, model).get(wire)

    def by_wire(self, model: type[BaseModel]) -> dict[str, FieldSpec]:
        """Field specs of ``model`` keyed by wire name (cached)."""
        key = (self.id, model)
        if key not in _BY_WIRE_CACHE:
            _BY_WIRE_CACHE[key] = {wire: spec for spec, wire in _wire_fields(self, model)}
        return _BY_WIRE_CACHE[key]

    def schema_path(self, kind: Literal["json", "xsd"], packet_type: m.PacketType) -> Path:
        if kind == "xsd":
            return self.directory / "xsd" / f"{packet_type.value}.xsd"
        return self.directory / "json" / f"{packet_type.value}.schema.json"

    def __hash__(self) -> int:
        return hash(self.id)


_WIRE_CACHE: dict[tuple[str, type[BaseModel]], list[tuple[FieldSpec, str]]] = {}
_REVERSE_CACHE: dict[tuple[str, type[BaseModel]], dict[str, str]] = {}
_BY_WIRE_CACHE: dict[tuple[str, type[BaseModel]], dict[str, FieldSpec]] = {}


def _wire_fields(profile: Profile, model: type[BaseModel]) -> list[tuple[FieldSpec, str]]:
    key = (profile.id, model)
    if key not in _WIRE_CACHE:
        _WIRE_CACHE[key] = [(spec, profile.wire(model, spec.name)) for spec in fields_of(model)]
    return _WIRE_CACHE[key]


def _reverse(profile: Profile, model: type[BaseModel]) -> dict[str, str]:
    key = (profile.id, model)
    if key not in _REVERSE_CACHE:
        pairs = _wire_fields(profile, model)
        reverse = {wire: spec.name for spec, wire in pairs}
        if len(reverse) != len(pairs):
            raise ConfigurationError(f"profile {profile.id}: two fields of {model.__name__} share a wire name")
        _REVERSE_CACHE[key] = reverse
    return _REVERSE_CACHE[key]


def profile_dir_name(profile_id: str) -> str:
    """``qcvn125-gw/0`` is stored in the folder ``qcvn125-gw-0``."""
    return profile_id.replace("/", "-")


def load_profile(profile_id: str = DEFAULT_PROFILE, profiles_dir: Path | None = None) -> Profile:
    """Load a profile by id from ``profiles_dir``, or else from the resource search path: an operator's
    ``{data_dir}/profiles`` or ``[resources] profiles_dir`` first, then the profiles shipped in the wheel."""
    folders = (profiles_dir,) if profiles_dir is not None else resources.search_path("profiles")
    name = profile_dir_name(profile_id)
    for base in folders:
        if (base / name / "profile.json").is_file():
            return _load_profile(profile_id, base / name)
    known = sorted(
        {p.name for base in folders if base.is_dir() for p in base.iterdir() if (p / "profile.json").is_file()}
    )
    looked = ", ".join(str(base) for base in folders)
    raise ConfigurationError(f"unknown packet profile {profile_id!r} (looked in {looked}); known profiles: {known}")


@cache
def _load_profile(profile_id: str, directory: Path) -> Profile:
    path = directory / "profile.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"{path}: not UTF-8 JSON ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("id") != profile_id:
        found = raw.get("id") if isinstance(raw, dict) else None
        raise ConfigurationError(f"{path}: id is {found!r}, expected {profile_id!r}")
    try:
        profile = Profile(
            id=raw["id"],
            directory=directory,
            namespace=str(raw["namespace"]),
            root_element=str(raw["root_element"]),
            names={str(k): str(v) for k, v in dict(raw["names"]).items()},
            title=str(raw.get("title", "")),
            signature_element=str(raw.get("signature_element", "Signature")),
        )
    except KeyError as exc:
        raise ConfigurationError(f"{path}: {exc.args[0]!r} is missing") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{path}: 'names' must be an object of canonical -> wire names ({exc})") from exc
    _check_complete(profile)
    return profile


_XML_NAME = re.compile(r"[^\W\d][\w.\-]*")
"""An XML NCName, near enough: no colon or space, and not starting with a digit, '.' or '-'."""


def _check_complete(profile: Profile) -> None:
    """Every canonical field of every model must have a wire name; fail at load, naming them all."""
    missing: list[str] = []
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for spec in fields_of(model):
            if f"{model.__name__}.{spec.name}" not in profile.names and spec.name not in profile.names:
                missing.append(f"{model.__name__}.{spec.name}")
            if spec.model is not None:
                walk(spec.model)

    walk(m.Envelope)
    for body in m.BODY_TYPES.values():
        walk(body)
    if missing:
        raise ConfigurationError(f"profile {profile.id}: no wire name for {', '.join(missing)}")
    # The same names are XML element names, written into documents as they are.
    named = [*profile.names.items(), ("root_element", profile.root_element)]
    named.append(("signature_element", profile.signature_element))
    bad = [f"{key} -> {name!r}" for key, name in named if not _XML_NAME.fullmatch(str(name))]
    if bad:
        raise ConfigurationError(
            f"profile {profile.id}: not usable as an XML element name (a letter or '_', then letters, "
            f"digits, '.', '-' or '_'): {', '.join(bad)}"
        )
    for model in seen:
        _reverse(profile, model)
    collapsed = []
    for name, models in m.HOMONYMS.items():
        wires = [(f"{model.__name__}.{name}", profile.wire(model, name)) for model in models]
        if len({wire for _, wire in wires}) < len(wires):
            collapsed.append(" and ".join(f"{key} -> {wire!r}" for key, wire in wires))
    if collapsed:
        raise ConfigurationError(
            f"profile {profile.id}: one wire name for fields that mean different things: {'; '.join(collapsed)} "
            f"(scope each as \"Model.field\" under 'names' in {profile.directory / 'profile.json'})"
        )
