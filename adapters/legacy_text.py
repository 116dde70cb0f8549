"""Legacy Vietnamese text (TCVN3/ABC, VNI, VISCII, Windows-1258) to Unicode NFC (TCVN 6909:2001).

Our interface over the maintained tables of ``viparse`` (derived from real government documents; see
its provenance notes), with Python's own ``cp1258`` codec for Windows-1258 (which decodes to
combining marks, hence NFC afterwards). Detection goes by font name first (``.Vn*`` TCVN3, ``.Vn*H``
TCVN3 drawn as capitals, ``VNI-*`` VNI), by content only as a fallback, and always reports its
confidence: a caller quarantines instead of guessing when it is low (``LowConfidence``).

Surface form: inside XLSX/DOCX or text read as Latin-1/CP1252, a legacy byte shows up as the Latin-1
character with the same code (TCVN3 ``0xB5`` → ``µ``), so bytes are decoded as Latin-1 first.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Literal

from viparse.normalize.detector import detect_encoding_by_content
from viparse.normalize.encodings import CHARMAPS
from viparse.normalize.tables import Charmap, convert

Encoding = Literal["tcvn3", "vni", "viscii", "cp1258", "unicode"]
ENCODINGS: tuple[Encoding, ...] = ("tcvn3", "vni", "viscii", "cp1258")
AUTO_CANDIDATES = ("tcvn3", "vni")  # VISCII and Windows-1258 only by name: their surfaces overlap others'


class LowConfidence(ValueError):
    """The encoding could not be told with enough confidence; quarantine, do not guess."""


@dataclass(frozen=True)
class Detection:
    encoding: Encoding
    confidence: float
    method: Literal["font", "content", "utf-8", "explicit"]
    uppercase: bool = False


def from_font(font: str | None) -> Detection | None:
    """TCVN3 fonts are named ``.Vn…`` (``.VnTimeH``: capitals); VNI fonts ``VNI-…``."""
    if not font:
        return None
    name = font.strip()
    if name.startswith(".Vn"):
        return Detection("tcvn3", 1.0, "font", uppercase=name.endswith("H"))
    if name.upper().startswith("VNI-") or name.upper().startswith("VNI "):
        return Detection("vni", 1.0, "font")
    return None


# The VNI table was derived from observed documents and lacks the two letters no document showed:
# ẳ/Ẳ. VNI writes the breve family as base + breve-tone marks (ắ aé, ằ aè, ẵ aü, ặ aë: all observed),
# whose hook form is ú/Ú; a test checks every other letter against the same layout.
SUPPLEMENTS: dict[str, tuple[tuple[str, str], ...]] = {"vni": (("aú", "ẳ"), ("AÚ", "Ẳ"))}


@cache
def _charmap(encoding: str) -> Charmap:
    base = CHARMAPS[encoding]
    extra = SUPPLEMENTS.get(encoding, ())
    return Charmap(base.name, base.pairs + extra) if extra else base


def decode_surface(text: str, encoding: Encoding, *, uppercase: bool = False) -> str:
    """Legacy surface characters (as read via Latin-1/CP1252) → Unicode NFC."""
    if encoding == "unicode":
        out = text
    elif encoding == "cp1258":
        out = text.encode("latin-1", errors="strict").decode("cp1258", errors="strict")
    else:
        out = convert(text, _charmap(encoding))
    out = unicodedata.normalize("NFC", out)
    return out.upper() if uppercase else out


def decode_bytes(data: bytes, encoding: Encoding) -> str:
    if encoding == "unicode":
        return unicodedata.normalize("NFC", data.decode("utf-8"))
    if encoding == "cp1258":
        return unicodedata.normalize("NFC", data.decode("cp1258"))
    return decode_surface(data.decode("latin-1"), encoding)


def detect(text: str) -> Detection:
    """By content: which legacy encoding makes this text most Vietnamese, and how sure that is."""
    if _looks_unicode_vietnamese(text):
        return Detection("unicode", 1.0, "content")
    found = detect_encoding_by_content(text, {name: _charmap(name) for name in AUTO_CANDIDATES})
    if found.encoding is None:
        return Detection("unicode", 0.0, "content")
    return Detection(found.encoding, float(found.confidence), "content")


_UNICODE_ONLY = frozenset("ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


_VIETNAMESE_LATIN1 = frozenset("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")


def has_legacy_surface(text: str) -> bool:
    """Latin-1 characters Vietnamese Unicode text does not use: a legacy surface we could not place."""
    return any(0xA1 <= ord(ch) <= 0xFF and ch not in _VIETNAMESE_LATIN1 for ch in text)


def _looks_unicode_vietnamese(text: str) -> bool:
    lowered = unicodedata.normalize("NFC", text).lower()
    return any(ch in _UNICODE_ONLY for ch in lowered)


def detect_bytes(data: bytes) -> tuple[str, Detection]:
    """Raw bytes of unknown encoding: UTF-8 when they decode as such, else the legacy encoding whose
    decoding reads most like Vietnamese. Returns the surface text and the detection."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        surface = data.decode("latin-1")
        found = detect(surface)
        if found.encoding != "unicode" and found.confidence >= 0.5:
            return surface, found
        as_1258 = unicodedata.normalize("NFC", data.decode("cp1258", errors="replace"))
        if _looks_unicode_vietnamese(as_1258) and "\ufffd" not in as_1258:
            return surface, Detection("cp1258", 0.8, "content")
        return surface, found
    detection = detect(text)
    return text, (Detection("unicode", 1.0, "utf-8") if detection.encoding == "unicode" else detection)


def to_unicode(
    text: str, *, encoding: Encoding | None = None, font: str | None = None, min_confidence: float = 0.6
) -> tuple[str, Detection]:
    """Text in whatever it is → Unicode NFC, with how that was decided. Raises ``LowConfidence``."""
    if encoding is not None:
        detection = Detection(encoding, 1.0, "explicit")
    else:
        detection = from_font(font) or detect(text)
    unsure_unicode = detection.encoding == "unicode" and detection.confidence == 0.0 and has_legacy_surface(text)
    if unsure_unicode or (detection.confidence < min_confidence and detection.encoding != "unicode"):
        raise LowConfidence(
            f"cannot tell the encoding (best guess {detection.encoding} at "
            f"{detection.confidence:.2f} < {min_confidence}); set it explicitly"
        )
    return decode_surface(text, detection.encoding, uppercase=detection.uppercase), detection


@cache
def _inverse(encoding: str) -> dict[str, str]:
    inverse: dict[str, str] = {}
    for legacy, uni in _charmap(encoding).pairs:
        uni = unicodedata.normalize("NFC", uni)
        if uni not in inverse or len(legacy) < len(inverse[uni]):
            inverse[uni] = legacy
    return inverse


def encode_legacy(text: str, encoding: Literal["tcvn3", "vni", "viscii"]) -> str:
    """Unicode → legacy surface characters (for test data and sample files; TCVN3 has no toned
    capitals, so those are written lowercase, as the ``.VnTimeH`` fonts expect)."""
    inverse = _inverse(encoding)
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in inverse:
            out.append(inverse[ch])
        elif encoding == "tcvn3" and ch.lower() in inverse:
            out.append(inverse[ch.lower()])
        else:
            out.append(ch)
    return "".join(out)
