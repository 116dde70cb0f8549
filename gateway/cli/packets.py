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
    err,
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
    from gateway.cli import checks
    from gateway.errors import InputError
    from gateway.packets.profile import load_profile
    from gateway.packets.safe import check_size
    from gateway.packets.validate import read_packet

    checks.one_of(fmt, ("table", "json"), "--format")
    prof = load_profile(profile) if profile else load_profile()
    results: list[dict[str, Any]] = []
    worst = 0
    from gateway.progress import progress_bar

    with progress_bar(err, "validating", "files") as bar:  # a terminal only
        for path in bar.track(paths, total=len(paths)):
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
                err.print(f"error: cannot read {path}: {exc.strerror}", markup=False, soft_wrap=True)
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
    key: Annotated[
        Path | None, typer.Option("--key", help="re-sign the converted packet with this PKCS#12 or PEM key")
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="file whose first line is the key's passphrase (else $GATEWAY_SIGNING_PASSPHRASE)"),
    ] = None,
) -> None:
    """Convert a packet between JSON and XML (validated on the way in and out). A signature cannot
    survive the change of format: it is dropped with a note on stderr, or made anew with --key."""
    from gateway.cli import checks
    from gateway.packets.convert import convert as convert_packet
    from gateway.packets.profile import load_profile
    from gateway.packets.safe import check_size

    fmt = wire_format(to, "--to")
    checks.readable_file(path, "packet file")
    for given, what in ((key, "key file"), (passphrase_file, "passphrase file")):
        if given is not None:
            checks.readable_file(given, what)
    if passphrase_file is not None and key is None:
        raise checks.CommandInputError("--passphrase-file is for the --key that signs the converted packet: give --key")
    if out is not None:
        checks.output_path(out, "output file")
    check_size(path.stat().st_size, str(path))
    signer = None
    if key is not None:
        from gateway.signing.keys import KeyRing, load_key, read_passphrase
        from gateway.signing.packets import PacketSigner

        passphrase = read_passphrase(
            env=None if passphrase_file else "GATEWAY_SIGNING_PASSPHRASE", file=passphrase_file
        )
        signer = PacketSigner(load_profile(), KeyRing([load_key(key, passphrase)]))
    converted = convert_packet(path.read_bytes(), fmt, source=str(path), signer=signer)
    if converted.signature == "not-carried":
        err.print(
            f"note: {path} is signed; a signature does not carry over to {fmt.upper()}, so the converted packet "
            "is unsigned (give --key to sign it anew)",
            markup=False,
        )
    if out:
        out.write_bytes(converted.payload)
    else:
        sys.stdout.buffer.write(converted.payload + b"\n")
