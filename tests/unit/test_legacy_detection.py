"""Legacy-text detection by content is never confidently wrong (issue 16, item 8).

Every input here is made by another implementation than the one reading it: glibc ``iconv`` for
TCVN3 (TCVN5712-1), VISCII and Windows-1258, an independent VNI layout encoder
(``tests/support/legacy_corpus.py``), from real Vietnamese prose.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from adapters.base import RawObservation, ReadProblem
from adapters.csv_exports import CsvReader
from adapters.legacy_text import (
    MIN_CONFIDENCE,
    LowConfidence,
    decode_bytes,
    detect,
    detect_bytes,
    readable,
    to_unicode,
)
from adapters.reasons import excerpt
from adapters.vietnamese_syllables import is_syllable, toneless_syllables
from mappings.indicators import MappingRejected, parse_decimal
from tests.support import legacy_corpus
from tests.unit.test_legacy_text import LOWER, UPPER


def iconv(text: str, charset: str) -> bytes:
    assert shutil.which("iconv"), "glibc iconv makes the test inputs"
    return subprocess.run(
        ["iconv", "-f", "UTF-8", "-t", charset], input=text.encode(), capture_output=True, check=True
    ).stdout


# Four VISCII samples, as the issue found them: each came out as Windows-1258 mojibake at 0.80.
VISCII_SAMPLES = [
    "Ủy ban nhân dân tỉnh báo cáo tình hình kinh tế xã hội tháng mười",
    "Sở Thông tin và Truyền thông chủ trì, phối hợp với các sở, ban, ngành",
    "Tổng mức bán lẻ hàng hóa và doanh thu dịch vụ tiêu dùng",
    "Quy chế quản lý, vận hành và khai thác Hệ thống thông tin báo cáo tỉnh",
]


@pytest.mark.parametrize("text", VISCII_SAMPLES)
def test_viscii_is_read_as_viscii_or_refused_never_as_mojibake(text: str) -> None:
    decoded, detection = detect_bytes(iconv(text, "VISCII"))
    assert detection.sure, detection.describe()
    assert decoded == text and detection.encoding == "viscii"


def test_short_tcvn3_text_with_capitals_is_not_mojibake() -> None:
    """iconv writes TCVN3 capitals in TCVN 5712 VN1's positions (Ủ is 0x9E); they were left as C1
    control characters ("y ban nhân dân" at 0.72, exit 0)."""
    short = iconv("Ủy ban nhân dân tỉnh", "TCVN5712-1")
    decoded, detection = detect_bytes(short)
    assert not detection.sure or decoded == "Ủy ban nhân dân tỉnh", detection.describe()
    assert decode_bytes(short, "tcvn3") == "Ủy ban nhân dân tỉnh"
    decoded, detection = detect_bytes(iconv("Ủy ban nhân dân tỉnh báo cáo tháng 10", "TCVN5712-1"))
    assert detection.sure and decoded == "Ủy ban nhân dân tỉnh báo cáo tháng 10", detection.describe()
    assert decode_bytes(iconv("".join(UPPER), "TCVN5712-1"), "tcvn3") == "".join(UPPER)


@pytest.mark.parametrize(
    ("text", "charset"),
    [("Hà", "TCVN5712-1"), ("Số", "VISCII"), ("Hệ", "WINDOWS-1258"), ("Tô", "VISCII")],
)
def test_one_word_is_not_enough_to_decide(text: str, charset: str) -> None:
    """A single word read as Vietnamese by one reading: too little to be sure. "Hà" in TCVN3 is
    "Hộ" in VISCII; refusing is right."""
    with pytest.raises(LowConfidence) as refused:
        to_unicode(iconv(text, charset).decode("latin-1"))
    assert "name the encoding" in str(refused.value)


def test_refusal_shows_decoded_readings_never_legacy_surface() -> None:
    surface = iconv("Hà", "TCVN5712-1").decode("latin-1")  # "Hµ"
    assert not detect(surface).sure
    with pytest.raises(LowConfidence) as refused:
        to_unicode(surface)
    message = str(refused.value)
    assert "Hà" in message and "Hộ" in message  # both readings, decoded
    assert "µ" not in message, message


def test_utf8_text_is_utf8_even_when_short() -> None:
    for text in ("Report tháng 10", "Hà", "Đồng Tháp"):
        decoded, detection = detect_bytes(text.encode())
        assert decoded == text and detection.sure and detection.method == "utf-8"


def test_legacy_text_saved_as_utf8_is_found() -> None:
    """A spreadsheet that read TCVN3 as Latin-1 and saved it as UTF-8."""
    text = "tổng mức bán lẻ hàng hóa và doanh thu dịch vụ tiêu dùng"
    surface = iconv(text, "TCVN5712-1").decode("latin-1")
    decoded, detection = detect_bytes(surface.encode("utf-8"))
    assert decoded == text and detection.encoding == "tcvn3" and detection.sure, detection.describe()


def test_not_vietnamese_is_not_decided() -> None:
    """Latin-1 German: no reading is Vietnamese, so nothing is sure."""
    _, detection = detect_bytes("Größe und Maßstäbe für Straßen".encode("latin-1"))
    assert not detection.sure


def test_the_calibration_corpus_is_never_confidently_wrong() -> None:
    """At least 200 samples per encoding and length bucket; no sure answer is wrong; at least 98 % of
    the texts of 40 letters or more are decided correctly, in every encoding."""
    samples = legacy_corpus.corpus()
    cells = legacy_corpus.measure(samples)
    assert len(cells) == len(legacy_corpus.ENCODINGS) * len(legacy_corpus.BUCKETS)
    assert all(cell.total >= 200 for cell in cells.values())
    wrong = {key: cell.wrong for key, cell in cells.items() if cell.wrong}
    assert wrong == {}, legacy_corpus.table(cells)
    for (encoding, (low, _)), cell in cells.items():
        if low >= 40:
            assert cell.decided_correctly >= 0.98, (encoding, low, legacy_corpus.table(cells))


def test_corpus_vni_encoder_and_our_table_agree_on_every_letter() -> None:
    """The corpus's VNI encoder is written from the VNI layout; our decoding table from observed
    documents. Each checks the other (the table lacked ỵ written as î, the layout's form)."""
    text = "".join(LOWER + UPPER)
    assert decode_bytes(legacy_corpus.vni_encode(text), "vni") == text


def test_threshold_is_the_documented_one() -> None:
    assert MIN_CONFIDENCE == 0.5


# ------------------------------------------------------------------ the syllable table
def test_real_prose_is_made_of_syllables() -> None:
    """Every word of the regulations with a Vietnamese letter is a syllable, except abbreviations."""
    prose = legacy_corpus.PROSE.read_text(encoding="utf-8")
    words = [w for w in re.findall(r"[^\W\d_]+", prose) if not w.isascii()]
    rejected = sorted({w for w in words if not is_syllable(w)})
    assert all(w.isupper() or len(w) == 1 for w in rejected), rejected  # QĐ, HĐND, ĐBQH, "đ)" …
    assert len(words) > 10_000


@pytest.mark.parametrize("word", ["tïnh", "tØnh", "xă", "hµi", "mß¶i", "nåm", "thởng", "cac", "kan", "ghà", "ngeà"])
def test_mojibake_and_misspellings_are_not_syllables(word: str) -> None:
    assert not is_syllable(word)


@pytest.mark.parametrize("word", ["Ủy", "hòa", "hoà", "nghiêng", "khuỷu", "quyết", "giếng", "gì", "ĐẮK", "xoong"])
def test_syllables_in_any_case_and_tone_placement(word: str) -> None:
    assert is_syllable(word)


def test_stop_codas_take_only_sac_or_nang() -> None:
    assert is_syllable("các") and is_syllable("bạc")
    assert not is_syllable("cảc") and not is_syllable("càc")
    assert 3000 < len(toneless_syllables()) < 6000


def test_excerpt_cuts_at_word_boundaries() -> None:
    text = "Tổng mức bán lẻ hàng hóa và doanh thu dịch vụ tiêu dùng trên địa bàn tỉnh"
    short = excerpt(text, 30)
    assert short.endswith(" …") and text.startswith(short[:-2])
    assert short[:-2].split(" ")[-1] in text.split(" ")
    assert excerpt(text, 200) == text
    assert unicodedata.is_normalized("NFC", short)


# ------------------------------------------------------------------ gateway unicode
def _gateway_unicode(data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    gateway = str(Path(sys.executable).parent / "gateway")
    return subprocess.run([gateway, "unicode", *args, "-"], input=data, capture_output=True, timeout=60)


@pytest.mark.parametrize("text", VISCII_SAMPLES)
def test_unicode_command_reads_viscii(text: str) -> None:
    """Was: Windows-1258 mojibake on stdout, "confidence 0.80", exit 0."""
    run = _gateway_unicode(iconv(text, "VISCII"))
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout.decode() == text
    assert "detected viscii" in run.stderr.decode()


def test_unicode_command_exits_3_when_the_two_best_readings_are_close() -> None:
    """ "Hà Nội" in VISCII is "HỔ Nài" in TCVN3: both Vietnamese. Nothing on stdout, exit 3, and
    stderr shows both readings decoded (no legacy surface characters) and asks for --from."""
    data = iconv("Hà Nội", "VISCII")
    run = _gateway_unicode(data)
    assert run.returncode == 3
    assert run.stdout == b""
    stderr = run.stderr.decode()
    assert "Hà Nội" in stderr and "give --from" in stderr
    surface = set(data.decode("latin-1")) - set("Hà Nội")
    assert not surface & set(stderr), stderr
    explicit = _gateway_unicode(data, "--from", "viscii")
    assert explicit.returncode == 0 and explicit.stdout.decode() == "Hà Nội"


def test_unicode_command_short_tcvn3_with_a_capital() -> None:
    """Was: "y ban nhân dân tỉnh" (Ủ left as a C1 control character) with exit 0."""
    run = _gateway_unicode(iconv("Ủy ban nhân dân tỉnh báo cáo tháng 10", "TCVN5712-1"))
    assert run.returncode == 0 and run.stdout.decode() == "Ủy ban nhân dân tỉnh báo cáo tháng 10"
    short = _gateway_unicode(iconv("Ủy ban nhân dân tỉnh", "TCVN5712-1"))
    assert (short.returncode, short.stdout.decode()) in ((0, "Ủy ban nhân dân tỉnh"), (3, ""))


def test_unicode_command_unreadable_input_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    gateway = str(Path(sys.executable).parent / "gateway")
    missing = subprocess.run([gateway, "unicode", str(tmp_path / "nope.txt")], capture_output=True, timeout=60)
    assert missing.returncode == 2 and b"cannot read" in missing.stderr and b"Traceback" not in missing.stderr
    bad = _gateway_unicode(b"\x81\x8a", "--from", "cp1258")
    assert bad.returncode == 2 and b"is not cp1258" in bad.stderr and b"Traceback" not in bad.stderr


# ------------------------------------------------------------------ inside readers, and reasons
LONG_NOTE = "chưa có số liệu do các xã chưa gửi báo cáo tháng này về Ủy ban nhân dân huyện"


def test_a_non_number_in_legacy_text_is_quoted_decoded_and_in_whole_words() -> None:
    """Was: the reason quoted the TCVN3 surface ("ch\\xada cã sè liÖu …"), cut at 60 characters in
    the middle of a word."""
    surface = iconv(LONG_NOTE, "TCVN5712-1").decode("latin-1")
    with pytest.raises(MappingRejected) as rejected:
        parse_decimal(surface)
    reason = str(rejected.value)
    assert "chưa có số liệu do các xã" in reason
    assert not (set(surface) - set(LONG_NOTE)) & set(reason), reason
    quoted = reason.split("'")[1]
    assert quoted.endswith(" …")
    assert LONG_NOTE.startswith(quoted[:-2]) and LONG_NOTE[len(quoted) - 2] == " "  # cut between words


def test_an_unsure_value_is_quoted_with_both_readings() -> None:
    surface = iconv("Hà Nội", "VISCII").decode("latin-1")
    shown = readable(surface)
    assert "Hà Nội" in shown and "encoding unsure" in shown
    assert not (set(surface) - set("Hà Nội")) & set(shown)


def test_reason_summary_keeps_whole_words() -> None:
    from gateway.ingest import _reason_class

    reason = f"value {LONG_NOTE!r} is not a number"
    summary = _reason_class(reason)
    assert summary.endswith(" …") and reason.startswith(summary[:-2]) and reason[len(summary) - 2] == " "


def test_csv_reader_asks_for_the_encoding_when_unsure(tmp_path: Path) -> None:
    """A short legacy export whose readings tie: one problem naming the file and asking for the
    encoding, instead of rows decoded by a guess."""
    path = tmp_path / "short.csv"
    header = b"ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"
    path.write_bytes(header + b"T01," + iconv("Hà Nội", "VISCII") + b",ha,2026-THANG-10,02683,5\n")
    items = list(CsvReader(path).read())
    assert len(items) == 1 and isinstance(items[0], ReadProblem)
    assert "--encoding" in items[0].reason and "Hà Nội" in items[0].reason
    assert items[0].ref.source == str(path)


def test_csv_reader_decodes_a_viscii_export(tmp_path: Path) -> None:
    path = tmp_path / "viscii.csv"
    header = "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"
    rows = "".join(f'T0{i},"{text}",người,2026-THANG-10,02683,{i}\n' for i, text in enumerate(VISCII_SAMPLES))
    path.write_bytes(iconv(header + rows, "VISCII"))
    observations = [item for item in CsvReader(path).read() if isinstance(item, RawObservation)]
    assert [o.indicator_name for o in observations] == VISCII_SAMPLES


def test_headings_in_capitals_are_never_confidently_wrong() -> None:
    """The corpus again, every sample in capitals (VN1 capitals from iconv, VISCII's and
    Windows-1258's capitals, VNI's capital marks)."""
    cells = legacy_corpus.measure(legacy_corpus.corpus(per_cell=60, seed=7, upper=True))
    assert sum(cell.wrong for cell in cells.values()) == 0, legacy_corpus.table(cells)
    long_cells = [cell for (_, (low, _)), cell in cells.items() if low >= 40]
    assert sum(c.correct for c in long_cells) >= 0.98 * sum(c.total for c in long_cells)
