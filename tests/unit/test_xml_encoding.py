"""Packets are UTF-8 XML 1.0 (the profile): any other encoding, declared or not, and XML 1.1 are
refused with a message naming the file and what was found (XML 1.0 section 4.3.3 and appendix F).

The packets are written by hand here (the valid example's text, not our writer) and encoded with
Python's codecs and with glibc's ``iconv``, so the bytes do not come from the code under test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.errors import InputError
from gateway.packets.validate import read_packet

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "qcvn125" / "examples" / "valid"
GATEWAY = str(Path(sys.executable).parent / "gateway")

# The root element and what follows, without any XML declaration; ASCII only, so that a document
# declared ISO-8859-1 or windows-1258 is one its bytes can carry.
BODY = (
    '<GoiTin xmlns="urn:x-qcvn125:gw:0"><MaGoiTin>7d0e7a52-2f3c-4c1e-9a53-6f1a7e0d9b11</MaGoiTin>'
    "<LoaiGoiTin>DANH_MUC_NHOM_CHI_SO</LoaiGoiTin><PhienBanHoSo>qcvn125-gw/0</PhienBanHoSo>"
    "<ThoiGianTao>2026-10-20T09:00:00+07:00</ThoiGianTao>"
    "<DonViGui><MaDinhDanh>H15</MaDinhDanh><Ten>UBND tinh Lao Cai</Ten></DonViGui>"
    "<DonViNhan><MaDinhDanh>G01</MaDinhDanh><Ten>He thong bao cao Chinh phu</Ten></DonViNhan>"
    "<NoiDung><Nhom><MaNhom>KT</MaNhom><TenNhom>Kinh te</TenNhom><STT>1</STT></Nhom></NoiDung></GoiTin>"
)


def test_the_hand_written_packet_is_valid_in_utf8() -> None:
    assert read_packet(BODY.encode("ascii"), source="nhom.xml").body.groups[0].group_code == "KT"  # type: ignore[attr-defined]
    declared = "<?xml version='1.0' encoding='UTF-8'?>\n" + BODY
    assert read_packet(declared.encode("utf-8"), source="nhom.xml").sender.code == "H15"
    assert read_packet(b"\xef\xbb\xbf" + declared.encode("utf-8"), source="nhom.xml").sender.code == "H15"


@pytest.mark.parametrize(
    ("codec", "declaration", "name"),
    [
        ("utf-16-le", "", "UTF-16LE"),
        ("utf-16-le", "<?xml version='1.0' encoding='UTF-16LE'?>", "UTF-16LE"),
        ("utf-16-le", "<?xml version='1.0' encoding='UTF-16'?>", "UTF-16LE"),
        ("utf-32-le", "", "UTF-32LE"),
        ("utf-32-le", "<?xml version='1.0' encoding='UTF-32LE'?>", "UTF-32LE"),
        ("utf-16-be", "", "UTF-16BE"),
        ("utf-16-be", "<?xml version='1.0' encoding='UTF-16BE'?>", "UTF-16BE"),
        ("utf-32-be", "", "UTF-32BE"),
    ],
)
def test_utf16_and_utf32_without_a_byte_order_mark_are_refused_by_name(codec: str, declaration: str, name: str) -> None:
    """Appendix F: without a mark these are told apart by where the zero bytes fall. UTF-16LE and
    UTF-32LE were read as packets; UTF-16BE was "neither JSON nor XML"."""
    data = (declaration + BODY).encode(codec)
    with pytest.raises(InputError) as caught:
        read_packet(data, source="nhom.xml")
    message = str(caught.value)
    assert message.startswith("nhom.xml: ") and f"encoded in {name}" in message, message
    assert "no byte-order mark" in message and "must be UTF-8" in message
    assert "neither JSON nor XML" not in message


@pytest.mark.parametrize(("codec", "name"), [("utf-16", "UTF-16LE"), ("utf-32", "UTF-32LE")])
def test_a_byte_order_mark_is_named_with_the_file(codec: str, name: str) -> None:
    data = ("<?xml version='1.0' encoding='UTF-16'?>" + BODY).encode(codec)  # Python writes the mark
    with pytest.raises(InputError) as caught:
        read_packet(data, source="nhom.xml")
    assert str(caught.value).startswith(f"nhom.xml: XML is encoded in {name} (byte-order mark ")


def test_json_in_utf16_is_named_too() -> None:
    doc = (EXAMPLES / "DANH_MUC_NHOM_CHI_SO.json").read_text(encoding="utf-8")
    with pytest.raises(InputError, match=r"JSON is encoded in UTF-16LE \(no byte-order mark"):
        read_packet(doc.encode("utf-16-le"), source="nhom.json")
    with pytest.raises(InputError, match=r"JSON is encoded in UTF-16BE \(byte-order mark FE FF\)"):
        read_packet(doc.encode("utf-16-be").join([b"\xfe\xff", b""]), source="nhom.json")


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1258", "US-ASCII", "UTF-16"])
def test_a_declared_encoding_other_than_utf8_is_named(encoding: str) -> None:
    """The bytes are ASCII, which every one of these can carry: the declaration alone is refused."""
    data = f'<?xml version="1.0" encoding="{encoding}"?>{BODY}'.encode("ascii")
    with pytest.raises(InputError) as caught:
        read_packet(data, source="nhom.xml")
    message = str(caught.value)
    if encoding == "UTF-16":  # libxml2 cannot read ASCII as UTF-16: refused before the declaration is read
        assert message.startswith("nhom.xml: "), message
        return
    assert message.startswith(f'nhom.xml: the XML declaration names encoding="{encoding}"'), message
    assert "packets must be UTF-8" in message


@pytest.mark.parametrize(
    ("target", "declaration", "expected"),
    [
        ("UTF-16LE", "", "encoded in UTF-16LE"),
        ("UTF-16BE", "", "encoded in UTF-16BE"),
        ("UTF-32LE", "", "encoded in UTF-32LE"),
        ("UTF-32BE", "", "encoded in UTF-32BE"),
        ("ISO-8859-1", '<?xml version="1.0" encoding="ISO-8859-1"?>', 'encoding="ISO-8859-1"'),
        ("WINDOWS-1258", '<?xml version="1.0" encoding="windows-1258"?>', 'encoding="windows-1258"'),
    ],
)
def test_bytes_made_by_iconv_are_refused_by_name(tmp_path: Path, target: str, declaration: str, expected: str) -> None:
    """The same document with a non-ASCII letter, converted by glibc's iconv from UTF-8, through the
    CLI: a refusal (exit 2, unreadable), naming the file and the encoding, and no traceback."""
    # glibc's iconv is part of every Debian (libc-bin): missing, it is an error, never a skip.
    assert shutil.which("iconv"), "iconv not found: install Debian's libc-bin"
    text = declaration + BODY.replace("UBND tinh Lao Cai", "UBND tinh Lào Cai")  # Latin-1 can carry it
    source = tmp_path / "utf8.xml"
    source.write_text(text, encoding="utf-8")
    converted = subprocess.run(
        ["iconv", "-f", "UTF-8", "-t", target, str(source)], capture_output=True, check=True, timeout=30
    ).stdout
    path = tmp_path / f"nhom-{target}.xml"
    path.write_bytes(converted)
    with pytest.raises(InputError, match=expected):
        read_packet(converted, source=str(path))
    run = subprocess.run([GATEWAY, "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert expected in run.stdout and "UTF-8" in run.stdout and "Traceback" not in run.stderr


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_xml_other_than_1_0_is_refused(version: str) -> None:
    data = f'<?xml version="{version}" encoding="UTF-8"?>{BODY}'.encode()
    with pytest.raises(InputError) as caught:
        read_packet(data, source="nhom.xml")
    message = str(caught.value)
    assert message.startswith("nhom.xml: "), message
    if version == "1.1":
        assert 'version="1.1"' in message and "XML 1.0" in message
