"""Structured logs: JSON lines with the delivery's context, and every kind of secret planted in a
run (client secret, bearer token, lgspaccesstoken, key passphrase) absent from the output."""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from gateway import logs
from gateway.connectors.auth import BearerSettings, LgspSettings, OAuth2Settings
from gateway.settings import KeySettings, SigningSettings
from gateway.signing.keys import load_key, read_passphrase
from gateway.sim.faults import FaultPlan
from gateway.sim.national import SimAuth
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.integration.test_auth import sim_with
from tests.support.packets import store_packets

CLIENT_SECRET = "planted-client-secret-9f2c"
BEARER = "planted-bearer-token-77aa"
LGSP_SECRET = "planted-lgsp-secret-31bd"
PASSPHRASE = "planted-key-passphrase-5e0d"


def test_planted_secrets_never_reach_the_logs(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    test_pki: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The signing key's passphrase arrives the recommended way: an environment variable named in the
    # configuration. The key is re-wrapped under the planted passphrase.
    key = load_key(test_pki / "signer.p12", read_passphrase(file=test_pki / "passphrase.txt"))
    wrapped = tmp_path / "planted.p12"
    wrapped.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"planted", key.private_key, key.certificate, list(key.chain), BestAvailableEncryption(PASSPHRASE.encode())
        )
    )
    monkeypatch.setenv("PLANTED_SIGNING_PASSPHRASE", PASSPHRASE)
    signing = SigningSettings(keys=[KeySettings(path=wrapped, passphrase_env="PLANTED_SIGNING_PASSPHRASE")])
    stream = io.StringIO()
    handler = logs.configure("DEBUG", "json", stream)
    try:
        oauth = sim_with(sim_factory, SimAuth(mode="oauth2", consumer_key="tinh", consumer_secret="other"))
        lgsp = sim_with(sim_factory, SimAuth(mode="lgsp", lgsp_secret_key="other"))
        bearer = sim_with(sim_factory, SimAuth(mode="bearer", static_tokens=("other",)))
        ok = sim_factory(FaultPlan(script=("503", "ok")))
        destinations = {
            "oauth": national_destination(oauth.receive_url).model_copy(
                update={
                    "auth": OAuth2Settings(
                        kind="oauth2",
                        token_url=f"{oauth.url}/token",
                        consumer_key="tinh",
                        consumer_secret=CLIENT_SECRET,
                    )
                }
            ),
            "lgsp": national_destination(lgsp.receive_url).model_copy(
                update={
                    "auth": LgspSettings(
                        kind="lgsp",
                        access_key="sim-access-key",
                        secret_key=LGSP_SECRET,
                        app_name="a",
                        partner_code="p",
                        partner_code_cus="c",
                    )
                }
            ),
            "bearer": national_destination(bearer.receive_url).model_copy(
                update={"auth": BearerSettings(kind="bearer", token=BEARER)}
            ),
            "national": national_destination(ok.receive_url),
        }
        gw = gateway_factory(database_url=database_url, destinations=destinations, signing=signing)
        _, ids = store_packets(gw, 1, destinations=list(destinations))
        service = gw.delivery_service("redaction")
        outcomes = sorted(service.attempt(i).outcome for i in ids)
        assert outcomes == ["paused", "paused", "paused", "retry"]
        header = base64.b64encode(
            json.dumps({"AccessKey": "sim-access-key", "SecretKey": LGSP_SECRET}).encode()
        ).decode()
        careless = logging.getLogger("careless.module")
        careless.error(
            "debugging auth: secret=%s bearer=%s lgspaccesstoken: %s pass=%s", CLIENT_SECRET, BEARER, header, PASSPHRASE
        )
        try:
            raise RuntimeError(f"Authorization: Bearer {BEARER}")
        except RuntimeError:
            careless.exception("request failed")
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    for secret in (CLIENT_SECRET, BEARER, LGSP_SECRET, PASSPHRASE, header):
        assert secret not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert any("[REDACTED]" in line["msg"] for line in lines)
    attempts = [line for line in lines if line["msg"].startswith("delivery attempt")]
    assert len(attempts) == 4
    for line in attempts:
        assert {"packet_id", "delivery_id", "destination", "correlation_id"} <= set(line)
