"""Legacy Vietnamese encodings to Unicode NFC: every letter with every tone, both ways; glibc iconv
as an independent cross-check; detection by font and by content with its confidence."""

from __future__ import annotations

import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from adapters.legacy_text import (
    LowConfidence,
    _charmap,
    decode_bytes,
    decode_surface,
    detect,
    encode_legacy,
    from_font,
    to_unicode,
)

VOWELS = "aăâeêioôơuưy"
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
LOWER = sorted({unicodedata.normalize("NFC", v + t) for v in VOWELS for t in TONES} | {"đ"})
UPPER = sorted(ch.upper() for ch in LOWER)
TONE_MARKS = set(TONES[1:])


def encode(text: str, encoding: str) -> str:
    """Unicode -> legacy surface characters, by inverting our decoding table."""
    return encode_legacy(text, encoding)  # type: ignore[arg-type]


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


def test_vni_writes_every_letter_and_follows_its_layout() -> None:
    """VNI has no independent reference here (iconv lacks it). Every letter must have a VNI form, and
    every two-character form must follow the VNI layout: base letter + a mark whose meaning depends on
    the vowel family (plain, circumflex, breve); i and ỵ are single characters (i í ì æ ó ò, ỵ î)."""
    pairs = {unicodedata.normalize("NFC", uni): legacy for legacy, uni in _charmap("vni").pairs}
    missing = sorted(ch for ch in LOWER + UPPER if not ch.isascii() and ch not in pairs)
    assert missing == []
    plain = {"\u0301": "ù", "\u0300": "ø", "\u0309": "û", "\u0303": "õ", "\u0323": "ï"}
    capped = {"\u0301": "á", "\u0300": "à", "\u0309": "å", "\u0303": "ã", "\u0323": "ä"}
    breve = {"\u0301": "é", "\u0300": "è", "\u0309": "ú", "\u0303": "ü", "\u0323": "ë"}
    for base, marks in (
        ("a", plain),
        ("e", plain),
        ("o", plain),
        ("u", plain),
        ("y", plain),
        ("â", capped),
        ("ê", capped),
        ("ô", capped),
        ("ă", breve),
    ):
        for tone, mark in marks.items():
            letter = unicodedata.normalize("NFC", base + tone)
            if letter == "ỵ":
                assert pairs["ỵ"] == "î" and pairs["Ỵ"] == "Î"
                continue
            assert pairs[letter] == unicodedata.normalize("NFD", base)[0] + mark, letter
            assert pairs[letter.upper()] == unicodedata.normalize("NFD", base)[0].upper() + mark.upper(), letter


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
