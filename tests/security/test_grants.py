"""Issue 18 item 3: a ministry sees only what it is granted, on every pull route. A ministry granted
one indicator got all 18 indicators of a packet through ``GET /v1/packets/{id}``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lxml import etree

from gateway import outbox
from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory
from tests.security.support import signed_gateway
from tests.support.api import bearer, client_token
from tests.support.packets import report_packet

FIGURES = 18
CODES = [f"05{i:02d}" for i in range(FIGURES)]  # as report_packet names them


@dataclass
class Pull:
    gw: Gateway
    url: str
    packet_id: str
    stored: bytes
    tokens: dict[str, str]

    def get(self, path: str, who: str, accept: str = "application/json") -> httpx.Response:
        headers = {**bearer(self.tokens[who]), "accept": accept}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=20)


@pytest.fixture
def pull(gateway_factory: GatewayFactory, database_url: str, test_pki: Path) -> Iterator[Pull]:
    gw = signed_gateway(gateway_factory, database_url, test_pki)
    envelope = report_packet(values=FIGURES)
    payload = gw.sealer.seal(envelope, "json", ["national"])
    with gw.sessions.begin() as session:
        packet, _ = outbox.store(session, envelope, payload, "json", ["national"], now=gw.clock.now())
        packet_id = packet.id
    app = create_app(gw)
    grants = {
        "one": {"regimes": ("KTXH-THANG",), "indicators": ("0501",)},
        "three": {"regimes": ("KTXH-THANG",), "indicators": ("0501", "0507", "0517")},
        "all": {"regimes": ("KTXH-THANG",), "indicators": ("*",)},
        "none-of-these": {"regimes": ("KTXH-THANG",), "indicators": ("9999",)},
    }
    tokens = {name: client_token(gw, app, "ministry", **g) for name, g in grants.items()}
    with BackgroundServer(app) as server:
        yield Pull(gw, server.url, packet_id, payload, tokens)


def codes_in_json(body: bytes) -> list[str]:
    return [f["MaChiTieu"] for f in json.loads(body)["NoiDung"]["SoLieu"]]


def test_a_ministry_granted_one_indicator_gets_one_figure_unsigned_and_told_so(pull: Pull) -> None:
    answer = pull.get(f"/v1/packets/{pull.packet_id}", "one")
    assert answer.status_code == 200, answer.text
    assert codes_in_json(answer.content) == ["0501"]
    assert "ChuKySo" not in answer.json()  # a filtered view carries no signature that would not verify
    assert answer.headers["X-Signature"] == "not-carried"
    assert answer.headers["X-Grant-Filtered"].startswith(f"{FIGURES - 1} figure(s)")


def test_the_filtered_view_holds_in_xml_too(pull: Pull) -> None:
    answer = pull.get(f"/v1/packets/{pull.packet_id}", "three", accept="application/xml")
    assert answer.status_code == 200, answer.text
    root = etree.fromstring(answer.content)
    codes = [el.text for el in root.iter("{*}MaChiTieu")]
    assert codes == ["0501", "0507", "0517"]
    assert not list(root.iter("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    assert "X-Grant-Filtered" in answer.headers


def test_a_ministry_granted_everything_gets_the_signed_packet_as_stored(pull: Pull) -> None:
    answer = pull.get(f"/v1/packets/{pull.packet_id}", "all")
    assert answer.status_code == 200 and answer.content == pull.stored
    assert codes_in_json(answer.content) == CODES and "ChuKySo" in answer.json()


def test_a_ministry_granted_none_of_the_indicators_is_refused(pull: Pull) -> None:
    assert pull.get(f"/v1/packets/{pull.packet_id}", "none-of-these").status_code == 403


@pytest.mark.parametrize("who", ["one", "three", "all", "none-of-these"])
def test_the_series_and_the_packet_agree_on_every_indicator(pull: Pull, who: str) -> None:
    """For each indicator of the packet, the series route and the packet route agree on access."""
    packet = pull.get(f"/v1/packets/{pull.packet_id}", who)
    visible = set(codes_in_json(packet.content)) if packet.status_code == 200 else set()
    for code in CODES:
        series = pull.get(f"/v1/indicators/{code}/series", who)
        assert series.status_code in (200, 403), series.text
        assert (series.status_code == 200) == (code in visible), (who, code)
