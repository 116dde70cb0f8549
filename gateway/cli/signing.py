"""Signatures: test PKI, sign, verify."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import (
    app,
    console,
)

keys_app = typer.Typer(help="Signing keys and trust anchors.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("test-pki")
def keys_test_pki(
    directory: Path,
    province: Annotated[str, typer.Option(help="unit code (certificate UID) of the province's signers")] = "H15",
    national: Annotated[str, typer.Option(help="unit code of the national system's key")] = "G01",
) -> None:
    """Make a throw-away PKI for tests and demos: DIR/trust/ (root, intermediate, CRLs), DIR/signer.p12,
    signer-ec.p12, national.p12, ministry.p12, expired.p12, revoked.p12, untrusted.p12, tsa.p12 (a
    time-stamping authority for `gateway sim tsa`), tsa-chain.pem, passphrase.txt."""
    from gateway.cli import checks
    from gateway.signing.testpki import make_test_pki

    checks.output_path(directory, "folder")
    if directory.exists() and any(directory.iterdir()):
        raise checks.CommandInputError(f"folder {directory} exists and is not empty: name a new folder")
    make_test_pki(directory, province=province, national=national)
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            console.print(str(path), markup=False)


@app.command()
def sign(
    path: Path,
    key: Annotated[Path, typer.Option("--key", help="PKCS#12 or PEM file with the key and its certificate")],
    passphrase_file: Annotated[
        Path | None, typer.Option(help="file whose first line is the passphrase (else $GATEWAY_SIGNING_PASSPHRASE)")
    ] = None,
    out: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Sign a packet (JSON: ChuKySo over RFC 8785; XML: enveloped XML-DSig). The passphrase is never
    taken from the command line."""
    from gateway.cli import checks
    from gateway.packets.profile import load_profile
    from gateway.packets.safe import check_size
    from gateway.packets.validate import read_packet
    from gateway.signing.keys import KeyRing, load_key, read_passphrase
    from gateway.signing.packets import PacketSigner

    checks.readable_file(path, "packet file")
    checks.readable_file(key, "key file")
    if passphrase_file is not None:
        checks.readable_file(passphrase_file, "passphrase file")
    if out is not None:
        checks.output_path(out, "output file")
    check_size(path.stat().st_size, str(path))
    data = path.read_bytes()
    read_packet(data, source=str(path))  # sign only what is a valid packet
    passphrase = read_passphrase(env=None if passphrase_file else "GATEWAY_SIGNING_PASSPHRASE", file=passphrase_file)
    signed = PacketSigner(load_profile(), KeyRing([load_key(key, passphrase)])).sign(data)
    if out:
        out.write_bytes(signed)
    else:
        sys.stdout.buffer.write(signed + b"\n")


@app.command()
def verify(
    path: Path,
    trust: Annotated[Path, typer.Option("--trust", help="directory of trusted roots, intermediates and CRLs")],
    revocation_unknown: Annotated[str, typer.Option(help="reject or accept when no CRL covers the signer")] = "reject",
    max_age_days: Annotated[
        float, typer.Option(min=0, help="refuse signatures older than this many days (0: no limit, for archives)")
    ] = 30.0,
) -> None:
    """Verify a signed packet (and the signed PDFs it carries), or a signed PDF. Exit 0 when valid,
    1 when not, with the reason. The signer's certificate must be valid and unrevoked now (or at the
    time of its RFC 3161 timestamp): the date a packet claims proves nothing."""
    from gateway.cli import checks
    from gateway.errors import SignatureInvalid
    from gateway.packets.profile import load_profile
    from gateway.packets.safe import check_size
    from gateway.signing import Inbound
    from gateway.signing.packets import PacketVerifier
    from gateway.signing.pdf import verify_pdf
    from gateway.signing.seal import verify_attachments
    from gateway.signing.trust import TrustStore

    checks.one_of(revocation_unknown, ("reject", "accept"), "--revocation-unknown")
    checks.readable_file(path, "file")
    checks.existing_dir(trust, "trust folder")
    check_size(path.stat().st_size, str(path))
    store = TrustStore(trust, revocation_unknown="accept" if revocation_unknown == "accept" else "reject")
    data = path.read_bytes()
    try:
        if data.startswith(b"%PDF"):
            signers = verify_pdf(data, store, source=str(path))
        else:
            max_age = timedelta(days=max_age_days) if max_age_days else None
            verifier = PacketVerifier(load_profile(), store, max_age=max_age)
            packet, signer = Inbound(verifier.profile, verifier).read(data, source=str(path))
            assert signer is not None
            signers = [signer, *verify_attachments(packet, store)]
    except SignatureInvalid as exc:
        console.print(f"INVALID ({exc.code}): {exc}", markup=False)
        raise typer.Exit(1) from exc
    for who in signers:
        note = " (revocation unknown)" if who.revocation == "unknown" else ""
        if who.stamped_at is not None:
            note += f"; timestamped at {who.stamped_at.isoformat()} by {who.stamped_by}"
        console.print(f"VALID: signed by {who.subject}{note}", markup=False)
