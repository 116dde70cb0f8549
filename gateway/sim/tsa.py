"""A test time-stamping authority (RFC 3161 over HTTP) for tests and demos, on loopback.

It answers ``POST /`` with ``application/timestamp-query`` using the test PKI's ``tsa.p12``
(``gateway keys test-pki``); the token is built and signed by pyHanko's ``DummyTimeStamper`` (the
same library our client and verifier use, so the cross-check with an independent implementation is
``openssl ts -verify`` on its tokens, in the tests). ``TsaSim.fail_with`` makes it answer an HTTP
error (an outage), ``TsaSim.at`` fixes the time it stamps. Never use it for anything real.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi import FastAPI, Request, Response

from gateway.signing.keys import load_key, read_passphrase
from gateway.signing.timestamps import MEDIA_QUERY, MEDIA_REPLY


@dataclass
class TsaSim:
    """The TSA's state: what it answers, and how many requests it got."""

    fail_with: int | None = None
    at: datetime | None = None
    requests: int = 0
    issued: list[bytes] = field(default_factory=list)


def tsa_app(pki: Path, state: TsaSim | None = None) -> tuple[FastAPI, TsaSim]:
    """The TSA as an ASGI app, signing with ``pki/tsa.p12`` (chain: ``pki``'s intermediate)."""
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    key = load_key(pki / "tsa.p12", read_passphrase(file=pki / "passphrase.txt"))
    cert = asn1_x509.Certificate.load(key.certificate.public_bytes(Encoding.DER))
    private = asn1_keys.PrivateKeyInfo.load(
        key.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    )
    sim = state or TsaSim()
    app = FastAPI(title="test TSA (RFC 3161)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/")
    async def stamp(request: Request) -> Response:
        sim.requests += 1
        if sim.fail_with is not None:
            return Response(status_code=sim.fail_with, content=b"TSA unavailable (simulated)")
        if request.headers.get("content-type") != MEDIA_QUERY:
            return Response(status_code=415, content=f"expected {MEDIA_QUERY}".encode())
        try:
            query = tsp.TimeStampReq.load(await request.body())
            _ = query.native
        except ValueError:
            return Response(status_code=400, content=b"not a TimeStampReq")
        stamper = DummyTimeStamper(tsa_cert=cert, tsa_key=private, fixed_dt=sim.at)
        reply = stamper.request_tsa_response(query).dump()
        sim.issued.append(reply)
        return Response(content=reply, media_type=MEDIA_REPLY)

    return app, sim
