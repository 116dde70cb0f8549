"""Optional mutual TLS over loopback: the connector presents its client certificate and trusts the
receiver's CA; a receiver that requires a client certificate refuses a connector without one."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.connectors.base import OutgoingPacket
from gateway.connectors.http import HttpConnector
from gateway.errors import TransientDeliveryError
from gateway.packets.validate import write_packet
from gateway.settings import DestinationSettings, TlsSettings, UnitSettings
from gateway.sim.faults import FaultPlan
from gateway.sim.national import RECEIVE_PATH, create_app
from tests.support.packets import report_packet
from tests.support.services import free_port


def issue(
    name: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, *, ca: bool = False, san: str | None = None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(san), x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    data = cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        data += key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    path.write_bytes(data)
    return path


def test_mutual_tls(tmp_path: Path) -> None:
    ca_cert, ca_key = issue("Test CA", None, ca=True)
    server_cert, server_key = issue("localhost", (ca_cert.subject, ca_key), san="localhost")
    client_cert, client_key = issue("UBND tinh Lao Cai", (ca_cert.subject, ca_key))
    ca_file = write(tmp_path / "ca.pem", ca_cert)
    server_file = write(tmp_path / "server.pem", server_cert, server_key)
    write(tmp_path / "client.crt", client_cert)
    (tmp_path / "client.key").write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    port = free_port()
    config = uvicorn.Config(
        create_app(FaultPlan()),
        host="127.0.0.1",
        port=port,
        log_level="error",
        ssl_certfile=str(server_file),
        ssl_ca_certs=str(ca_file),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        envelope = report_packet()
        packet = OutgoingPacket(str(envelope.packet_id), "k", write_packet(envelope, "json"), "application/json")
        base = DestinationSettings(
            url=f"https://127.0.0.1:{port}{RECEIVE_PATH}", receiver=UnitSettings(code="G01", name="VPCP"), timeout=5
        )
        with_cert = HttpConnector(
            "national",
            base.model_copy(
                update={
                    "tls": TlsSettings(
                        client_cert=tmp_path / "client.crt", client_key=tmp_path / "client.key", ca_bundle=ca_file
                    )
                }
            ),
        )
        receipt = with_cert.send(packet)
        assert receipt.http_status == 200 and receipt.status is not None
        without = HttpConnector("national", base.model_copy(update={"tls": TlsSettings(ca_bundle=ca_file)}))
        with pytest.raises(TransientDeliveryError, match="transport error"):
            without.send(packet)  # the receiver requires a client certificate
        untrusted = HttpConnector("national", base)  # the system CAs do not know our test CA
        with pytest.raises(TransientDeliveryError, match="transport error"):
            untrusted.send(packet)
        for connector in (with_cert, without, untrusted):
            connector.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
