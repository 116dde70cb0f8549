"""The fallback channel: when the national system is unreachable past a deadline, export the due
packets as a zip for the document-management system (Đồng Tháp 2025 art. 11.2, 20).

The bundle holds each packet as sent (``packets/<MaGoiTin>.json|xml``) and ``manifest.json`` with
the count and a SHA-256 per file; the manifest's own hash is printed and recorded in the audit log.
Exported deliveries are marked ``sent_out_of_band_at`` and stay queued: when the connection returns
they are delivered as usual (the receiver deduplicates on MaGoiTin) and reconciled.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from gateway import audit
from gateway.bootstrap import Gateway
from gateway.db.models import Delivery, DeliveryState, Packet

WAITING = (DeliveryState.PENDING.value, DeliveryState.SENDING.value, DeliveryState.DEAD.value)


@dataclass(frozen=True)
class Bundle:
    path: Path
    packets: int
    manifest_sha256: str


def export_bundle(
    gw: Gateway,
    period_key: str,
    out_dir: Path,
    *,
    regime: str | None = None,
    destination: str = "national",
    actor: str = "operator",
) -> Bundle:
    now = gw.clock.now()
    with gw.sessions.begin() as session:
        query = (
            select(Delivery, Packet)
            .join(Packet, Packet.id == Delivery.packet_id)
            .where(Packet.period_key == period_key, Delivery.destination == destination, Delivery.state.in_(WAITING))
            .order_by(Packet.form_code, Packet.revision)
        )
        if regime:
            query = query.where(Packet.regime_code == regime)
        rows = session.execute(query).all()
        files = []
        out_dir.mkdir(parents=True, exist_ok=True)
        name = f"bundle-{regime or 'all'}-{period_key}-{now.strftime('%Y%m%dT%H%M%SZ')}.zip"
        path = out_dir / name
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for delivery, packet in rows:
                payload = delivery.payload or packet.payload  # this destination's own bytes, when it has them
                ext = "xml" if (delivery.content_type or packet.content_type).endswith("xml") else "json"
                member = f"packets/{packet.id}.{ext}"
                zf.writestr(member, payload)
                files.append(
                    {
                        "file": member,
                        "MaGoiTin": packet.id,
                        "LoaiGoiTin": packet.packet_type,
                        "MaCheDo": packet.regime_code,
                        "MaBieuMau": packet.form_code,
                        "LanGui": packet.revision,
                        "bytes": len(payload),
                        "sha256": hashlib.sha256(payload).hexdigest(),
                    }
                )
                delivery.sent_out_of_band_at = now
            manifest = {
                "created_at": now.isoformat(),
                "period": period_key,
                "regime": regime,
                "sender": gw.settings.sender.model_dump(),
                "destination": destination,
                "count": len(files),
                "files": files,
            }
            manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            zf.writestr("manifest.json", manifest_bytes)
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        audit.record(
            session,
            at=now,
            actor=actor,
            action="bundle.exported",
            subject=f"bundle:{name}",
            detail={"period": period_key, "regime": regime, "packets": len(files), "manifest_sha256": digest},
        )
    return Bundle(path, len(files), digest)


def verify_bundle(path: Path) -> list[str]:
    """Problems found in a bundle (empty when every file matches the manifest)."""
    problems = []
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = set(zf.namelist()) - {"manifest.json"}
        if manifest["count"] != len(manifest["files"]):
            problems.append(f"manifest says {manifest['count']} packets, lists {len(manifest['files'])}")
        for entry in manifest["files"]:
            if entry["file"] not in names:
                problems.append(f"{entry['file']} is missing")
                continue
            data = zf.read(entry["file"])
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                problems.append(f"{entry['file']}: SHA-256 does not match the manifest")
            names.discard(entry["file"])
        problems.extend(f"{extra} is not in the manifest" for extra in sorted(names))
    return problems
