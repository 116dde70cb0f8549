"""Benchmark: sign and verify a 1,000-value SO_LIEU_BAO_CAO packet, JSON (JCS) and XML (XML-DSig),
RSA-2048 and ECDSA P-256, beside a floor measured in the same run: the raw ``cryptography`` sign and
verify of one SHA-256 digest with the same key (issue 9).

The full verify path includes certificate-path validation with revocation against the CRLs in the
trust directory, as every received packet gets.

    .venv/bin/python bench/signing_bench.py [--values 1000] [--seconds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from bench.packets_bench import packet
from gateway.packets.profile import load_profile
from gateway.packets.validate import write_packet
from gateway.signing.keys import KeyRing, SigningKey, load_key, read_passphrase
from gateway.signing.packets import PacketSigner, PacketVerifier
from gateway.signing.testpki import make_test_pki
from gateway.signing.trust import TrustStore

FORMATS: tuple[Literal["json", "xml"], ...] = ("json", "xml")


def rate(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm up
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        fn()
        count += 1
    return count / elapsed


def floors(key: SigningKey, seconds: float) -> tuple[float, float]:
    """Raw ``cryptography`` sign and verify of one SHA-256 digest with the same key pair."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"x" * 64)
    value = digest.finalize()
    prehashed = utils.Prehashed(hashes.SHA256())
    private, public = key.private_key, key.certificate.public_key()
    if isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey):
        ec_private, ec_public = private, public
        signature = ec_private.sign(value, ec.ECDSA(prehashed))
        return (
            rate(partial(ec_private.sign, value, ec.ECDSA(prehashed)), seconds),
            rate(partial(ec_public.verify, signature, value, ec.ECDSA(prehashed)), seconds),
        )
    if isinstance(private, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey):
        rsa_private, rsa_public = private, public
        signature = rsa_private.sign(value, padding.PKCS1v15(), prehashed)
        return (
            rate(partial(rsa_private.sign, value, padding.PKCS1v15(), prehashed), seconds),
            rate(partial(rsa_public.verify, signature, value, padding.PKCS1v15(), prehashed), seconds),
        )
    raise SystemExit(f"{key.source}: neither an RSA nor an EC key pair")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--values", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    profile = load_profile()
    envelope = packet(args.values)
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_test_pki(Path(tmp))
        passphrase = read_passphrase(file=pki / "passphrase.txt")
        verifier = PacketVerifier(profile, TrustStore(pki / "trust"), max_age=None)
        print(f"packet: SO_LIEU_BAO_CAO with {args.values} values; {args.seconds:.0f} s per figure")
        print(
            f"{'key':10} {'format':6} {'bytes':>8} {'sign/s':>9} {'floor':>9} {'ratio':>6}"
            f" {'verify/s':>9} {'floor':>9} {'ratio':>6}"
        )
        for name in ("signer", "signer-ec"):
            key = load_key(pki / f"{name}.p12", passphrase)
            signer = PacketSigner(profile, KeyRing([key]))
            floor_sign, floor_verify = floors(key, args.seconds)
            for fmt in FORMATS:
                data = write_packet(envelope, fmt)
                signed = signer.sign(data)
                verifier.verify(signed, "bench")
                sign_rate = rate(partial(signer.sign, data), args.seconds)
                verify_rate = rate(partial(verifier.verify, signed, "bench"), args.seconds)
                label = "ECDSA" if key.is_ec else "RSA-2048"
                print(
                    f"{label:10} {fmt:6} {len(signed):>8} {sign_rate:>9.0f} {floor_sign:>9.0f}"
                    f" {floor_sign / sign_rate:>5.1f}x {verify_rate:>9.0f} {floor_verify:>9.0f}"
                    f" {floor_verify / verify_rate:>5.1f}x"
                )


if __name__ == "__main__":
    main()
