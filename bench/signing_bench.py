"""Benchmark: sign and verify a 1,000-value SO_LIEU_BAO_CAO packet, JSON (JCS) and XML (XML-DSig),
RSA-2048 and ECDSA P-256, beside a floor measured in the same run: the raw ``cryptography`` sign and
verify of the same canonical bytes with the same key, hashing included (issue 19; issue 9 used
a 64-byte digest).

``sign/s`` is what the sealer runs: ``PacketSigner.sign`` over the writer's bytes,
``write_packet(canonical=True)`` (JSON: the RFC 8785 form; XML: the exclusive C14N), hashed as they
are. ``any/s`` signs bytes that are not known to be canonical (parse, canonicalise, sign).
``canon ms`` is what ``canonical=True`` adds to ``write_packet`` (the one canonicalisation).
Verify is printed three ways: ``sig/s``, the signature check alone as the verifier runs it after
parsing (``jcs.verify`` over the received bytes; ``xmldsig.check``: SignedInfo, key operation,
digest), ``full/s``, ``PacketVerifier.verify`` as a caller without a parse gets it (the
hostile-input parse, the signing-time checks and certificate-path validation with revocation
against the CRLs in the trust directory, cached per certificate while provably unchanged:
``TrustStore.validate``), and, in the second table, what verification adds to reading a received
packet now that the two share one parse: ``given/s`` is ``PacketVerifier.verify(parsed=...)``
(everything ``full/s`` does but the parse), beside ``Inbound.read`` with a verifier (one parse,
verify, ``read_packet``) and ``read_packet`` of the same bytes unverified, for scale. ``parse/s`` is
a plain parse of the same bytes with no check at all (``json.loads``; lxml's ``etree.fromstring``),
and ``vs p+f`` the full verify against that parse plus the verify floor: the reference for a
verifier that has to parse the packet before it can check it.
``--rounds`` rounds, each measuring every figure once; the best of each is printed, so a slow
stretch of a shared machine hits floors and paths alike.

    .venv/bin/python bench/signing_bench.py [--values 1000] [--seconds 1] [--rounds 3] [--clock wall|cpu] [--split]

``--split`` prints only what the full verify of a received packet is made of (RSA-2048, each part
against the verify floor: the plain parse, the hardened reader's steps, verification given the parse).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from lxml import etree

from bench.packets_bench import packet
from gateway.packets import safe
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet, write_packet
from gateway.signing import Inbound, jcs, xmldsig
from gateway.signing.keys import KeyRing, SigningKey, load_key, read_passphrase
from gateway.signing.packets import PacketSigner, PacketVerifier, strip_signature
from gateway.signing.testpki import make_test_pki
from gateway.signing.trust import TrustStore

VN = timezone(timedelta(hours=7))
FORMATS: tuple[Literal["json", "xml"], ...] = ("json", "xml")


CLOCK: Callable[[], float] = time.perf_counter


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``CLOCK``: wall time, or with ``--clock cpu`` this process's CPU time (on
    a machine shared by several developers a figure then counts only the moments it ran, so the
    floors and the paths are not skewed by who else had the cores during their second)."""
    fn()  # warm up
    count, started = 0, CLOCK()
    while (elapsed := CLOCK() - started) < seconds:
        fn()
        count += 1
    return count / elapsed


def floors(key: SigningKey, value: bytes, seconds: float) -> tuple[float, float]:
    """Raw ``cryptography`` sign and verify of ``value`` (the packet's canonical bytes: SHA-256 over
    all of them, then the key operation) with the same key pair."""
    private, public = key.private_key, key.certificate.public_key()
    if isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey):
        ec_private, ec_public = private, public
        signature = ec_private.sign(value, ec.ECDSA(hashes.SHA256()))
        return (
            rate(partial(ec_private.sign, value, ec.ECDSA(hashes.SHA256())), seconds),
            rate(partial(ec_public.verify, signature, value, ec.ECDSA(hashes.SHA256())), seconds),
        )
    if isinstance(private, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey):
        rsa_private, rsa_public = private, public
        signature = rsa_private.sign(value, padding.PKCS1v15(), hashes.SHA256())
        return (
            rate(partial(rsa_private.sign, value, padding.PKCS1v15(), hashes.SHA256()), seconds),
            rate(partial(rsa_public.verify, signature, value, padding.PKCS1v15(), hashes.SHA256()), seconds),
        )
    raise SystemExit(f"{key.source}: neither an RSA nor an EC key pair")


def canonical_bytes(signed: bytes, fmt: str) -> bytes:
    """What the signature covers: JSON, the RFC 8785 form less ``ChuKySo``; XML, the exclusive C14N
    of the document less its Signature (the Reference's digest input)."""
    if fmt == "json":
        return jcs.canonical(json.loads(signed), "ChuKySo")
    root = etree.fromstring(signed)
    strip_signature(root)
    return etree.tostring(root, method="c14n", exclusive=True)


