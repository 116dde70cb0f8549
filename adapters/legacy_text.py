"""Legacy Vietnamese text (TCVN3/ABC, VNI, VISCII, Windows-1258) to Unicode NFC (TCVN 6909:2001).

Tables: the maintained ones of ``viparse`` (derived from real government documents; see its
provenance notes), completed below where they lack letters, and Python's own ``cp1258`` codec for
Windows-1258 (which decodes to combining marks, hence NFC afterwards).

Detection goes by font name first (``.Vn*`` TCVN3, ``.Vn*H`` TCVN3 drawn as capitals, ``VNI-*``
VNI) and by content only as a fallback. By content, every candidate reading (UTF-8, Windows-1258,
TCVN3, VNI, VISCII) is scored by how many of the words it changes become Vietnamese syllables
(``adapters/vietnamese_syllables.py``); the confidence is the lead of the best reading over the
best *different* reading, as a share of those words (never above 1/``EVIDENCE_FLOOR`` of the
lead in words, so one or two words never make a sure answer). Below ``MIN_CONFIDENCE`` a caller
gets ``LowConfidence`` and asks for the encoding instead of guessing. The threshold is calibrated
on a corpus that another implementation encodes (glibc ``iconv``, an independent VNI encoder):
``tests/support/legacy_corpus.py``; the measured precision is in ``docs/legacy-text.md``.

Surface form: inside XLSX/DOCX or text read as Latin-1/CP1252, a legacy byte shows up as the Latin-1
character with the same code (TCVN3 ``0xB5`` → ``µ``), or as its CP1252 character for ``0x80-0x9F``
(``€`` for ``0x80``), so text is mapped back to bytes that way first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Literal

from adapters.reasons import REASON_TEXT_LIMIT, excerpt
from adapters.vietnamese_syllables import is_syllable

if TYPE_CHECKING:  # viparse reads its TOML tables at import: imported when a legacy text is decoded (issue 19)
    from viparse.normalize.tables import Charmap

Encoding = Literal["tcvn3", "vni", "viscii", "cp1258", "unicode"]
ENCODINGS: tuple[Encoding, ...] = ("tcvn3", "vni", "viscii", "cp1258")
Method = Literal["font", "content", "utf-8", "explicit"]

MIN_CONFIDENCE = 0.5
"""Below this a content detection is refused: it takes two words that only the chosen reading makes
Vietnamese (with none the other way), or a lead of half the telling words. On the calibration corpus
no answer with any confidence above 0 is wrong; this keeps a margin beyond it (docs/legacy-text.md)."""
EVIDENCE_FLOOR = 3
"""The lead is divided by at least this many words: a text with one or two telling words is never
decided by them alone unless no other reading is Vietnamese at all."""
MAX_SCORED_WORDS = 5000
"""Words scored per text: enough for any verdict, bounded for large files."""


class LowConfidence(ValueError):
    """The encoding could not be told with enough confidence; quarantine or ask, do not guess."""


@dataclass(frozen=True)
class Detection:
    """How a text's encoding was decided. ``words`` counts the words the candidate readings disagree
    on, ``valid`` those the chosen reading makes Vietnamese; ``runner_up`` is the best reading with a
    different result (``None`` when every reading agrees); ``text`` and ``runner_up_text`` are their
    decodings of the whole text."""

    encoding: Encoding
    confidence: float
    method: Method
    uppercase: bool = False
    words: int = 0
    valid: int = 0
    runner_up: Encoding | None = None
    runner_up_valid: int = 0
    text: str = ""
    runner_up_text: str = ""
    differing: tuple[tuple[str, str], ...] = ()
    """The first words the chosen reading and the runner-up read differently, as each reads them."""

    @property
    def sure(self) -> bool:
        return self.confidence >= MIN_CONFIDENCE

    def describe(self) -> str:
        """One line for stderr and logs (decoded text only, never legacy surface characters)."""
        head = f"{self.encoding} (confidence {self.confidence:.2f}, by {self.method}"
        if self.method == "content" and self.words:
            head += f"; {self.valid}/{self.words} words Vietnamese"
            if self.runner_up is not None:
                head += f", {self.runner_up} {self.runner_up_valid}/{self.words}"
        return head + ")"


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
# whose hook form is ú/Ú; a test checks every other letter against the same layout. It also writes
# ỵ/Ỵ as y + the plain dot mark, where VNI keyboards and fonts use one character, î/Î (the y row of
# the layout: y yù yø yû yõ î); both are read.
# The TCVN3 table is the ABC (VN3) subset, lowercase toned letters only. TCVN 5712:1993 table VN1
# adds the toned capitals in positions VN3 leaves free (0x01-0x17 less tab/newline, 0x80-0x9F and a
# few in 0xA0-0xFF); files written by converters (glibc iconv's TCVN5712-1 among them) use them.
_VN1_CAPITALS = (
    "\x01Ú \x02Ụ \x04Ừ \x05Ử \x06Ữ \x11Ứ \x12Ự \x13Ỳ \x14Ỷ \x15Ỹ \x16Ý \x17Ỵ "
    "\x80À \x81Ả \x82Ã \x83Á \x84Ạ \x85Ặ \x86Ậ \x87È \x88Ẻ \x89Ẽ \x8aÉ \x8bẸ \x8cỆ \x8dÌ \x8eỈ \x8fĨ "
    "\x90Í \x91Ị \x92Ò \x93Ỏ \x94Õ \x95Ó \x96Ọ \x97Ộ \x98Ờ \x99Ở \x9aỠ \x9bỚ \x9cỢ \x9dÙ \x9eỦ \x9fŨ "
    "ÄẤ ÁẦ ÂẨ ÃẪ ÀẮ ¯Ằ ºẲ ¿Ẵ ÚẾ ÅỀ ÍỂ ÙỄ ÿỐ ÛỒ àỔ ðỖ"
)
SUPPLEMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "vni": (("aú", "ẳ"), ("AÚ", "Ẳ"), ("î", "ỵ"), ("Î", "Ỵ")),
    "tcvn3": tuple((pair[0], pair[1]) for pair in _VN1_CAPITALS.split(" ")),
}


@cache
def _charmap(encoding: str) -> Charmap:
    from viparse.normalize.encodings import CHARMAPS
    from viparse.normalize.tables import build_charmap

    base = CHARMAPS[encoding]
    extra = SUPPLEMENTS.get(encoding, ())
    return build_charmap(base.name, base.pairs + extra) if extra else base


def _convert(text: str, charmap: Charmap) -> str:
    from viparse.normalize.tables import convert

    converted: str = convert(text, charmap)
    return converted


def decode_surface(text: str, encoding: Encoding, *, uppercase: bool = False) -> str:
    """Legacy surface characters (as read via Latin-1/CP1252) → Unicode NFC. Text holding a character
    no legacy byte shows as (ệ, ồ, ơ ...) is Unicode already and is kept: a cell typed in Unicode that
    keeps a ``.VnTime`` font was read as "Diện tớch gieo trồng lỳa" (found by an outside test)."""
    if encoding == "unicode" or surface_bytes(text) is None:
        out = text
    elif encoding == "cp1258":
        data = surface_bytes(text)
        if data is None:
            raise UnicodeEncodeError("cp1258", text, 0, len(text), "not a legacy surface")
        out = data.decode("cp1258", errors="strict")
    else:
        out = _convert(_canonical_surface(text), _charmap(encoding))
    out = unicodedata.normalize("NFC", out)
    return out.upper() if uppercase else out


def decode_bytes(data: bytes, encoding: Encoding) -> str:
    if encoding == "unicode":
        return unicodedata.normalize("NFC", data.decode("utf-8"))
    if encoding == "cp1258":
        return unicodedata.normalize("NFC", data.decode("cp1258"))
    return decode_surface(data.decode("latin-1"), encoding)


# ------------------------------------------------------------------ surfaces
_CP1252_BYTE = {bytes([b]).decode("cp1252"): b for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}


def surface_bytes(text: str) -> bytes | None:
    """The bytes a legacy surface string stands for (Latin-1, or CP1252 for ``0x80-0x9F``); ``None``
    when ``text`` holds a character no single byte shows as, so it cannot be a legacy surface."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        pass
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if code <= 0xFF:
            out.append(code)
        elif ch in _CP1252_BYTE:
            out.append(_CP1252_BYTE[ch])
        else:
            return None
    return bytes(out)


