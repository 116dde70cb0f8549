"""`gateway validate` and `gateway convert` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.unit.test_goldens import EXAMPLES

GATEWAY = str(Path(sys.executable).parent / "gateway")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env={**os.environ, "COLUMNS": "200"}
    )


def test_validate_exit_codes_and_every_error_listed(tmp_path: Path) -> None:
    valid = run("validate", str(EXAMPLES / "valid" / "SO_LIEU_BAO_CAO.xml"), str(EXAMPLES / "valid" / "BO_CHI_SO.json"))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    bad = EXAMPLES / "invalid" / "SO_LIEU_BAO_CAO--revision-zero-and-bad-type.json"
    invalid = run("validate", str(bad))
    assert invalid.returncode == 1
    assert "/NoiDung/LanGui" in invalid.stdout and "/NoiDung/MaBieuMau" in invalid.stdout
    missing = run("validate", str(tmp_path / "nope.json"), str(bad))
    assert missing.returncode == 2 and "cannot read" in missing.stdout
    big = tmp_path / "big.xml"
    with big.open("wb") as f:
        f.truncate(1024**3)  # a sparse 1 GB file: refused from its size, never read
    huge = run("validate", str(big))
    assert huge.returncode == 2 and "over the limit" in huge.stdout and "Traceback" not in huge.stderr


def test_validate_json_output_is_machine_readable() -> None:
    out = run(
        "validate",
        "--format",
        "json",
        str(EXAMPLES / "invalid" / "TRANG_THAI_BAO_CAO--unknown-status.json"),
        str(EXAMPLES / "valid" / "TRANG_THAI_BAO_CAO.xml"),
    )
    assert out.returncode == 1
    results = json.loads(out.stdout)
    assert [r["valid"] for r in results] == [False, True]
    assert results[0]["errors"][0]["location"] == "/NoiDung/TrangThai"
    assert results[1]["type"] == "TRANG_THAI_BAO_CAO"


def test_convert_round_trip(tmp_path: Path) -> None:
    src = EXAMPLES / "valid" / "GUI_DE_CUONG.json"
    assert run("convert", str(src), "--to", "xml", "-o", str(tmp_path / "p.xml")).returncode == 0
    assert (tmp_path / "p.xml").read_bytes().startswith(b"<?xml")
    back = run("convert", str(tmp_path / "p.xml"), "--to", "json")
    assert back.returncode == 0
    assert json.loads(back.stdout) == json.loads(src.read_bytes())


def test_convert_a_signed_packet_drops_the_signature_and_says_so_or_re_signs_it(tmp_path: Path) -> None:
    """Issue 17: `gateway convert` exited 1 on a signed packet."""
    pki = tmp_path / "pki"
    assert run("keys", "test-pki", str(pki)).returncode == 0
    secret = ("--passphrase-file", str(pki / "passphrase.txt"))
    src = EXAMPLES / "valid" / "SO_LIEU_BAO_CAO.json"
    signed = tmp_path / "signed.json"
    assert run("sign", str(src), "--key", str(pki / "signer.p12"), *secret, "-o", str(signed)).returncode == 0
    plain = run("convert", str(signed), "--to", "xml", "-o", str(tmp_path / "plain.xml"))
    assert plain.returncode == 0, plain.stderr
    assert "signed" in plain.stderr and "unsigned" in plain.stderr and "--key" in plain.stderr
    assert b"xmldsig" not in (tmp_path / "plain.xml").read_bytes()
    assert run("verify", str(tmp_path / "plain.xml"), "--trust", str(pki / "trust")).returncode == 1
    again = run(
        "convert",
        str(signed),
        "--to",
        "xml",
        "--key",
        str(pki / "signer.p12"),
        *secret,
        "-o",
        str(tmp_path / "again.xml"),
    )
    assert again.returncode == 0 and again.stderr == "", again.stderr
    # The example is dated 2026-10-20: older than verify's default age limit (30 days), so as an archive.
    verified = run("verify", str(tmp_path / "again.xml"), "--trust", str(pki / "trust"), "--max-age-days", "0")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    back = run("convert", str(tmp_path / "again.xml"), "--to", "json")
    assert back.returncode == 0 and "ChuKySo" not in back.stdout and "not carry over" in back.stderr
