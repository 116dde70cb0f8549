"""Authentication against the simulator over loopback: the conventions LGSP platforms use, one
re-authentication on 401, and a paused destination (not dead packets) when credentials are refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.bootstrap import Gateway
from gateway.connectors.auth import (
    BearerSettings,
    LgspOAuth2Settings,
    LgspSettings,
    OAuth2Settings,
)
from gateway.db.models import Delivery, DeliveryAttempt, DestinationState
from gateway.sim.faults import FaultPlan
from gateway.sim.national import SimAuth
from tests.conftest import GatewayFactory, Sim, SimFactory, national_destination
from tests.support.packets import store_packets

SECRET = "s3cr3t-consumer-secret"
LGSP_SECRET = "lgsp-s3cr3t-key"


def sim_with(sim_factory: SimFactory, auth: SimAuth) -> Sim:
    sim: Sim = sim_factory(FaultPlan())
    sim.app.state.auth.__dict__.update({k: v for k, v in auth.__dict__.items() if k not in ("issued", "lock")})
    return sim


def deliver_all(gw: Gateway, n: int = 3) -> list[str]:
    _, ids = store_packets(gw, n)
    service = gw.delivery_service("auth-test")
    return [service.attempt(i).outcome for i in ids]


def lgsp(secret: str = LGSP_SECRET) -> dict[str, str]:
    return {
        "access_key": "sim-access-key",
        "secret_key": secret,
        "app_name": "bao-cao-tinh",
        "partner_code": "000.00.15.H15",
        "partner_code_cus": "000.00.00.G01",
    }


def test_oauth2_client_credentials_token_is_cached_and_renewed_once_on_401(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
) -> None:
    sim = sim_with(sim_factory, SimAuth(mode="oauth2", consumer_key="tinh-lao-cai", consumer_secret=SECRET))
    dest = national_destination(sim.receive_url).model_copy(
        update={
            "auth": OAuth2Settings(
                kind="oauth2", token_url=f"{sim.url}/token", consumer_key="tinh-lao-cai", consumer_secret=SECRET
            )
        }
    )
    gw = gateway_factory(database_url=database_url, destinations={"national": dest})
    assert deliver_all(gw) == ["acknowledged"] * 3
    assert sim.app.state.auth.token_requests == 1  # cached across deliveries
    sim.app.state.auth.revoke_all()  # the platform forgets our token: next request gets a 401
    assert deliver_all(gw, 1) == ["acknowledged"]
    assert sim.app.state.auth.token_requests == 2
    assert sim.stats["faults"]["401"] == 1


@pytest.mark.parametrize("ttl", [60.0, 30.0])
def test_a_short_lived_token_is_reused_rather_than_fetched_for_every_delivery(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str, ttl: float
) -> None:
    """The old fixed 60 s refresh margin equalled a 60 s token's whole life: one token request per delivery."""
    auth = SimAuth(mode="oauth2", consumer_key="tinh-lao-cai", consumer_secret=SECRET)
    auth.token_ttl = ttl
    sim = sim_with(sim_factory, auth)
    dest = national_destination(sim.receive_url).model_copy(
        update={
            "auth": OAuth2Settings(
                kind="oauth2", token_url=f"{sim.url}/token", consumer_key="tinh-lao-cai", consumer_secret=SECRET
            )
        }
    )
    gw = gateway_factory(database_url=database_url, destinations={"national": dest})
    assert deliver_all(gw, 4) == ["acknowledged"] * 4
    assert sim.app.state.auth.token_requests == 1


def test_refresh_margin_is_relative_to_the_token_lifetime() -> None:
    from gateway.connectors.auth import effective_margin

    assert effective_margin(3600, None) == 60  # long tokens: at most a minute early
    assert effective_margin(60, None) == 6  # 10% of a short token's life
    assert effective_margin(60, 60) == 30  # a configured margin never exceeds half the life
    assert effective_margin(900, 120) == 120


