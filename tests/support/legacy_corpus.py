"""A calibration corpus for legacy-text detection, encoded by implementations other than ours.

Samples are cut from real Vietnamese prose (``tests/fixtures/legacy/vietnamese-prose.txt``:
sentences of five provincial regulations) at word boundaries, in length buckets counted in letters,
and encoded by:

- glibc ``iconv`` for TCVN3 (``TCVN5712-1``), VISCII and Windows-1258 (glibc writes Windows-1258
  with combining tones where no precomposed letter exists, as Word does). Half the TCVN3 samples are
  written the way ABC (``.VnTime``) typists write, toned capitals as lowercase letters, since VN3
  has none; the other half keep their capitals in TCVN 5712 VN1's positions, as converters write;
- the VNI layout table below for VNI (``iconv`` has no VNI), written from the VNI Windows layout,
  not from our decoding table;
- Python's UTF-8 encoder for UTF-8.

Nothing binary is stored: the corpus is made when a test or ``python -m tests.support.legacy_corpus``
asks for it (deterministic for a seed). The second prints the precision table of
``docs/legacy-text.md``.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROSE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy" / "vietnamese-prose.txt"
ENCODINGS = ("tcvn3", "vni", "viscii", "cp1258", "utf-8")
BUCKETS: tuple[tuple[int, int], ...] = ((1, 9), (10, 19), (20, 39), (40, 79), (80, 159), (160, 400))
"""Letters per sample: cell labels, short headings, a sentence, a paragraph, more."""
PER_CELL = 200
_ICONV = {"tcvn3": "TCVN5712-1", "viscii": "VISCII", "cp1258": "WINDOWS-1258"}
_PUNCTUATION = {"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "…": "...", "\u00a0": " "}


@dataclass(frozen=True)
class Sample:
    encoding: str
    bucket: tuple[int, int]
    text: str  # what a correct decoding gives (NFC)
    data: bytes

    @property
    def letters(self) -> int:
        return letters(self.text)


def letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


# ------------------------------------------------------------------ VNI (VNI Windows layout)
# A toned letter is its base letter followed by one mark character whose meaning depends on the
# vowel family; ơ ư đ are single characters, and i and ỵ take single characters for their tones.
_VNI_TONES_PLAIN = {"": "", "\u0301": "ù", "\u0300": "ø", "\u0309": "û", "\u0303": "õ", "\u0323": "ï"}
_VNI_TONES_CIRCUMFLEX = {"": "â", "\u0301": "á", "\u0300": "à", "\u0309": "å", "\u0303": "ã", "\u0323": "ä"}
_VNI_TONES_BREVE = {"": "ê", "\u0301": "é", "\u0300": "è", "\u0309": "ú", "\u0303": "ü", "\u0323": "ë"}
_VNI_I = {"": "i", "\u0301": "í", "\u0300": "ì", "\u0309": "æ", "\u0303": "ó", "\u0323": "ò"}
_TONES = ("\u0301", "\u0300", "\u0309", "\u0303", "\u0323")


def vni_encode(text: str) -> bytes:
    """Unicode → VNI Windows bytes, from the layout (independent of ``adapters/legacy_text.py``)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        parts = unicodedata.normalize("NFD", ch)
        base, marks = parts[0], parts[1:]
        if ch in "đĐ":
            out.append("ñ" if ch == "đ" else "Ñ")
            continue
        if base.lower() not in "aeiouy" or not marks:
            out.append(ch)
            continue
        upper = base.isupper()
        tone = next((m for m in marks if m in _TONES), "")
        shape = next((m for m in marks if m not in _TONES), "")
        b = base.lower()
        if b == "i":
            written = _VNI_I[tone]
        elif b == "y" and tone == "\u0323":
            written = "î"
        elif shape == "\u0302":  # â ê ô
            written = b + _VNI_TONES_CIRCUMFLEX[tone]
        elif shape == "\u0306":  # ă
            written = b + _VNI_TONES_BREVE[tone]
        elif shape == "\u031b":  # ơ ư: one character each, then the plain tone mark
            written = {"o": "ô", "u": "ö"}[b] + _VNI_TONES_PLAIN[tone]
        else:
            written = b + _VNI_TONES_PLAIN[tone]
        out.append(written.upper() if upper else written)
    return "".join(out).encode("latin-1")


# ------------------------------------------------------------------ samples
_VN3_CAPITALS = frozenset("ĂÂĐÊÔƠƯ")


def abc_form(text: str) -> str:
    """As typed under an ABC (.VnTime) font: toned capitals, which VN3 lacks, as lowercase."""
    return "".join(ch.lower() if not ch.isascii() and ch.isupper() and ch not in _VN3_CAPITALS else ch for ch in text)