def _canonical_surface(text: str) -> str:
    data = surface_bytes(text)
    return text if data is None else data.decode("latin-1")


_VIETNAMESE_LATIN1 = frozenset("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")


def has_legacy_surface(text: str) -> bool:
    """Latin-1 characters Vietnamese Unicode text does not use: a legacy surface we could not place."""
    return any(0xA1 <= ord(ch) <= 0xFF and ch not in _VIETNAMESE_LATIN1 for ch in text)


# ------------------------------------------------------------------ content detection
# Words are split at ASCII spaces, punctuation and digits, which every candidate encoding keeps as
# they are; a word the readings can disagree on holds a byte above 0x7F or a control code (VISCII
# and TCVN3-VN1 put capitals there). The same split applies to bytes and to UTF-8 text, because a
# UTF-8 sequence never contains an ASCII byte.
_SEPARATORS = re.compile(rb"[\x00\t\n\x0b\x0c\r\x20-\x40\x5b-\x60\x7b-\x7f]+")
_TELLING = re.compile(rb"[\x01-\x08\x0e-\x1f\x80-\xff]")

_PREFERENCE: tuple[Encoding, ...] = ("unicode", "cp1258", "tcvn3", "vni", "viscii")
"""Among readings that give the same text, the name reported (the most common encoding first)."""


