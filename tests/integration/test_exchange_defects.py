"""Defects of issue 17 seen over real HTTP: the indicator catalogue, the dashboard's "map again" list
and quarantine replay read ``mappings/indicators/`` (they looked in ``mappings/`` and found nothing),
and a signed packet can be served in the other format (the signature is dropped and the answer says so)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.api.app import create_app
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.packets.validate import read_packet
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from gateway.sim.server import BackgroundServer
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination
from tests.support.api import PASSWORD, bearer, client_token, token, user
from tests.support.packets import store_packets

INDICATORS = Path(__file__).resolve().parents[2] / "mappings" / "indicators"


def mapped_national_codes() -> set[str]:
    """Read the shipped mapping files as plain YAML, independently of the gateway's loader."""
    codes: set[str] = set()
    for path in INDICATORS.glob("*.yaml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        codes.update(rule["national_code"] for rule in doc["indicators"].values())
    return codes


@pytest.fixture
def served(gateway_factory: GatewayFactory, test_pki: Path) -> Iterator[tuple[Any, str]]:
    gw = gateway_factory(
        destinations={"national": national_destination("http://127.0.0.1:9/none")},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    with BackgroundServer(create_app(gw)) as server:
        yield gw, server.url


def test_the_indicator_catalogue_lists_every_mapped_indicator(served: tuple[Any, str]) -> None:
    gw, url = served
    app_token = client_token(gw, gw_app(gw), "ministry", regimes=("*",), indicators=("*",))
    answer = httpx.get(f"{url}/v1/catalogues/DANH_MUC_CHI_TIEU", headers=bearer(app_token), timeout=20)
    assert answer.status_code == 200, answer.text
    listed = {item["MaChiTieu"] for item in answer.json()["NoiDung"].get("ChiTieu", [])}
    assert listed == mapped_national_codes() and len(listed) >= 30


def gw_app(gw: Any) -> Any:
    return create_app(gw)  # the token key is the gateway's: a token from one app is valid on another


def test_quarantine_replay_and_map_again_use_the_indicator_mappings(served: tuple[Any, str]) -> None:
    gw, url = served
    report = ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    assert report.quarantined > 0
    operator = token(gw_app(gw), "user", user(gw, "vanhanh", "operator"), "operator")
    answer = httpx.post(
        f"{url}/v1/ops/quarantine/replay",
        json={"mapping": "lao-cai-ktxh.yaml"},
        headers=bearer(operator),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["still_open"] == report.quarantined  # the shipped mapping still cannot map them
    with httpx.Client(base_url=url, timeout=20) as browser:
        login = browser.post("/ui/login", data={"username": "vanhanh", "password": PASSWORD, "next": "/ui/"})
        assert login.status_code == 303
        page = browser.get("/ui/dead").text
    for path in INDICATORS.glob("*.yaml"):
        assert f'value="{path.name}"' in page or f">{path.name}<" in page, path.name


@pytest.mark.parametrize(("stored", "wanted"), [("json", "application/xml"), ("xml", "application/json")])
def test_a_signed_packet_is_served_in_the_other_format_without_its_signature(
    served: tuple[Any, str], stored: str, wanted: str
) -> None:
    gw, url = served
    (packet_id,), _ = store_packets(gw, 1, fmt=stored)
    ministry = client_token(gw, gw_app(gw), "ministry", regimes=("*",), indicators=("*",))
    same = httpx.get(f"{url}/v1/packets/{packet_id}", headers=bearer(ministry), timeout=20)
    assert same.status_code == 200 and "x-signature" not in same.headers
    other = httpx.get(f"{url}/v1/packets/{packet_id}", headers={**bearer(ministry), "accept": wanted}, timeout=20)
    assert other.status_code == 200, other.text
    assert other.headers["content-type"].startswith(wanted)
    assert other.headers["x-signature"] == "not-carried"
    converted = read_packet(other.content, source="converted")
    assert converted.signature is None and str(converted.packet_id) == packet_id
    assert b"ChuKySo" not in other.content and b"xmldsig" not in other.content
