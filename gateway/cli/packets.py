"""Packet files: validate and convert."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.common import (
    app,
    console,
    wire_format,
)
from gateway.errors import PacketInvalid


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="packet files (JSON or XML)")],
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    profile: Annotated[str | None, typer.Option(help="profile id")] = None,
) -> None:
    """Validate packets; exit 0 all valid, 1 any invalid, 2 unreadable input."""
    from gateway.errors import InputError
    from gateway.packets.profile import load_profile
    from gateway.packets.safe import check_size
    from gateway.packets.validate import read_packet

    prof = load_profile(profile) if profile else load_profile()
    results: list[dict[str, Any]] = []
    worst = 0
    for path in paths:
        try:
            check_size(path.stat().st_size, str(path))  # refuse oversize files before reading them
            data = path.read_bytes()
        except OSError as exc:
            results.append(
                {
                    "file": str(path),
                    "valid": False,
                    "unreadable": True,
                    "errors": [{"location": "", "message": f"cannot read: {exc.strerror}"}],
                }
            )
            worst = 2
            continue
        except InputError as exc:
            results.append(
                {
                    "file": str(path),
                    "valid": False,
                    "unreadable": True,
                    "errors": [{"location": "", "message": exc.reason}],
                }
            )
            worst = 2
            continue
        try:
            packet = read_packet(data, source=str(path), profile=prof)
            results.append(
                {
                    "file": str(path),
                    "valid": True,
                    "type": packet.packet_type.value,
                    "MaGoiTin": str(packet.packet_id),
                    "errors": [],
                }
            )
        except PacketInvalid as exc:
            results.append(
                {
                    "file": str(path),
                    "valid": False,
                    "errors": [{"location": v.location, "message": v.message} for v in exc.violations],
                }
            )
            worst = max(worst, 1)
        except InputError as exc:
            results.append(
                {
                    "file": str(path),
                    "valid": False,
                    "unreadable": True,
                    "errors": [{"location": exc.location, "message": exc.reason}],
                }
            )
            worst = 2
    if fmt == "json":
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for r in results:
            if r["valid"]:
                console.print(f"[green]valid[/]   {r['file']} ({r['type']} {r['MaGoiTin']})", soft_wrap=True)
            else:
                label = "unreadable" if r.get("unreadable") else "invalid"
                console.print(f"[red]{label}[/] {r['file']}: {len(r['errors'])} error(s)", soft_wrap=True)
                for e in r["errors"]:
                    console.print(f"    {e['location'] or '/'}: {e['message']}", markup=False, soft_wrap=True)
    raise typer.Exit(worst)


@app.command()
def convert(
    path: Path,
    to: Annotated[str, typer.Option("--to", help="json or xml")],
    out: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Convert a packet between JSON and XML (validated on the way in and out)."""
    from gateway.packets.validate import read_packet, write_packet

    fmt = wire_format(to, "--to")
    from gateway.packets.safe import check_size

    check_size(path.stat().st_size, str(path))
    packet = read_packet(path.read_bytes(), source=str(path))
    data = write_packet(packet, fmt)
    if out:
        out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data + b"\n")
