"""Which words are Vietnamese syllables: a table built from the orthography (onset + rhyme + tone).

Vietnamese writes one syllable per word, and the set of written syllables is closed: an onset from a
short list, a rhyme from a list of about 160, and one of six tones, with two spelling rules that
matter here (``c``/``k``, ``g``/``gh`` and ``ng``/``ngh`` are chosen by the following vowel; rhymes
ending in ``c``, ``ch``, ``p`` or ``t`` take only the sắc or nặng tone). A wrong legacy decoding almost
never lands on such a word: ``tỉnh`` read as VISCII instead of TCVN3 comes out as ``tïnh``, read as
Windows-1258 as ``tØnh``. This is what the legacy-text detector scores candidates by.

The table errs on the side of accepting: it holds the syllables real prose uses plus a few rare or
impossible combinations, never fewer; a few extra syllables cost the detector little, a missing one
makes genuine text look wrong. Tone placement is not checked (``hòa`` and ``hoà`` both pass): both
styles are in use.
"""

from __future__ import annotations

import unicodedata
from functools import cache

ONSETS: tuple[str, ...] = (
    "", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng", "ngh", "nh",
    "p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x",
)  # fmt: skip

_OPEN_RHYMES = (
    "a ai ao au ay âu ây e eo ê êu i ia iu iêu o oi ô ôi ơ ơi u ua ui uôi ư ưa ưi ưu ươi ươu y yêu "
    "oa oai oay oao oe oeo uê uy uya uyu uơ uây"
)
_CODAS_BY_NUCLEUS = {
    "a": "c ch m n ng nh p t",
    "ă": "c m n ng p t",
    "â": "c m n ng p t",
    "e": "c m n ng p t",
    "ê": "ch m n nh p t",
    "i": "ch m n nh p t",
    "iê": "c m n ng p t",
    "yê": "m n ng t",
    "o": "c m n ng p t",
    "oo": "c ng",
    "ô": "c m n ng p t",
    "ơ": "m n p t",
    "u": "c m n ng p t",
    "uô": "c m n ng t",
    "ư": "c m n ng t",
    "ươ": "c m n ng p t",
    "oa": "c ch m n ng nh p t",
    "oă": "c m n ng t",
    "oe": "m n t",
    "uâ": "n ng t",
    "uê": "ch nh",
    "uy": "ch n nh p t",
    "uyê": "n t",
}


def _rhymes() -> frozenset[str]:
    rhymes = set(_OPEN_RHYMES.split())
    for nucleus, codas in _CODAS_BY_NUCLEUS.items():
        rhymes.update(nucleus + coda for coda in codas.split())
    return frozenset(rhymes)


RHYMES = _rhymes()
STOP_CODAS = ("c", "ch", "p", "t")
"""Rhymes ending in a stop take only the sắc (acute) or nặng (dot below) tone."""

TONE_MARKS = {"\u0300": "huyền", "\u0301": "sắc", "\u0309": "hỏi", "\u0303": "ngã", "\u0323": "nặng"}
_FRONT = ("e", "ê", "i", "y")
_VOWELS = frozenset("aăâeêioôơuưy")


def _spelling_allows(onset: str, rhyme: str) -> bool:
    """The spelling rules tied to the next vowel (``ca``/``ke``, ``ga``/``ghe``, ``nga``/``nghe``,
    ``qua``)."""
    front = rhyme.startswith(_FRONT)
    if onset == "k":
        return front
    if onset == "c":
        return not front
    if onset in ("gh", "ngh"):
        return rhyme.startswith(("e", "ê", "i"))
    if onset in ("g", "ng"):  # "gì", "gìn", "giết": g + i-rhyme is how "gi" meets an i-rhyme
        return not rhyme.startswith(("e", "ê"))
    if onset == "gi":
        return not rhyme.startswith(("i", "y"))
    if onset == "qu":
        return not rhyme.startswith(("u", "o"))
    if onset and rhyme.startswith("yê"):  # "yên" stands alone; after a consonant it is written "iên"
        return False
    return bool(onset) or not rhyme.startswith("iê")  # "iên" needs a consonant; alone it is "yên"


@cache
def toneless_syllables() -> frozenset[str]:
    """Every written syllable without its tone mark, lowercase NFC (a few thousand)."""
    return frozenset(onset + rhyme for onset in ONSETS for rhyme in RHYMES if _spelling_allows(onset, rhyme))


def split_tone(word: str) -> tuple[str, str] | None:
    """``word`` (any case, any normal form) → (lowercase NFC letters without the tone mark, the
    tone's combining mark or ``""``); ``None`` if it carries two tones or a tone on a consonant."""
    tone = ""
    kept: list[str] = []
    for ch in unicodedata.normalize("NFD", word.lower()):
        if ch in TONE_MARKS:
            if tone:
                return None
            base = next((c for c in reversed(kept) if not unicodedata.combining(c)), "")
            if base not in _VOWELS:
                return None
            tone = ch
        else:
            kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept)), tone


PROPER_NAMES = frozenset({"kạn", "đắk", "lắk", "kon"})
"""Syllables of place names outside the orthography's rules (Bắc Kạn, Đắk Lắk, Kon Tum)."""


def is_syllable(word: str) -> bool:
    """Whether ``word`` is one written Vietnamese syllable (case and tone placement ignored)."""
    if unicodedata.normalize("NFC", word.lower()) in PROPER_NAMES:
        return True
    parts = split_tone(word)
    if parts is None:
        return False
    letters, tone = parts
    if letters not in toneless_syllables():
        return False
    return not (letters.endswith(STOP_CODAS) and tone not in ("\u0301", "\u0323"))