def signature_check(signed: bytes, fmt: str) -> Callable[[], object]:
    """The signature check alone, as the verifier runs it after parsing (no path validation)."""
    if fmt == "json":
        doc = json.loads(signed)
        names = ("ChuKySo", "ThuatToan", "ChungThu", "GiaTri")
        alg, cert, value = jcs.inspect(doc, names, "bench")
        return partial(jcs.verify, doc, alg, cert, value, "ChuKySo", "bench", received=signed)
    root = etree.fromstring(signed)
    cert, _ = xmldsig.inspect(signed, root, "bench")
    return partial(xmldsig.check, signed, root, cert, "bench")


def best_ms(fn: Callable[[], object], seconds: float) -> float:
    return 1000.0 / rate(fn, seconds)


def split(key: SigningKey, signer: PacketSigner, verifier: PacketVerifier, envelope: Any, seconds: float) -> None:
    """``--split``: what the full verify of a received packet is made of, RSA-2048, each part in ms
    (of ``CLOCK``) and against the raw verify floor, best of ``--rounds`` (issue 19)."""
    from gateway.packets.validate import gc_paused

    def paused(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with gc_paused():
                return fn()

        return run

    public = key.certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey) and isinstance(key.private_key, rsa.RSAPrivateKey)
    for fmt in FORMATS:
        signed = signer.sign(write_packet(envelope, fmt, canonical=True))
        value = canonical_bytes(signed, fmt)
        signature = key.private_key.sign(value, padding.PKCS1v15(), hashes.SHA256())
        floor = partial(public.verify, signature, value, padding.PKCS1v15(), hashes.SHA256())
        parts: list[tuple[str, Callable[[], object]]] = [("floor: RSA verify of the canonical bytes", floor)]
        if fmt == "json":
            codec = safe._codec()
            assert codec is not None, "msgspec is not installed"
            decoder, encoder = codec
            doc = decoder.decode(signed)
            text = signed.decode("utf-8")
            strict = partial(
                json.loads,
                text,
                object_pairs_hook=safe._no_duplicates,
                parse_float=safe._bounded_decimal,
                parse_int=safe._bounded_int,
                parse_constant=safe._no_constant,
            )
            parts += [
                ("plain json.loads", partial(json.loads, signed)),
                ("  the same, collector paused", paused(partial(json.loads, signed))),
                ("long-number scan (translate + find)", partial(_scan, signed)),
                ("msgspec decode (collector paused)", paused(partial(decoder.decode, signed))),
                ("msgspec encode + compare", partial(_same, encoder, doc, signed)),
                ("safe.parse_json (collector paused)", paused(partial(safe.parse_json, signed, check_depth=False))),
                ("strict parser alone (the old path), paused", paused(strict)),
            ]
            parsed: Any = safe.parse_json(signed, check_depth=False)
        else:
            parts += [
                ("plain etree.fromstring", partial(etree.fromstring, signed)),
                ("safe.parse_xml", partial(safe.parse_xml, signed)),
            ]
            parsed = safe.parse_xml(signed)
        parts += [
            ("verify given the parse", partial(verifier.verify, signed, "bench", parsed=parsed)),
            ("full verify (PacketVerifier.verify)", partial(verifier.verify, signed, "bench")),
        ]
        print(f"{fmt} ({len(signed)} bytes){'ms':>38} {'x floor':>8}")
        floor_ms = 0.0
        for name, fn in parts:
            ms = min(best_ms(fn, seconds) for _ in range(ROUNDS))
            floor_ms = floor_ms or ms
            print(f"  {name:44} {ms:7.3f} {ms / floor_ms:8.1f}")


def _scan(data: bytes) -> bool:
    return safe._LONG_NUMBER in data.translate(safe._NUMBER_CHARS)


def _same(encoder: Any, doc: Any, data: bytes) -> bool:
    return bool(encoder.encode(doc) == data)


