"""Issue 18 items 5, 6 and 13: one hardened parser behind every XML and JSON entry point.

- DTDs and entities are refused after parsing, in every encoding and at any offset, and the answer
  never depends on whether a file the DTD names exists (no existence oracle);
- comments and processing instructions cannot split the text a signature covers;
- numbers longer than CPython's int conversion limit are a located refusal, never a 500 or exit 70.

Entry points probed: ``read_packet`` (intake, reconciliation of our packets), the intake over HTTP,
``gateway validate`` as a process, signature verification, and the reader of receivers' copies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from lxml import etree

from gateway.api.app import create_app
from gateway.errors import InputError, SignatureInvalid, UnsafeInputError
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet, write_packet
from gateway.reconciliation.report import _held
from gateway.signing import Inbound, xmldsig
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory
from tests.support.api import bearer, client_token
from tests.support.packets import report_packet
from tests.support.signing import key, verifier

PROFILE = load_profile()
GATEWAY = str(Path(sys.executable).parent / "gateway")
EXISTING, MISSING = "/etc/hostname", "/nonexistent/secret.txt"


def packet_xml() -> str:
    return write_packet(report_packet(values=2), "xml").decode("utf-8")


def with_prolog(xml: str, prolog: str) -> str:
    """Put ``prolog`` (a DOCTYPE, a comment ...) between the XML declaration and the root."""
    declaration, rest = xml.split("?>", 1)
    return f"{declaration}?>{prolog}{rest.lstrip()}"


def redeclared(xml: str, encoding: str) -> bytes:
    return xml.replace("encoding='UTF-8'", f"encoding='{encoding}'").encode(encoding.lower().replace("-bom", ""))


PADDING = "<!--" + "x" * 70_000 + "-->"


def hostile(path: str) -> dict[str, bytes]:
    """Each way the old guard was walked around, naming ``path`` (hand-written from XML 1.0 §2.8, §4.2)."""
    external_subset = f'<!DOCTYPE GoiTin SYSTEM "file://{path}">'
    parameter_entity = f'<!DOCTYPE GoiTin [<!ENTITY % p SYSTEM "file://{path}"> %p;]>'
    general_entity = f'<!DOCTYPE GoiTin [<!ENTITY e SYSTEM "file://{path}">]>'
    xml = packet_xml()
    referencing = with_prolog(xml, general_entity).replace("<MaBieuMau>BM01-KT", "<MaBieuMau>&e;BM01-KT")
    return {
        "doctype after a 70 KB comment": with_prolog(xml, PADDING + external_subset).encode(),
        "parameter entity after a 70 KB comment": with_prolog(xml, PADDING + parameter_entity).encode(),
        "utf-16le without BOM": redeclared(with_prolog(xml, parameter_entity), "UTF-16LE"),
        "utf-16le without BOM, external subset": redeclared(with_prolog(xml, external_subset), "UTF-16LE"),
        "utf-16 with BOM": redeclared(with_prolog(xml, parameter_entity), "UTF-16"),
        "utf-32": redeclared(with_prolog(xml, parameter_entity), "UTF-32"),
        "entity reference in utf-16le": redeclared(referencing, "UTF-16LE"),
        "internal subset only": with_prolog(xml, "<!DOCTYPE GoiTin []>").encode(),
    }


CASES = sorted(hostile(EXISTING))


def refusal(data: bytes) -> str:
    with pytest.raises(InputError) as caught:
        read_packet(data, source="probe", profile=PROFILE)
    return str(caught.value)


@pytest.mark.parametrize("case", CASES)
def test_dtds_are_refused_in_every_encoding_at_any_offset(case: str) -> None:
    with pytest.raises(InputError) as caught:  # the DTD refused, or a byte-order mark refused before parsing
        read_packet(hostile(EXISTING)[case], source="probe", profile=PROFILE)
    assert "DTD" in str(caught.value) or "byte-order mark" in str(caught.value)


@pytest.mark.parametrize("case", CASES)
def test_the_answer_does_not_reveal_whether_a_file_exists(case: str) -> None:
    exists, missing = refusal(hostile(EXISTING)[case]), refusal(hostile(MISSING)[case])
    assert exists.replace(EXISTING, "PATH") == missing.replace(MISSING, "PATH")
    assert EXISTING not in exists


def test_every_entry_point_uses_the_same_parser(tmp_path: Path, gateway_factory: GatewayFactory) -> None:
    data = hostile(EXISTING)["utf-16le without BOM"]
    with pytest.raises(UnsafeInputError):
        _held(data, PROFILE, "receiver copy")  # reconciliation
    with pytest.raises(UnsafeInputError):
        Inbound(PROFILE).read(data, source="intake")
    path = tmp_path / "hostile.xml"
    path.write_bytes(data)
    run = subprocess.run([GATEWAY, "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr  # unreadable, not 0 (valid) or 70 (crash)
    assert "DTD" in run.stdout and "Traceback" not in run.stderr
    gw = gateway_factory()
    app = create_app(gw)
    with BackgroundServer(app) as server:
        answer = httpx.post(
            f"{server.url}/v1/intake/status",
            content=data,
            headers={**bearer(client_token(gw, app, "receiver")), "content-type": "application/xml"},
            timeout=20,
        )
    assert answer.status_code == 400 and "DTD" in answer.json()["detail"], answer.text


@pytest.mark.parametrize("node", ["<!---->", "<?x y?>"])
def test_a_comment_cannot_make_a_ministry_signature_speak_for_the_province(test_pki: Path, node: str) -> None:
    """The report's probe: ``<MaDinhDanh><!---->H15</MaDinhDanh>`` signed with the ministry's key
    verified as valid and read as sender H15 (the C14N the signature covers drops the comment)."""
    xml = packet_xml().replace("<MaDinhDanh>H15</MaDinhDanh>", f"<MaDinhDanh>{node}H15</MaDinhDanh>", 1)
    root = etree.fromstring(xml.encode(), etree.XMLParser(remove_comments=False, remove_pis=False))
    signed = xmldsig.sign(root, key(test_pki, "ministry"))
    if node.encode() not in signed:  # the signer writes the C14N form, which has no comments: put it
        # back as an attacker would, where the signature (C14N without comments) still holds
        signed = signed.replace(b"<MaDinhDanh>H15<", f"<MaDinhDanh>{node}H15<".encode(), 1)
    assert node.encode() in signed
    with pytest.raises(UnsafeInputError) as caught:
        Inbound(PROFILE, verifier(test_pki)).read(signed, source="probe")
    assert "not allowed in packets" in str(caught.value) and "MaDinhDanh" in str(caught.value)


def test_a_comment_outside_the_root_is_refused_too() -> None:
    with pytest.raises(UnsafeInputError):
        read_packet(with_prolog(packet_xml(), "<!-- hi -->").encode(), source="probe", profile=PROFILE)


def test_a_sender_the_signer_does_not_own_is_refused_even_without_comments(test_pki: Path) -> None:
    root = etree.fromstring(packet_xml().encode())  # sender H15, signed by the ministry (B05)
    signed = xmldsig.sign(root, key(test_pki, "ministry"))
    with pytest.raises(SignatureInvalid) as caught:
        Inbound(PROFILE, verifier(test_pki)).read(signed, source="probe")
    assert caught.value.code == "signer_mismatch"


def huge_integer_json() -> bytes:
    doc = json.loads(write_packet(report_packet(values=1), "json"))
    text = json.dumps(doc).replace('"LanGui": 1', '"LanGui": ' + "9" * 5000)
    assert "9" * 5000 in text
    return text.encode()


def test_a_5000_digit_integer_is_a_located_refusal_everywhere(tmp_path: Path, gateway_factory: GatewayFactory) -> None:
    data = huge_integer_json()
    for read in (
        lambda: read_packet(data, source="probe", profile=PROFILE),
        lambda: _held(data, PROFILE, "receiver copy"),
    ):
        with pytest.raises(InputError) as caught:
            read()
        assert "line 1 column" in str(caught.value) and "limited to" in str(caught.value)
    path = tmp_path / "huge.json"
    path.write_bytes(data)
    run = subprocess.run([GATEWAY, "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "limited to" in run.stdout, run.stdout + run.stderr
    gw = gateway_factory()
    app = create_app(gw)
    with BackgroundServer(app) as server:
        auth = bearer(client_token(gw, app, "receiver"))
        answer = httpx.post(f"{server.url}/v1/intake/status", content=data, headers=auth, timeout=20)
    assert answer.status_code == 400 and "limited to" in answer.json()["detail"], answer.text


def test_a_5000_digit_integer_in_xml_is_a_located_violation() -> None:
    data = packet_xml().replace("<LanGui>1</LanGui>", "<LanGui>" + "9" * 5000 + "</LanGui>").encode()
    with pytest.raises(InputError) as caught:
        read_packet(data, source="probe", profile=PROFILE)
    assert "LanGui" in str(caught.value)
