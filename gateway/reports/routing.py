"""Routing one canonical packet to its destinations, each in its own format and addressed to it.

A report is built once (one ``MaGoiTin``, one set of figures), then serialised and sealed once per
destination: ``destinations.<name>.format`` picks JSON or XML, ``destinations.<name>.receiver`` is
the ``DonViNhan`` of that copy, and ``destinations.<name>.sign`` whether it is signed. The first
destination's bytes are the packet's own; every other destination whose copy differs keeps its
bytes on its delivery (``outbox.store(own_payloads=...)``), so each retry sends exactly what was
signed for that receiver.

A regime names its destinations by the keys of ``[destinations.<name>]``; ``check_routes`` refuses,
at start-up and naming the regime's file, a regime that names one that is not configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.errors import ConfigurationError
from gateway.packets import model as m
from gateway.settings import DestinationSettings
from gateway.signing.seal import Sealer

Format = Literal["json", "xml"]


@dataclass(frozen=True)
class Sealed:
    """What the outbox stores: the first destination's copy, and the other destinations' own copies."""

    envelope: m.Envelope
    payload: bytes
    fmt: Format
    destinations: list[str]
    own: dict[str, tuple[bytes, str]] = field(default_factory=dict)


def addressed(envelope: m.Envelope, destination: DestinationSettings | None) -> m.Envelope:
    """The envelope with ``DonViNhan`` set to the destination's receiver."""
    if destination is None:
        return envelope
    receiver = m.Unit(code=destination.receiver.code, name=destination.receiver.name)
    return envelope if envelope.receiver == receiver else envelope.model_copy(update={"receiver": receiver})


def seal_for(
    envelope: m.Envelope,
    names: Iterable[str],
    destinations: Mapping[str, DestinationSettings],
    sealer: Sealer,
    fmt: Format | None = None,
) -> Sealed:
    """Serialise, validate and sign ``envelope`` once per destination (``fmt`` forces one format on all;
    a destination that is not configured gets the first copy, and the worker rejects it visibly)."""
    chosen = list(dict.fromkeys(names))
    if not chosen:
        raise ConfigurationError(f"packet {envelope.packet_id}: no destination to send it to")

    def format_of(name: str) -> Format:
        if fmt is not None:
            return fmt
        dest = destinations.get(name)
        return dest.format if dest is not None else "json"

    first = chosen[0]
    primary = addressed(envelope, destinations.get(first))
    primary_fmt = format_of(first)
    payload = sealer.seal(primary, primary_fmt, [first])
    own: dict[str, tuple[bytes, str]] = {}
    for name in chosen[1:]:
        copy = addressed(envelope, destinations.get(name))
        copy_fmt = format_of(name)
        if copy == primary and copy_fmt == primary_fmt and sealer.signs_for([name]) == sealer.signs_for([first]):
            continue  # the same bytes would be made again: share the packet's own
        own[name] = (sealer.seal(copy, copy_fmt, [name]), copy_fmt)
    return Sealed(primary, payload, primary_fmt, chosen, own)


def seal_report_for(
    head: m.Envelope,
    figures: list[dict[str, Any]],
    names: Iterable[str],
    destinations: Mapping[str, DestinationSettings],
    sealer: Sealer,
    fmt: Format | None = None,
) -> Sealed:
    """``seal_for`` for a report written from rows (``gateway.packets.validate.report_head`` and
    wire-named figures): a JSON copy is written by ``write_report_json`` with no model object per
    figure; an XML copy from the whole packet as the canonical model, made once, as ``seal_for``
    does. The same copies are shared or kept apart as there."""
    from gateway.packets.validate import report_envelope, write_report_json

    chosen = list(dict.fromkeys(names))
    if not chosen:
        raise ConfigurationError(f"packet {head.packet_id}: no destination to send it to")
    whole: list[m.Envelope] = []  # the canonical model of the packet, made at the first XML copy

    def format_of(name: str) -> Format:
        if fmt is not None:
            return fmt
        dest = destinations.get(name)
        return dest.format if dest is not None else "json"

    def seal(envelope: m.Envelope, copy_fmt: Format, name: str) -> bytes:
        if copy_fmt == "xml":
            if not whole:
                whole.append(report_envelope(head, figures, profile=sealer.profile, source=f"packet {head.packet_id}"))
            return sealer.seal(addressed(whole[0], destinations.get(name)), "xml", [name])
        signing = sealer.signs_for([name])
        data = write_report_json(envelope, figures, profile=sealer.profile, canonical=signing)
        return sealer.sign_written(data, str(envelope.packet_id), [name])

    first = chosen[0]
    primary = addressed(head, destinations.get(first))
    primary_fmt = format_of(first)
    payload = seal(primary, primary_fmt, first)
    own: dict[str, tuple[bytes, str]] = {}
    for name in chosen[1:]:
        copy = addressed(head, destinations.get(name))
        copy_fmt = format_of(name)
        if copy == primary and copy_fmt == primary_fmt and sealer.signs_for([name]) == sealer.signs_for([first]):
            continue  # the same bytes would be made again: share the packet's own
        own[name] = (seal(copy, copy_fmt, name), copy_fmt)
    return Sealed(primary, payload, primary_fmt, chosen, own)


def check_routes(
    regimes: Iterable[tuple[str, list[str], Path]], destinations: Mapping[str, DestinationSettings]
) -> None:
    """Every destination a regime names must be configured; the error names the regime's file."""
    configured = sorted(destinations)
    problems = [
        f"{path}: regime {code} sends to destination {name!r}, which is not configured "
        f"(configured: {', '.join(configured) or 'none'}); add [destinations.{name}] to the configuration "
        f"or change 'destinations' in {path.name}"
        for code, names, path in regimes
        for name in names
        if name not in destinations
    ]
    if problems:
        raise ConfigurationError("; ".join(problems))
