"""Golden examples under contracts/qcvn125/examples: every valid one passes in JSON and XML, every
invalid one fails with exactly the expected error locations, and the files are what the generator makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.errors import PacketInvalid
from gateway.packets import model as m
from gateway.packets.validate import read_packet

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "qcvn125" / "examples"
EXPECTED: dict[str, list[str]] = json.loads((EXAMPLES / "invalid" / "expected-errors.json").read_text())


@pytest.mark.parametrize("ptype", list(m.PacketType), ids=lambda t: t.value)
def test_valid_examples_pass_in_both_encodings(ptype: m.PacketType) -> None:
    from_json = read_packet((EXAMPLES / "valid" / f"{ptype.value}.json").read_bytes())
    from_xml = read_packet((EXAMPLES / "valid" / f"{ptype.value}.xml").read_bytes())
    assert from_json.packet_type is ptype
    assert from_json == from_xml


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_examples_fail_where_expected(name: str) -> None:
    with pytest.raises(PacketInvalid) as caught:
        read_packet((EXAMPLES / "invalid" / name).read_bytes(), source=name)
    assert sorted(v.location for v in caught.value.violations) == sorted(EXPECTED[name])


def test_every_type_has_a_valid_example_and_invalid_ones_exist() -> None:
    assert {p.stem for p in (EXAMPLES / "valid").glob("*.json")} == {t.value for t in m.PacketType}
    assert len(EXPECTED) >= 10


def test_committed_examples_are_what_the_generator_makes(tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in EXAMPLES.rglob("*") if p.is_file() and p.suffix in (".json", ".xml")}
    subprocess.run([sys.executable, str(EXAMPLES / "make_examples.py")], check=True, capture_output=True)
    after = {p: p.read_bytes() for p in EXAMPLES.rglob("*") if p.is_file() and p.suffix in (".json", ".xml")}
    assert after == before