@lru_cache(maxsize=1 << 16)
def _read(encoding: Encoding, word: bytes, via_utf8: bool) -> tuple[str, bool]:
    """One word's reading under ``encoding`` and whether it is a Vietnamese syllable. ``via_utf8``:
    ``word`` is UTF-8 of a surface string (bytes input) rather than the surface's own bytes."""
    if encoding == "unicode":
        text = word.decode("utf-8", errors="replace") if via_utf8 else word.decode("latin-1")
    elif encoding == "cp1258":
        text = word.decode("cp1258", errors="replace")
    else:
        text = _convert(word.decode("latin-1"), _charmap(encoding))
    text = unicodedata.normalize("NFC", text)
    return text, is_syllable(text)


def _telling_words(data: bytes) -> list[bytes]:
    words = [w for w in _SEPARATORS.split(data) if w and _TELLING.search(w)]
    return words[:MAX_SCORED_WORDS]


@dataclass(frozen=True)
class _Scored:
    encoding: Encoding
    valid: int
    result: tuple[str, ...]
    flags: tuple[bool, ...]


def _score(words: Sequence[bytes], encodings: Sequence[Encoding], *, utf8: bool) -> list[_Scored]:
    scored = []
    for encoding in encodings:
        readings = [_read(encoding, word, utf8 and encoding == "unicode") for word in words]
        valid = sum(ok for _, ok in readings)
        result = tuple(text for text, _ in readings)
        scored.append(_Scored(encoding, valid, result, tuple(ok for _, ok in readings)))
    return sorted(scored, key=lambda s: (-s.valid, _PREFERENCE.index(s.encoding)))


def _lead(best: _Scored, rival: _Scored) -> float:
    """The evidence between two readings: of the words they read differently, those only the best
    makes Vietnamese, less those only the rival does, as a share of every such word that tells them
    apart or that neither makes Vietnamese (a word both read as Vietnamese tells nothing)."""
    only_best = only_rival = neither = 0
    for a, b, ok_a, ok_b in zip(best.result, rival.result, best.flags, rival.flags, strict=True):
        if a == b:
            continue
        only_best += ok_a and not ok_b
        only_rival += ok_b and not ok_a
        neither += not ok_a and not ok_b
    return (only_best - only_rival) / max(only_best + only_rival + neither, EVIDENCE_FLOOR)


def _verdict(
    words: Sequence[bytes], encodings: Sequence[Encoding], decode: Callable[[Encoding], str], *, utf8: bool
) -> Detection:
    """The best reading, and how far ahead of the best reading with a different result it is."""
    if not words:
        return Detection("unicode", 1.0, "utf-8" if utf8 else "content", text=decode("unicode"))
    scored = _score(words, encodings, utf8=utf8)
    best = scored[0]
    rival = next((s for s in scored[1:] if s.result != best.result), None)
    rival_valid = rival.valid if rival is not None else 0
    if rival is None:
        confidence = 1.0
    else:
        confidence = _lead(best, rival)
    method: Method = "content"
    if utf8 and best.encoding == "unicode":
        # Legacy bytes that also decode as UTF-8 are rare, and then their UTF-8 reading is not
        # Vietnamese: valid UTF-8 that reads at least as well as any legacy reading is UTF-8.
        confidence, method = 1.0, "utf-8"
    return Detection(
        best.encoding,
        round(confidence, 4),
        method,
        words=len(words),
        valid=best.valid,
        runner_up=rival.encoding if rival is not None else None,
        runner_up_valid=rival_valid,
        text=decode(best.encoding),
        runner_up_text=decode(rival.encoding) if rival is not None else "",
        differing=_differing(best, rival),
    )


def _differing(best: _Scored, rival: _Scored | None, shown: int = 6) -> tuple[tuple[str, str], ...]:
    if rival is None:
        return ()
    seen: dict[tuple[str, str], None] = {}
    for pair in zip(best.result, rival.result, strict=True):
        if pair[0] != pair[1]:
            seen.setdefault(pair)
            if len(seen) == shown:
                break
    return tuple(seen)


def detect(text: str) -> Detection:
    """By content: which reading of ``text`` (as it is, or as a legacy surface) is most Vietnamese,
    and how sure that is. ``Detection.text`` holds the decoded text."""
    data = surface_bytes(text)
    if data is None:  # holds letters no legacy surface can: Unicode already
        return Detection("unicode", 1.0, "content", text=unicodedata.normalize("NFC", text))
    words = _telling_words(data)

    def decode(encoding: Encoding) -> str:
        if encoding == "unicode":
            return unicodedata.normalize("NFC", text)
        return decode_surface(text, encoding)

    return _verdict(words, ("unicode", *ENCODINGS), decode, utf8=False)