def test_lgsp_header_and_the_chained_convention(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    sim = sim_with(sim_factory, SimAuth(mode="lgsp", lgsp_secret_key=LGSP_SECRET))
    gw = gateway_factory(
        database_url=database_url,
        destinations={
            "national": national_destination(sim.receive_url).model_copy(
                update={"auth": LgspSettings(kind="lgsp", **lgsp())}
            )
        },
    )
    assert deliver_all(gw) == ["acknowledged"] * 3

    chained = sim_with(sim_factory, SimAuth(mode="lgsp_oauth2", lgsp_secret_key=LGSP_SECRET))
    gw2 = gateway_factory(
        database_url=database_url,
        destinations={
            "national": national_destination(chained.receive_url).model_copy(
                update={"auth": LgspOAuth2Settings(kind="lgsp_oauth2", token_url=f"{chained.url}/token", **lgsp())}
            )
        },
    )
    assert deliver_all(gw2) == ["acknowledged"] * 3
    assert chained.app.state.auth.token_requests == 1


def test_refused_credentials_pause_the_destination_and_never_leak(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = sim_with(sim_factory, SimAuth(mode="lgsp", lgsp_secret_key=LGSP_SECRET))
    bad = national_destination(sim.receive_url).model_copy(update={"auth": LgspSettings(kind="lgsp", **lgsp("wrong"))})
    gw = gateway_factory(database_url=database_url, destinations={"national": bad})
    assert deliver_all(gw, 2) == ["paused", "claimed-elsewhere"]  # the second is not even tried
    assert sim.stats["faults"]["401"] == 2  # one request, one re-authentication, then stop
    with gw.sessions() as s:
        state = s.get(DestinationState, "national")
        assert state is not None and state.paused and "401" in (state.reason or "")
        assert {d.state for d in s.scalars(select(Delivery))} == {"pending"}  # kept, not dead
        errors = " ".join(a.error or "" for a in s.scalars(select(DeliveryAttempt)))
    for secret in ("wrong", LGSP_SECRET):
        assert secret not in caplog.text and secret not in errors
    assert gw.delivery_service("x").attempt_next() is None  # paused destinations are not claimed

    good = national_destination(sim.receive_url).model_copy(update={"auth": LgspSettings(kind="lgsp", **lgsp())})
    fixed = gateway_factory(database_url=database_url, destinations={"national": good}, migrate=False)
    fixed.delivery_service("op").resume("national", actor="operator:test")
    service = fixed.delivery_service("after")
    outcomes = [service.attempt_next().outcome for _ in range(2)]  # type: ignore[union-attr]
    assert outcomes == ["acknowledged", "acknowledged"]


def test_403_pauses_at_once(gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str) -> None:
    sim = sim_factory(FaultPlan(script=("403",)))
    gw = gateway_factory(database_url=database_url, destinations={"national": national_destination(sim.receive_url)})
    assert deliver_all(gw, 1) == ["paused"]
    assert sim.stats["requests"] == 1  # no re-authentication for a 403


def test_rotated_bearer_token_file_is_picked_up(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str, tmp_path: Path
) -> None:
    sim = sim_with(sim_factory, SimAuth(mode="bearer", static_tokens=("token-2026-11",)))
    token_file = tmp_path / "national.token"
    token_file.write_text("token-2026-10\n")
    dest = national_destination(sim.receive_url).model_copy(
        update={"auth": BearerSettings(kind="bearer", token_file=token_file)}
    )
    gw = gateway_factory(database_url=database_url, destinations={"national": dest})
    assert deliver_all(gw, 1) == ["paused"]
    token_file.write_text("token-2026-11\n")  # the operator rotates the token...
    gw.delivery_service("op").resume("national", actor="operator:test")  # ...and resumes
    assert gw.delivery_service("w").attempt_next().outcome == "acknowledged"  # type: ignore[union-attr]
