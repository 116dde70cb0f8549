"""Legacy Vietnamese encodings to Unicode NFC: every letter with every tone, both ways; glibc iconv
as an independent cross-check; detection by font and by content with its confidence."""

from __future__ import annotations

import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from viparse.normalize.encodings import CHARMAPS

from adapters.legacy_text import LowConfidence, decode_bytes, decode_surface, detect, from_font, to_unicode

VOWELS = "aăâeêioôơuưy"
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
LOWER = sorted({unicodedata.normalize("NFC", v + t) for v in VOWELS for t in TONES} | {"đ"})
UPPER = sorted(ch.upper() for ch in LOWER)
TONE_MARKS = set(TONES[1:])


def encode(text: str, encoding: str) -> str:
    """Unicode -> legacy surface characters, by inverting the decoding table (longest form kept)."""
    inverse: dict[str, str] = {}
    for legacy, uni in CHARMAPS[encoding].pairs:
        uni = unicodedata.normalize("NFC", uni)
        if uni not in inverse or len(legacy) < len(inverse[uni]):
            inverse[uni] = legacy
    return "".join(inverse.get(ch, ch) for ch in text)


def cp1258(text: str) -> bytes:
    """Windows-1258 keeps â ê ô ơ ư ă đ precomposed and writes the tone as a combining mark."""
    out = b""
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        tone = "".join(c for c in parts if c in TONE_MARKS)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONE_MARKS))
        out += base.encode("cp1258") + tone.encode("cp1258")
    return out


def test_there_are_134_toned_letters_plus_d() -> None:
    assert len(LOWER) == 12 * 6 + 1 and len(UPPER) == 73


@pytest.mark.parametrize(
    ("encoding", "letters"),
    [
        ("vni", LOWER + UPPER),
        ("viscii", LOWER + UPPER),
        ("tcvn3", LOWER + ["Ă", "Â", "Đ", "Ê", "Ô", "Ơ", "Ư"]),  # TCVN3 has no toned capitals (the font draws them)
    ],
)
def test_every_letter_round_trips(encoding: str, letters: list[str]) -> None:
    """Unicode -> legacy -> Unicode is the identity (letters a table leaves at their Latin-1 code point,
    such as TCVN3 and VISCII ``à``, pass through unchanged both ways, as the encodings define)."""
    for letter in letters:
        legacy = encode(letter, encoding)
        assert decode_surface(legacy, encoding) == letter, (encoding, letter, legacy)  # type: ignore[arg-type]


def test_vni_table_coverage_is_known() -> None:
    """VNI has no independent reference here (iconv lacks it); the table covers what real documents
    showed. This pins its coverage so a regression, or a completed table, is noticed."""
    covered = {unicodedata.normalize("NFC", uni) for _, uni in CHARMAPS["vni"].pairs}
    missing = sorted(ch for ch in LOWER + UPPER if not ch.isascii() and ch not in covered)
    assert len(missing) <= 20, missing


def test_windows_1258_round_trips_with_combining_tones() -> None:
    for letter in LOWER + UPPER:
        assert decode_bytes(cp1258(letter), "cp1258") == letter


def test_tcvn3_capitals_come_from_the_font_name() -> None:
    heading = encode("cộng hòa xã hội chủ nghĩa việt nam", "tcvn3")
    text, detection = to_unicode(heading, font=".VnTimeH")
    assert text == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and detection.method == "font"
    assert from_font(".VnTime") is not None and not from_font(".VnTime").uppercase  # type: ignore[union-attr]
    assert from_font("VNI-Times").encoding == "vni"  # type: ignore[union-attr]
    assert from_font("Times New Roman") is None


@pytest.mark.parametrize(
    ("iconv_name", "encoding", "letters"), [("TCVN5712-1", "tcvn3", LOWER), ("VISCII", "viscii", LOWER + UPPER)]
)
def test_glibc_iconv_agrees_on_the_full_tables(iconv_name: str, encoding: str, letters: list[str]) -> None:
    assert shutil.which("iconv"), "glibc iconv is the independent cross-check"
    text = "".join(letters)
    legacy = subprocess.run(
        ["iconv", "-f", "UTF-8", "-t", iconv_name], input=text.encode(), capture_output=True, check=True
    ).stdout
    assert decode_bytes(legacy, encoding) == text  # type: ignore[arg-type]


PARAGRAPHS = {
    "unicode": "Ủy ban nhân dân tỉnh báo cáo tình hình kinh tế - xã hội tháng 10 năm 2026: tổng mức bán lẻ tăng.",
    "tcvn3": encode("ủy ban nhân dân tỉnh báo cáo tình hình kinh tế - xã hội tháng 10 năm 2026 trên địa bàn", "tcvn3"),
    "vni": encode("Ủy ban nhân dân tỉnh báo cáo tình hình kinh tế - xã hội tháng 10 năm 2026 trên địa bàn", "vni"),
}


@pytest.mark.parametrize("expected", sorted(PARAGRAPHS))
def test_auto_detection_on_sample_paragraphs(expected: str) -> None:
    found = detect(PARAGRAPHS[expected])
    assert found.encoding == expected and found.confidence >= 0.6
    text, _ = to_unicode(PARAGRAPHS[expected])
    assert "tình hình kinh tế - xã hội" in text.lower()


def test_low_confidence_is_refused_not_guessed() -> None:
    with pytest.raises(LowConfidence):
        to_unicode("qx zv ¹ qq", min_confidence=0.99)


def test_unicode_command(tmp_path: Path) -> None:
    gateway = str(Path(sys.executable).parent / "gateway")
    legacy = tmp_path / "old.txt"
    legacy.write_bytes(PARAGRAPHS["vni"].encode("latin-1"))
    auto = subprocess.run([gateway, "unicode", str(legacy)], capture_output=True, timeout=30)
    assert auto.returncode == 0
    assert auto.stdout.decode() == unicodedata.normalize("NFC", auto.stdout.decode())
    assert "tình hình kinh tế" in auto.stdout.decode() and b"detected vni" in auto.stderr
    explicit = subprocess.run(
        [gateway, "unicode", "--from", "cp1258", "-"], input=cp1258("Việt Nam"), capture_output=True, timeout=30
    )
    assert explicit.stdout.decode() == "Việt Nam"
