"""Operators through the province's identity provider: RS256 tokens checked against its JWKS
(served on loopback, as Keycloak or WSO2 IS would), issuer, audience, expiry and role claim."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from gateway.api.app import create_app
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory
from tests.support.api import bearer

ISSUER = "https://sso.laocai.gov.vn/realms/tinh"


def test_identity_provider_tokens(gateway_factory: GatewayFactory) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    idp = FastAPI()

    @idp.get("/certs")
    def certs() -> dict[str, Any]:
        return {"keys": [{**jwk, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}

    def issue(**claims: object) -> str:
        now = int(time.time())
        base = {"iss": ISSUER, "aud": "gateway", "iat": now, "exp": now + 300, "preferred_username": "nguyenvana"}
        return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": "idp-1"})

    with BackgroundServer(idp) as provider:
        gw = gateway_factory(
            api={"oidc": {"issuer": ISSUER, "audience": "gateway", "jwks_url": f"{provider.url}/certs"}}
        )
        with BackgroundServer(create_app(gw)) as api:

            def get(token: str) -> httpx.Response:
                return httpx.get(f"{api.url}/v1/ops/queues", headers=bearer(token), timeout=20)

            assert get(issue(roles=["operator"])).status_code == 200
            assert get(issue(roles=["viewer"])).status_code == 403  # no gateway role in the claim
            assert get(issue(roles=["operator"], aud="another-app")).status_code == 401
            assert get(issue(roles=["operator"], iss="https://evil.example")).status_code == 401
            assert get(issue(roles=["operator"], exp=int(time.time()) - 600)).status_code == 401
            auditor = issue(roles=["auditor"])
            assert get(auditor).status_code == 200
            replay = httpx.post(f"{api.url}/v1/ops/deliveries/1/replay", headers=bearer(auditor), timeout=20)
            assert replay.status_code == 403  # an auditor reads, never steers
            stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            forged = jwt.encode(
                {
                    "iss": ISSUER,
                    "aud": "gateway",
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 60,
                    "roles": ["admin"],
                },
                stranger,
                algorithm="RS256",
                headers={"kid": "idp-1"},
            )
            assert get(forged).status_code == 401