def _sentences() -> list[str]:
    lines = [line for line in PROSE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    cleaned = []
    for line in lines:
        for old, new in _PUNCTUATION.items():
            line = line.replace(old, new)
        cleaned.append(unicodedata.normalize("NFC", line))
    return cleaned


def _cut(words: list[str], start: int, target: int) -> str:
    taken: list[str] = []
    count = 0
    for word in words[start:]:
        taken.append(word)
        count += letters(word)
        if count >= target:
            break
    return " ".join(taken)


def _texts(rng: random.Random, sentences: list[str], bucket: tuple[int, int], n: int) -> Iterator[str]:
    words = " ".join(sentences).split()
    made = 0
    while made < n:
        target = rng.randint(*bucket)
        text = _cut(words, rng.randrange(len(words)), target)
        if text.isascii():  # reads the same in every encoding: tests nothing
            continue
        if bucket[0] <= letters(text) <= bucket[1] + 12:  # the last word may overshoot a little
            made += 1
            yield text


def _iconv(texts: list[str], target: str) -> list[bytes]:
    """One iconv run for many samples: a newline is the same byte in every one of these charsets."""
    run = subprocess.run(
        ["iconv", "-f", "UTF-8", "-t", target], input="\n".join(texts).encode(), capture_output=True, check=True
    )
    out = run.stdout.split(b"\n")
    assert len(out) == len(texts), (target, len(out), len(texts))
    return out


def corpus(per_cell: int = PER_CELL, seed: int = 2026, *, upper: bool = False) -> list[Sample]:
    """``per_cell`` samples per encoding and length bucket (``upper``: in capitals, as headings are)."""
    rng = random.Random(seed)
    sentences = _sentences()
    samples: list[Sample] = []
    for encoding in ENCODINGS:
        for bucket in BUCKETS:
            texts = list(_texts(rng, sentences, bucket, per_cell))
            if upper:
                texts = [t.upper() for t in texts]
            if encoding == "tcvn3":
                texts = [abc_form(t) if i % 2 == 0 else t for i, t in enumerate(texts)]
            if encoding in _ICONV:
                data = _iconv(texts, _ICONV[encoding])
            elif encoding == "vni":
                data = [vni_encode(t) for t in texts]
            else:
                data = [t.encode("utf-8") for t in texts]
            samples.extend(Sample(encoding, bucket, t, d) for t, d in zip(texts, data, strict=True))
    return samples


# ------------------------------------------------------------------ measuring
@dataclass
class Cell:
    total: int = 0
    correct: int = 0  # decided, and the decoded text is the original
    wrong: int = 0  # decided, and the decoded text is not the original: a confident wrong answer
    unsure: int = 0  # refused: exit 3 / a problem asking for the encoding

    @property
    def decided_correctly(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def precision(self) -> float:
        decided = self.correct + self.wrong
        return self.correct / decided if decided else 1.0


def measure(samples: list[Sample]) -> dict[tuple[str, tuple[int, int]], Cell]:
    from adapters.legacy_text import detect_bytes

    cells: dict[tuple[str, tuple[int, int]], Cell] = {}
    for sample in samples:
        cell = cells.setdefault((sample.encoding, sample.bucket), Cell())
        text, detection = detect_bytes(sample.data)
        cell.total += 1
        if not detection.sure:
            cell.unsure += 1
        elif text == sample.text:
            cell.correct += 1
        else:
            cell.wrong += 1
    return cells


def table(cells: dict[tuple[str, tuple[int, int]], Cell]) -> str:
    rows = [
        "| encoding | letters | samples | decided correctly | unsure (exit 3) | wrong | precision |",
        "|---|---|---|---|---|---|---|",
    ]
    for (encoding, (low, high)), cell in cells.items():
        rows.append(
            f"| {encoding} | {low}-{high} | {cell.total} | {cell.correct} ({cell.decided_correctly:.1%}) | "
            f"{cell.unsure} | {cell.wrong} | {cell.precision:.1%} |"
        )
    return "\n".join(rows)


def calibrate(samples: list[Sample]) -> None:
    """For each threshold: how many answers at or above it are wrong, and how many texts of 40
    letters or more it decides correctly."""
    from adapters.legacy_text import detect_bytes

    scored = []
    for sample in samples:
        text, detection = detect_bytes(sample.data)
        scored.append((detection.confidence, text == sample.text, sample.letters >= 40))
    wrong = sorted((c for c, ok, _ in scored if not ok), reverse=True)
    print("highest confidence of a wrong answer:", wrong[:10])
    long_total = sum(1 for *_, long in scored if long)
    for step in range(1, 13):
        threshold = step / 20
        bad = sum(1 for c, ok, _ in scored if c >= threshold and not ok)
        good_long = sum(1 for c, ok, long in scored if c >= threshold and ok and long)
        good_all = sum(1 for c, ok, _ in scored if c >= threshold and ok)
        print(
            f"threshold {threshold:.2f}: wrong {bad}, decided correctly {good_all}/{len(scored)}, "
            f"40+ letters {good_long}/{long_total} ({good_long / long_total:.2%})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--per-cell", type=int, default=PER_CELL)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--show-wrong", action="store_true", help="print each wrong or unsure sample")
    parser.add_argument("--calibrate", action="store_true", help="wrong and decided counts per threshold")
    parser.add_argument("--upper", action="store_true", help="every sample in capitals, as headings are")
    args = parser.parse_args()
    samples = corpus(args.per_cell, args.seed, upper=args.upper)
    if args.calibrate:
        calibrate(samples)
        return
    if args.show_wrong:
        from adapters.legacy_text import detect_bytes

        for sample in samples:
            text, detection = detect_bytes(sample.data)
            if not detection.sure or text != sample.text:
                verdict = "WRONG" if detection.sure else "unsure"
                print(f"{verdict} {sample.encoding} {sample.letters}: {sample.text!r} -> {detection.describe()}")
    print(table(measure(samples)))


if __name__ == "__main__":
    main()
