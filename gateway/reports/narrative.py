"""Narrative reports (``GUI_DE_CUONG``): the sections of an outline, written by the province, and the
signed document attached, sent like every other report.

Outlines are data (``mappings/outlines/*.yaml``: code, name, regime, sections), the same shape as a
``BIEU_MAU_DE_CUONG`` the Government system issues. Each section's text comes from a Markdown file
(UTF-8, stored as NFC). Attachments are read from files; the gateway computes their SHA-256 and
verifies every signed PDF (intact, whole-file, trusted, not revoked, signed for our unit) before the
report is built: an unsigned or badly signed PDF is refused with its file named, and nothing is queued.
The packet goes through ``queue`` (sealed per destination, then the outbox) like a numeric report,
with the regime's deadline.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway import resources
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import load_regime, run_for
from gateway.clock import VN_TZ
from gateway.db.models import Packet
from gateway.errors import ConfigurationError, InputError
from gateway.packets import model as m
from gateway.reports.queue import due_at, queue
from gateway.signing.pdf import PDF_MEDIA_TYPE, verify_pdf
from gateway.signing.trust import TrustStore
from mappings import yaml_files


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SectionDef(_Closed):
    code: str
    title: str
    guidance: str | None = None
    parent: str | None = None


class OutlineDef(_Closed):
    code: str
    name: str
    regime: str
    sections: list[SectionDef]

    def as_body(self) -> m.Outline:
        """The outline as a ``BIEU_MAU_DE_CUONG`` body (what the Government system issues)."""
        return m.Outline(
            outline_code=self.code,
            outline_name=self.name,
            regime_code=self.regime,
            sections=[
                m.OutlineSection(
                    section_code=s.code, ordinal=i, title=s.title, guidance=s.guidance, parent_section_code=s.parent
                )
                for i, s in enumerate(self.sections, start=1)
            ],
        )


@cache
def load_outline(code: str, *directories: Path) -> OutlineDef:
    """The outline ``code`` from the first of ``directories`` that has it (an operator's
    ``{data_dir}/outlines`` before the shipped ``mappings/outlines``)."""
    folders = (*directories, *resources.search_path("outlines"))
    path = next((d / f"{code}.yaml" for d in folders if (d / f"{code}.yaml").is_file()), None)
    if path is None:
        known = sorted({p.stem for d in folders for p in d.glob("*.yaml")})
        raise ConfigurationError(f"unknown outline {code!r} (looked in {', '.join(map(str, folders))}); known: {known}")
    try:
        return OutlineDef.model_validate(yaml_files.safe_load(path.read_text(encoding="utf-8")))
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}{yaml_files.yaml_problem(exc)}") from exc
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"{path}: {details}") from exc


@dataclass(frozen=True)
class DocumentInfo:
    """The covering document (``VanBan``): number, date, summary, and who signed it."""

    number: str
    issued_on: date
    summary: str
    signer_name: str
    signer_title: str


@dataclass(frozen=True)
class NarrativeRequest:
    regime: str
    period_key: str
    outline: str
    sections: dict[str, Path]
    attachments: list[Path]
    document: DocumentInfo


@dataclass(frozen=True)
class SentNarrative:
    packet_id: str
    revision: int
    delivery_ids: list[int]
    attachments: list[tuple[str, str]]  # (file name, SHA-256)


def _text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", location=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 (byte {exc.start}); convert it first (gateway unicode)", location=str(path)
        ) from exc
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise InputError(f"{path} is empty", location=str(path))
    return text


def attachment(path: Path, trust: TrustStore | None, unit_code: str) -> m.Attachment:
    """Read one file to attach; a PDF must carry a valid signature of our unit."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", location=str(path)) from exc
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media == PDF_MEDIA_TYPE:
        if trust is None:
            raise ConfigurationError(
                f"{path}: a signed PDF is verified before it is sent, and no trust store is configured "
                "(set [trust] dir)"
            )
        verify_pdf(data, trust, unit_code=unit_code, source=str(path))
    return m.Attachment(
        file_name=path.name,
        media_type=media,
        data=base64.b64encode(data).decode("ascii"),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _next_revision(session: Session, regime: str, outline: str, period_key: str, unit: str) -> int:
    latest = session.scalar(
        select(func.max(Packet.revision)).where(
            Packet.packet_type == m.PacketType.GUI_DE_CUONG.value,
            Packet.regime_code == regime,
            Packet.form_code == outline,
            Packet.period_key == period_key,
            Packet.reporting_unit == unit,
        )
    )
    return int(latest or 0) + 1


def send_narrative(gw: Gateway, request: NarrativeRequest, *, actor: str) -> SentNarrative:
    """Build, verify, seal and queue one ``GUI_DE_CUONG``; published after commit."""
    regime = load_regime(request.regime)
    outline = load_outline(request.outline, gw.settings.data_dir / "outlines")
    if outline.regime != regime.code:
        raise InputError(f"outline {outline.code} belongs to regime {outline.regime}, not {regime.code}")
    known = {s.code for s in outline.sections}
    unknown = sorted(set(request.sections) - known)
    if unknown:
        raise InputError(
            f"outline {outline.code} has no section {', '.join(unknown)}; its sections: {', '.join(sorted(known))}"
        )
    if not request.sections and not request.attachments:
        raise InputError("nothing to send: give at least one --section or --attach")
    run = run_for(regime, request.period_key)
    sender = gw.settings.sender
    contents = [
        m.SectionContent(section_code=s.code, content=_text(request.sections[s.code]))
        for s in outline.sections
        if s.code in request.sections
    ]
    attached = [attachment(path, gw.sealer.trust, sender.code) for path in request.attachments]
    now = gw.clock.now()
    local_now = now.astimezone(VN_TZ)
    unit = m.Unit(code=sender.code, name=sender.name)
    with gw.sessions.begin() as session:
        revision = _next_revision(session, regime.code, outline.code, run.key, sender.code)
        envelope = m.Envelope(
            packet_id=uuid.uuid4(),
            packet_type=m.PacketType.GUI_DE_CUONG,
            profile=gw.profile.id,
            created_at=local_now,
            sender=unit,
            receiver=unit,  # addressed per destination by queue
            body=m.NarrativeReport(
                regime_code=regime.code,
                outline_code=outline.code,
                period=run.period,
                reporting_unit=unit,
                revision=revision,
                document=m.Document(
                    document_number=request.document.number,
                    issued_on=request.document.issued_on,
                    summary=request.document.summary,
                    signer=m.Signer(full_name=request.document.signer_name, title=request.document.signer_title),
                ),
                section_contents=contents,
                attachments=attached,
            ),
        )
        packet, deliveries = queue(
            session,
            envelope,
            regime.destinations,
            gw.settings.destinations,
            gw.sealer,
            now=now,
            deadline=due_at(run),
            actor=actor,
            event="report.narrative",
            subject=f"report:{regime.code}:{outline.code}:{run.key}:{sender.code}",
            detail={
                "revision": revision,
                "sections": [c.section_code for c in contents],
                "attachments": [{"file": a.file_name, "sha256": a.sha256} for a in attached],
            },
        )
        ids = [d.id for d in deliveries]
    gw.publish(ids)
    return SentNarrative(packet.id, revision, ids, [(a.file_name, a.sha256) for a in attached])