def detect_bytes(data: bytes) -> tuple[str, Detection]:
    """Raw bytes of unknown encoding: UTF-8, Windows-1258, TCVN3, VNI or VISCII, whichever reading is
    most Vietnamese (UTF-8 holding a legacy surface, as a spreadsheet saving legacy text as UTF-8
    writes it, is caught too). Returns the decoded text (NFC) and the detection."""
    try:
        utf8_text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        utf8_text = None
    words = _telling_words(data)
    encodings: tuple[Encoding, ...] = ENCODINGS if utf8_text is None else ("unicode", *ENCODINGS)

    def decode(encoding: Encoding) -> str:
        if encoding == "unicode":
            return unicodedata.normalize("NFC", utf8_text or "")
        if encoding == "cp1258":
            return unicodedata.normalize("NFC", data.decode("cp1258", errors="replace"))
        return decode_bytes(data, encoding)

    found = _verdict(words, encodings, decode, utf8=utf8_text is not None)
    if utf8_text is not None and found.encoding == "unicode" and has_legacy_surface(utf8_text):
        inner = detect(utf8_text)  # legacy text saved as UTF-8 by something that read it as Latin-1
        if inner.encoding != "unicode":
            return inner.text, inner
    return found.text, found


def to_unicode(
    text: str, *, encoding: Encoding | None = None, font: str | None = None, min_confidence: float = MIN_CONFIDENCE
) -> tuple[str, Detection]:
    """Text in whatever it is → Unicode NFC, with how that was decided. Raises ``LowConfidence``
    (its message shows the candidate readings as decoded text and asks for the font or encoding)."""
    if encoding is not None:
        detection = Detection(encoding, 1.0, "explicit")
    else:
        detection = from_font(font) or detect(text)
    if detection.method == "content" and detection.confidence < min_confidence:
        raise LowConfidence(unsure_message(detection))
    if detection.method == "content":
        return detection.text, detection
    return decode_surface(text, detection.encoding, uppercase=detection.uppercase), detection


UNSURE_HINT = "name the encoding (tcvn3, vni, viscii, cp1258) or the legacy font (.Vn*, VNI-*)"


def unsure_message(detection: Detection, *, limit: int = 80, hint: str = UNSURE_HINT) -> str:
    """Why a detection was refused, in decoded text only: the words the two best readings read
    differently, as each reads them, and what the operator can do (``hint``)."""
    if detection.runner_up is None:
        return (
            f"cannot tell the encoding: no reading is Vietnamese ({detection.valid} of {detection.words} "
            f"words); best reading {detection.encoding} {excerpt(detection.text, limit)!r}; {hint}"
        )
    ours = excerpt(" ".join(a for a, _ in detection.differing), limit)
    theirs = excerpt(" ".join(b for _, b in detection.differing), limit)
    return (
        f"cannot tell the encoding: {detection.encoding} reads {ours!r} ({detection.valid} of "
        f"{detection.words} words Vietnamese), {detection.runner_up} reads {theirs!r} "
        f"({detection.runner_up_valid}); {hint}"
    )


def readable(text: str, limit: int = REASON_TEXT_LIMIT) -> str:
    """Source text as a reason quotes it: decoded when it holds legacy characters (both readings when
    unsure, so no legacy surface character is shown), shortened at a word boundary."""
    if not has_legacy_surface(text):
        return excerpt(text, limit)
    detection = detect(text)
    if detection.sure or detection.runner_up is None:
        return excerpt(detection.text, limit)
    return f"{excerpt(detection.text, limit)} or {excerpt(detection.runner_up_text, limit)} (encoding unsure)"


@cache
def _inverse(encoding: str) -> dict[str, str]:
    inverse: dict[str, str] = {}
    for legacy, uni in _charmap(encoding).pairs:
        uni = unicodedata.normalize("NFC", uni)
        if uni not in inverse or len(legacy) < len(inverse[uni]):
            inverse[uni] = legacy
    return inverse


def encode_legacy(text: str, encoding: Literal["tcvn3", "vni", "viscii"]) -> str:
    """Unicode → legacy surface characters (for test data and sample files; TCVN3 writes toned
    capitals lowercase, as the ABC ``.VnTime``/``.VnTimeH`` fonts expect, not in VN1's positions)."""
    inverse = _inverse(encoding)
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if encoding == "tcvn3" and ch != ch.lower() and ch.lower() in inverse and ch not in _VN3_CAPITALS:
            out.append(inverse[ch.lower()])
        elif ch in inverse:
            out.append(inverse[ch])
        else:
            out.append(ch)
    return "".join(out)


_VN3_CAPITALS = frozenset("ĂÂĐÊÔƠƯ")