ROUNDS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--values", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="what a figure's second is")
    parser.add_argument("--split", action="store_true", help="only what the full verify is made of (RSA-2048)")
    args = parser.parse_args()
    global CLOCK, ROUNDS
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    ROUNDS = args.rounds
    profile = load_profile()
    # Signed now, as a packet is: the certificate-path outcome is cached while the CRLs on file
    # cover the signing time (a packet signed before the current CRL was issued is validated afresh).
    envelope = packet(args.values).model_copy(update={"created_at": datetime.now(UTC).astimezone(VN)})
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_test_pki(Path(tmp))
        passphrase = read_passphrase(file=pki / "passphrase.txt")
        verifier = PacketVerifier(profile, TrustStore(pki / "trust"), max_age=None)
        if args.split:
            key = load_key(pki / "signer.p12", passphrase)
            split(key, PacketSigner(profile, KeyRing([key])), verifier, envelope, args.seconds)
            return
        print(
            f"packet: SO_LIEU_BAO_CAO with {args.values} values; {args.seconds:g} s ({args.clock}) per figure,"
            f" best of {args.rounds} rounds"
        )
        print(
            f"{'key':10} {'format':6} {'bytes':>8} {'sign/s':>8} {'floor':>8} {'ratio':>6} {'any/s':>7}"
            f" {'canon ms':>8} {'sig/s':>8} {'floor':>8} {'ratio':>6} {'full/s':>8} {'ratio':>7}"
        )
        worst = worst_full = worst_added = 0.0
        inbound = Inbound(profile, verifier)
        received: list[str] = []
        for name in ("signer", "signer-ec"):
            key = load_key(pki / f"{name}.p12", passphrase)
            signer = PacketSigner(profile, KeyRing([key]))
            for fmt in FORMATS:
                plain = write_packet(envelope, fmt)
                data = write_packet(envelope, fmt, canonical=True)
                signed = signer.sign(data)
                verifier.verify(signed, "bench")
                value = canonical_bytes(signed, fmt)
                # the reader's parse (Inbound.read's one), for the verification it is handed to
                parsed = safe.parse_json(signed, check_depth=False) if fmt == "json" else safe.parse_xml(signed)
                best: dict[str, float] = {}
                for _ in range(args.rounds):
                    floor_sign, floor_verify = floors(key, value, args.seconds)
                    readings = {
                        "floor_sign": floor_sign,
                        "floor_verify": floor_verify,
                        "sign": rate(partial(signer.sign, data), args.seconds),
                        "any": rate(partial(signer.sign, plain), args.seconds),
                        "check": rate(signature_check(signed, fmt), args.seconds),
                        "full": rate(partial(verifier.verify, signed, "bench"), args.seconds),
                        "given": rate(partial(verifier.verify, signed, "bench", parsed=parsed), args.seconds),
                        "read": rate(partial(inbound.read, signed, source="bench"), args.seconds),
                        "unverified": rate(partial(read_packet, signed, source="bench"), args.seconds),
                        "parse": rate(partial(json.loads if fmt == "json" else etree.fromstring, signed), args.seconds),
                        # negative: the canonical write's extra cost is the difference of two bests
                        "write": -best_ms(partial(write_packet, envelope, fmt), args.seconds),
                        "write_canon": -best_ms(partial(write_packet, envelope, fmt, canonical=True), args.seconds),
                    }
                    for k, v in readings.items():
                        best[k] = max(best.get(k, v), v)
                canon_ms = max(0.0, best["write"] - best["write_canon"])
                label = "ECDSA" if key.is_ec else "RSA-2048"
                sign_ratio = best["floor_sign"] / best["sign"]
                check_ratio = best["floor_verify"] / best["check"]
                worst = max(worst, sign_ratio, check_ratio)
                given_ratio = best["floor_verify"] / best["given"]
                parse_and_floor = 1 / (1 / best["parse"] + 1 / best["floor_verify"])  # per second
                received.append(
                    f"{label:10} {fmt:6} {best['given']:>8.0f} {best['floor_verify']:>8.0f} {given_ratio:>5.1f}x"
                    f" {best['parse']:>8.0f} {parse_and_floor / best['full']:>6.1f}x"
                    f" {best['read']:>8.0f} {best['unverified']:>12.0f}"
                )
                worst_full = max(worst_full, best["floor_verify"] / best["full"])
                worst_added = max(worst_added, given_ratio)
                print(
                    f"{label:10} {fmt:6} {len(signed):>8} {best['sign']:>8.0f} {best['floor_sign']:>8.0f}"
                    f" {sign_ratio:>5.1f}x {best['any']:>7.0f} {canon_ms:>8.2f} {best['check']:>8.0f}"
                    f" {best['floor_verify']:>8.0f} {check_ratio:>5.1f}x {best['full']:>8.0f}"
                    f" {best['floor_verify'] / best['full']:>6.1f}x"
                )
        print("received packets: verification given the reader's parse; Inbound.read and read_packet for scale")
        print(
            f"{'key':10} {'format':6} {'given/s':>8} {'floor':>8} {'ratio':>6} {'parse/s':>8} {'vs p+f':>7}"
            f" {'read/s':>8} {'unverified/s':>12}"
        )
        print("\n".join(received))
        batch = [write_packet(envelope, "json", canonical=True) for _ in range(20)]
        signer = PacketSigner(profile, KeyRing([load_key(pki / "signer.p12", passphrase)]))
        one_by_one = max(rate(lambda: [signer.sign(d) for d in batch], args.seconds) for _ in range(args.rounds))
        many = max(rate(partial(signer.sign_many, batch), args.seconds) for _ in range(args.rounds))
        print(
            f"batch of 20 (RSA-2048, json): sign_many {many * 20:.0f} packets/s,"
            f" one by one {one_by_one * 20:.0f} packets/s"
        )
        print(
            f"goal (issue 19): sign and verify within 2x of the floor (ratio <= 2.0); worst sign/sig {worst:.1f}x;"
            f" full verify with its parse {worst_full:.1f}x; verification added to reading {worst_added:.1f}x"
        )


if __name__ == "__main__":
    main()
