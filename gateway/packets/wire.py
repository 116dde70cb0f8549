"""The canonical models, re-keyed by a profile's wire names, validated and serialised in Rust.

Why: mapping a 100,000-value packet between canonical and wire names in Python (a renaming walk, a
pruning walk, then pydantic) cost seconds. pydantic-core already validates and serialises the canonical
models in Rust; given each field's wire name as its alias it does the renaming in the same pass. So for
each (profile, packet type) we take the canonical core schemas, fix the envelope's ``body`` to that
type's body model, set every field's validation and serialisation alias from the profile, and compile a
``SchemaValidator`` and ``SchemaSerializer``. The result still builds and reads the canonical classes;
a profile is still only data (``contracts/qcvn125/profiles/*/profile.json``): nothing here names a
field.

Convention kept from the profile: absent optionals and empty lists are omitted on the wire. Every
default in the canonical models is ``None`` or ``[]`` (asserted at build time), so "omit defaults"
is exactly that convention.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import pydantic.main
from pydantic_core import CoreSchema, SchemaSerializer, SchemaValidator

from gateway.packets import model as m
from gateway.packets.profile import Profile


@dataclass(frozen=True)
class WireModel:
    """Validator and serialiser of one packet type's envelope under one profile."""

    profile: Profile
    packet_type: m.PacketType
    validator: SchemaValidator
    serializer: SchemaSerializer

    def load(self, wire: Any) -> m.Envelope:
        """Wire-named JSON object -> canonical envelope; raises ``pydantic.ValidationError`` whose
        locations are wire names (the aliases)."""
        envelope: m.Envelope = self.validator.validate_python(wire)
        return envelope

    def dump_json(self, envelope: m.Envelope) -> bytes:
        """Canonical envelope -> compact UTF-8 JSON with wire names, profile field order."""
        self._check_type(envelope)
        return self.serializer.to_json(envelope, by_alias=True, exclude_none=True, exclude_defaults=True)

    def dump(self, envelope: m.Envelope) -> dict[str, Any]:
        """Canonical envelope -> wire-named JSON-typed dict (what ``dump_json`` writes)."""
        self._check_type(envelope)
        wire: dict[str, Any] = self.serializer.to_python(
            envelope, mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        )
        return wire

    def _check_type(self, envelope: m.Envelope) -> None:
        if envelope.packet_type is not self.packet_type:
            raise ValueError(f"a {envelope.packet_type.value} envelope given to the {self.packet_type.value} codec")


@cache
def wire_model(profile: Profile, packet_type: m.PacketType) -> WireModel:
    """The compiled codec for ``packet_type`` under ``profile`` (built once per process)."""
    schema = _envelope_schema(m.BODY_TYPES[packet_type])
    _alias(schema, profile, None)
    with _compiled_from_schema(_models(schema)):
        return WireModel(profile, packet_type, SchemaValidator(schema), SchemaSerializer(schema))


# pydantic's own lock around ``model_rebuild`` when it has one (it flips the same flag there), so a
# rebuild elsewhere never interleaves with a compilation here; otherwise a lock of our own.
_BUILD_LOCK = getattr(pydantic.main, "_rebuild_lock", None) or threading.RLock()


@contextmanager
def _compiled_from_schema(classes: set[type[m.Part]]) -> Iterator[None]:
    """pydantic-core reuses a complete model class's own validator and serialiser for every nested
    ``model`` node that names the class (a memory optimisation), which would bring the canonical
    names back for nested models. It decides by the class's own ``__pydantic_complete__``, so the
    classes are marked incomplete while the profile's codec compiles, exactly as pydantic's own
    ``model_rebuild(force=True)`` does for the same reason. Only that flag changes, for the
    milliseconds of a compilation; the classes' validators and serialisers keep working."""
    with _BUILD_LOCK:
        marked = [cls for cls in classes if cls.__dict__.get("__pydantic_complete__")]
        for cls in marked:
            cls.__pydantic_complete__ = False
        try:
            yield
        finally:
            for cls in marked:
                cls.__pydantic_complete__ = True


# ------------------------------------------------------------------ core-schema surgery
def _envelope_schema(body_cls: type[m.Body]) -> CoreSchema:
    """The envelope's core schema with ``body`` fixed to ``body_cls`` and the before-validator that
    picks the body class by name (canonical names only) taken out: here the type is known."""
    envelope: dict[str, Any] = copy.deepcopy(dict(m.Envelope.__pydantic_core_schema__))
    body: dict[str, Any] = copy.deepcopy(dict(body_cls.__pydantic_core_schema__))
    definitions: dict[str, Any] = {}
    envelope = _hoist(envelope, definitions)
    body = _hoist(body, definitions)
    _strip_typed_body(envelope)
    fields = _model_fields(envelope)
    fields["body"]["schema"] = body
    for cls in _models(envelope) | _models(list(definitions.values())) | _models(body):
        for name, info in cls.model_fields.items():
            if not info.is_required() and info.default not in (None, []):
                raise TypeError(f"{cls.__name__}.{name}: a default other than None or [] breaks 'omit defaults'")
    return {"type": "definitions", "schema": envelope, "definitions": list(definitions.values())}


def _hoist(node: Any, definitions: dict[str, Any]) -> Any:
    """Replace every ``definitions`` node by its inner schema, collecting the definitions by ref."""
    if isinstance(node, list):
        return [_hoist(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "definitions":
        for definition in node["definitions"]:
            hoisted = _hoist(definition, definitions)
            definitions.setdefault(hoisted["ref"], hoisted)
        return _hoist(node["schema"], definitions)
    return {key: _hoist(value, definitions) for key, value in node.items()}


def _strip_typed_body(envelope: dict[str, Any]) -> None:
    model = _find(envelope, lambda n: n.get("type") == "model" and n.get("cls") is m.Envelope)
    inner = model["schema"]
    if inner.get("type") == "function-before":
        model["schema"] = inner["schema"]


def _model_fields(envelope: dict[str, Any]) -> dict[str, Any]:
    model = _find(envelope, lambda n: n.get("type") == "model" and n.get("cls") is m.Envelope)
    fields = _find(model["schema"], lambda n: n.get("type") == "model-fields")
    result: dict[str, Any] = fields["fields"]
    return result


def _find(node: Any, match: Any) -> dict[str, Any]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if match(item):
                return item
            stack.extend(v for k, v in item.items() if k != "metadata")
        elif isinstance(item, list):
            stack.extend(item)
    raise LookupError("core schema node not found")


def _models(node: Any) -> set[type[m.Part]]:
    found: set[type[m.Part]] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            cls = item.get("cls")
            if item.get("type") == "model" and isinstance(cls, type) and issubclass(cls, m.Part):
                found.add(cls)
            stack.extend(v for k, v in item.items() if k != "metadata")
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _alias(node: Any, profile: Profile, owner: type[m.Part] | None) -> None:
    """Give every model field the profile's wire name as its validation and serialisation alias."""
    if isinstance(node, list):
        for item in node:
            _alias(item, profile, owner)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "model" and isinstance(node.get("cls"), type) and issubclass(node["cls"], m.Part):
        owner = node["cls"]
    if kind == "model-fields" and owner is not None:
        for name, field in node["fields"].items():
            wire = profile.wire(owner, name)
            field["validation_alias"] = wire
            field["serialization_alias"] = wire
    for key, value in node.items():
        if key not in ("metadata", "cls"):
            _alias(value, profile, owner)
