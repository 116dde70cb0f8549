"""The reader contract, run against every adapter with the same records: real files (CSV in every
encoding provinces have), a real loopback HTTP server (the provincial JSON API), real SQLite and
PostgreSQL databases. Every record read becomes an observation, a blank, or a quarantine record with
a precise reason: read == mapped + quarantined + blank, always."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import PeriodRef, RawObservation, Reader, ReadItem, ReadProblem, SourceRef
from adapters.csv_exports import CsvLayout, CsvReader, detect_encoding
from adapters.json_api import JsonApiLayout, JsonApiReader
from adapters.long_format import LongFormat
from adapters.registry import UnknownAdapter, reader_for
from adapters.sql_source import SqlLayout, SqlReader
from adapters.xlsx_templates import XlsxTemplateReader
from gateway.clock import SystemClock
from gateway.db.engine import make_engine, upgrade
from gateway.db.models import Observation, QuarantineRecord
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import IngestReport, ingest, replay_quarantine
from gateway.sim.server import BackgroundServer
from mappings.indicators import load_mapping
from tests.conftest import fresh_pg_database
from tests.unit.test_legacy_text import cp1258, encode

FIELDS = ["ma_chi_tieu", "ten_chi_tieu", "don_vi_tinh", "ky", "ma_dvhc", "gia_tri"]
RECORDS = [
    ["T0201", "Dân số trung bình", "người", "2026-THANG-10", "02647", "8512"],
    ["T0501", "Tổng mức bán lẻ hàng hóa", "triệu đồng", "2026-THANG-10", "02674", "42000.5"],
    ["T1001", "Diện tích gieo trồng lúa", "ha", "2026-THANG-10", "15", "320.4"],
    ["T0301", "Số lao động được tạo việc làm mới", "người", "2026-THANG-10", "02680", ""],
    ["T0302", "Số người được đào tạo nghề", "người", "2026-THANG-10", "02683", "chưa có số liệu"],
    ["T9999", "Chỉ tiêu riêng của tỉnh", "người", "2026-THANG-10", "02683", "5"],
    ["T0502", "Doanh thu dịch vụ lưu trú", "ha", "2026-THANG-10", "02686", "6500"],
    ["T1201", "Số hộ nghèo", "hộ", "2026-THANG-10", "083", "260"],
    ["T1202", "Số hộ cận nghèo", "hộ", "10/2026", "02695", "180"],
]
EXPECTED = {"read": 9, "mapped": 3, "blank": 1, "quarantined": 5}
REASONS = [
    "is not a number",
    "unknown indicator code 'T9999'",
    "unit mismatch",
    "'083' is not a commune in code list QD19-2025",
    "is not of the form 2026-THANG-10",
]


def write_csv(path: Path, *, codec: str | None = "utf-8", legacy: str | None = None, delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(FIELDS)
    writer.writerows(RECORDS)
    content = buffer.getvalue()
    if legacy:
        path.write_bytes(encode(content, legacy).encode("latin-1"))
    elif codec == "cp1258":
        path.write_bytes(cp1258(content))
    else:
        path.write_bytes(content.encode(codec or "utf-8"))
    return path


def api_app(token: str) -> FastAPI:
    app = FastAPI()
    calls = {"n": 0}
    items = [dict(zip(FIELDS, r, strict=True)) | {"id": f"rec-{i}"} for i, r in enumerate(RECORDS)]

    @app.get("/api/chi-tieu")
    def page(request: Request, page: int = 1) -> JSONResponse:
        calls["n"] += 1
        if calls["n"] == 1:
            return JSONResponse({"detail": "warming up"}, status_code=503)  # a transient failure first
        if request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"detail": "unauthorized"}, status_code=401)
        chunk = items[(page - 1) * 4 : page * 4]
        nxt = f"?page={page + 1}" if page * 4 < len(items) else None
        return JSONResponse({"items": chunk, "next": nxt})

    return app


def sql_source(url: str) -> str:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE chi_tieu (id INTEGER, code TEXT, ten TEXT, dvt TEXT, ky TEXT, dvhc TEXT, so_lieu TEXT)")
        )
        for i, r in enumerate(RECORDS):
            conn.execute(
                text("INSERT INTO chi_tieu VALUES (:i, :c, :n, :u, :k, :d, :v)"),
                {"i": i, "c": r[0], "n": r[1], "u": r[2], "k": r[3], "d": r[4], "v": r[5] or None},
            )
    engine.dispose()
    return url


QUERY = (
    "SELECT id, code AS ma_chi_tieu, ten AS ten_chi_tieu, dvt AS don_vi_tinh, ky, dvhc AS ma_dvhc, "
    "so_lieu AS gia_tri FROM chi_tieu ORDER BY id"
)


def iconv_csv(path: Path, target: str) -> Path:
    """The UTF-8 export re-encoded by glibc iconv, an implementation other than ours (``UTF-16LE`` and
    ``UTF-16BE`` write no byte-order mark, as Windows tools often do)."""
    utf8 = write_csv(path.with_suffix(".utf8"))
    path.write_bytes(
        subprocess.run(["iconv", "-f", "UTF-8", "-t", target, str(utf8)], capture_output=True, check=True).stdout
    )
    return path


CSV_VARIANTS: dict[str, Callable[[Path], Path]] = {
    "csv-utf16le-no-bom-iconv": lambda d: iconv_csv(d / "a.csv", "UTF-16LE"),
    "csv-utf16be-no-bom-iconv": lambda d: iconv_csv(d / "a.csv", "UTF-16BE"),
    "csv-utf8": lambda d: write_csv(d / "a.csv"),
    "csv-utf8-bom": lambda d: write_csv(d / "a.csv", codec="utf-8-sig"),
    "csv-utf16": lambda d: write_csv(d / "a.csv", codec="utf-16"),
    "csv-cp1258": lambda d: write_csv(d / "a.csv", codec="cp1258"),
    "csv-tcvn3-semicolon": lambda d: write_csv(d / "a.csv", legacy="tcvn3", delimiter=";"),
}


def run(
    reader: Reader, tmp_path: Path
) -> tuple[IngestReport, list[str], dict[str, Observation], sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gw.sqlite'}")
    upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    report = ingest(sessions, reader, load_mapping(MAPPING), SystemClock(), reporting_unit="H15")
    with sessions() as s:
        reasons = [q.reason for q in s.query(QuarantineRecord).order_by(QuarantineRecord.id)]
        names = {o.source_indicator_code: o for o in s.query(Observation)}
    return report, reasons, names, sessions


def check_contract(reader: Reader, tmp_path: Path) -> None:
    report, reasons, observations, _ = run(reader, tmp_path)
    assert {
        "read": report.read,
        "mapped": report.mapped,
        "blank": report.blank,
        "quarantined": report.quarantined,
    } == EXPECTED
    assert report.read == report.mapped + report.quarantined + report.blank
    for expected in REASONS:
        assert any(expected in r for r in reasons), (expected, reasons)
    assert observations["T0501"].value == "42.0005" and observations["T0501"].unit == "tỷ đồng"


@pytest.mark.parametrize("variant", sorted(CSV_VARIANTS))
def test_csv_in_every_encoding_keeps_the_contract(variant: str, tmp_path: Path) -> None:
    path = CSV_VARIANTS[variant](tmp_path)
    reader = CsvReader(path)
    check_contract(reader, tmp_path)
    assert reader.encoding is not None
    if variant == "csv-tcvn3-semicolon":
        assert reader.encoding.legacy == "tcvn3"


def test_csv_encoding_can_be_overridden_and_names_are_unicode(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "b.csv", legacy="vni")
    reader = reader_for("csv", path, {"encoding": "vni"})
    names = [item.indicator_name for item in reader.read() if isinstance(item, RawObservation)]
    assert "Dân số trung bình" in names and "Tổng mức bán lẻ hàng hóa" in names


def test_csv_with_the_wrong_encoding_is_quarantined_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        ",".join(FIELDS).encode()
        + "\r\nT0201,Dân số,người,2026-THANG-10,02647,1\r\n".encode()
        + b"T0201,D\xe2n s\xe8,x,2026-THANG-10,02647,1\r\n"  # line 3 is Windows-1258, not UTF-8
    )
    items = list(
        CsvReader(path, __import__("adapters.csv_exports", fromlist=["CsvLayout"]).CsvLayout(encoding="utf-8")).read()
    )
    problems = [i for i in items if hasattr(i, "reason")]
    assert problems and "do not decode as utf-8" in problems[-1].reason and problems[-1].ref.row == 3


def test_json_api_with_pagination_auth_and_a_transient_failure(tmp_path: Path) -> None:
    with BackgroundServer(api_app("tinh-token")) as server:
        reader = JsonApiReader(JsonApiLayout(url=f"{server.url}/api/chi-tieu", bearer_token="tinh-token"))
        check_contract(reader, tmp_path)
        denied = list(JsonApiReader(JsonApiLayout(url=f"{server.url}/api/chi-tieu", bearer_token="wrong")).read())
    assert len(denied) == 1 and isinstance(denied[0], ReadProblem) and "HTTP 401" in denied[0].reason


def scripted_api(answers: list[tuple[int, dict[str, str], object]]) -> FastAPI:
    """A provincial API that gives ``answers`` in turn (status, headers, JSON body), then repeats the last."""
    app = FastAPI()
    served = {"n": 0}

    @app.get("/api/chi-tieu")
    def page() -> JSONResponse:
        status, headers, body = answers[min(served["n"], len(answers) - 1)]
        served["n"] += 1
        return JSONResponse(body, status_code=status, headers=headers)

    return app


ONE_RECORD = {"items": [dict(zip(FIELDS, RECORDS[0], strict=True)) | {"id": "rec-0"}], "next": None}


def read_api(answers: list[tuple[int, dict[str, str], object]], **layout: Any) -> list[Any]:
    with BackgroundServer(scripted_api(answers)) as server:
        return list(JsonApiReader(JsonApiLayout(url=f"{server.url}/api/chi-tieu", **layout)).read())


def test_json_api_waits_as_long_as_retry_after_asks() -> None:
    start = time.monotonic()
    items = read_api([(429, {"Retry-After": "1"}, {"detail": "slow down"}), (200, {}, ONE_RECORD)])
    assert time.monotonic() - start >= 0.9  # the jittered backoff alone waits at most 0.2 s here
    assert [type(i).__name__ for i in items] == ["RawObservation"]


def test_json_api_asking_for_a_long_pause_ends_the_read_to_replay_later() -> None:
    (problem,) = read_api([(503, {"Retry-After": "3600"}, {"detail": "maintenance"})], max_retry_after=5)
    assert isinstance(problem, ReadProblem)
    assert "asked to retry after 3600 s" in problem.reason and "replay later" in problem.reason


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"items": 5, "next": None}, 'answer is not {"items": [...], "next": ...}'),
        ([1, 2], 'answer is not {"items": [...], "next": ...}'),
        ({**ONE_RECORD, "next": "http://[::1"}, "next page link 'http://[::1' is not a URL"),
    ],
    ids=["items-not-a-list", "not-an-object", "bad-next-link"],
)
def test_json_api_answers_of_the_wrong_shape_are_named(body: object, why: str) -> None:
    items = read_api([(200, {}, body)])
    assert isinstance(items[-1], ReadProblem) and why in items[-1].reason


def test_json_api_stopping_at_max_pages_says_what_is_left() -> None:
    more = {**ONE_RECORD, "next": "?page=again"}
    items = read_api([(200, {}, more)], max_pages=2)
    assert [type(i).__name__ for i in items] == ["RawObservation", "RawObservation", "ReadProblem"]
    assert "stopped after 2 pages (max_pages) with more to read" in items[-1].reason


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sql_source_streams_rows(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = (
        f"sqlite:///{tmp_path / 'source.sqlite'}"
        if backend == "sqlite"
        else fresh_pg_database(request.getfixturevalue("pg_server_url"))
    )
    check_contract(SqlReader(sql_source(url), SqlLayout(query=QUERY, batch=2)), tmp_path)
    broken = list(SqlReader(url, SqlLayout(query="SELECT * FROM nowhere")).read())
    assert len(broken) == 1 and isinstance(broken[0], ReadProblem) and "query failed" in broken[0].reason


def test_truncated_xlsx_is_one_quarantine_record_naming_the_file(tmp_path: Path) -> None:
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(SAMPLE.read_bytes()[:20_000])
    report, reasons, _, _ = run(XlsxTemplateReader(cut), tmp_path)
    assert (report.read, report.quarantined) == (1, 1)
    assert "not a readable XLSX workbook" in reasons[0]
    with zipfile.ZipFile(SAMPLE) as zf:
        assert zf.testzip() is None  # the original is fine: only the cut copy is refused


def _rewrite_member(workbook: bytes, member: str, edit: Callable[[bytes], bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook)) as zin, zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == member:
                edited = edit(data)
                assert edited != data, f"the edit does not apply to {member}"
                data = edited
            zout.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("member", "edit"),
    [
        ("xl/worksheets/sheet1.xml", lambda d: d.replace(b"<c ", b"<c <", 1)),  # not well-formed
        ("xl/worksheets/sheet1.xml", lambda d: d.replace(b"</sheetData>", b"", 1)),  # cut short
        ("docProps/core.xml", lambda d: d.replace(b"<dc:creator ", b"<dc:creator x= ", 1)),
        ("[Content_Types].xml", lambda d: d.replace(b' ContentType="', b' Type="', 1)),  # a missing attribute
        ("xl/workbook.xml", lambda d: d.replace(b"<sheets>", b"<sheets>\xff", 1)),  # bytes that do not decode
    ],
    ids=["sheet-malformed", "sheet-unclosed", "properties-malformed", "content-types-attribute", "bad-bytes"],
)
def test_a_damaged_xlsx_member_is_a_quarantine_record_not_a_traceback(
    tmp_path: Path, member: str, edit: Callable[[bytes], bytes]
) -> None:
    """Found by mutating the sample workbook: damage inside a member (not only a cut zip) used to
    escape the reader as lxml, zlib or openpyxl exceptions."""
    damaged = tmp_path / "damaged.xlsx"
    damaged.write_bytes(_rewrite_member(SAMPLE.read_bytes(), member, edit))
    report, reasons, _, _ = run(XlsxTemplateReader(damaged), tmp_path)
    assert report.quarantined >= 1
    assert any("damaged" in r or "not a readable XLSX workbook" in r for r in reasons), reasons


def test_a_corrupt_compressed_member_is_named(tmp_path: Path) -> None:
    data = bytearray(SAMPLE.read_bytes())
    with zipfile.ZipFile(SAMPLE) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 40
    data[start : start + 16] = bytes(16)  # zeroes in the middle of the deflated sheet
    damaged = tmp_path / "corrupt.xlsx"
    damaged.write_bytes(bytes(data))
    report, reasons, _, _ = run(XlsxTemplateReader(damaged), tmp_path)
    assert report.quarantined >= 1
    assert any(str(damaged) in r or "damaged" in r or "not a readable" in r for r in reasons), reasons


class CarelessReader:
    """A reader written elsewhere (a province's own adapter) that does not check its periods."""

    name, source = "careless", "careless://source"

    def read(self) -> Iterator[ReadItem]:
        bad = PeriodRef("THANG", 13, 2026)
        yield RawObservation("T0201", None, "người", bad, "02647", "1", SourceRef(self.source, row=1))


def test_an_impossible_period_from_any_reader_is_quarantined_at_ingest(tmp_path: Path) -> None:
    report, reasons, _, _ = run(CarelessReader(), tmp_path)
    assert (report.read, report.quarantined) == (1, 1)
    assert reasons == ["period 2026-THANG-13: THANG numbers run from 1 to 12"]


class NotANumberReader:
    """What a SQL source with a float column holding NaN and infinities hands over."""

    name, source = "nan", "nan://source"

    def read(self) -> Iterator[ReadItem]:
        fields = LongFormat()
        yield fields.item(
            {"ma_chi_tieu": "T0201", "ky": "2026-THANG-10", "gia_tri": float("nan")}, SourceRef(self.source)
        )
        yield fields.item({"ma_chi_tieu": "T0201", "gia_tri": float("inf")}, SourceRef(self.source, row=2))


def test_values_json_cannot_hold_are_quarantined_as_text(database_url: str) -> None:
    """PostgreSQL's JSON type refuses NaN: one such value in a quarantine record failed the whole ingest."""
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    report = ingest(sessions, NotANumberReader(), load_mapping(MAPPING), SystemClock(), reporting_unit="H15")
    assert (report.read, report.quarantined) == (2, 2)
    with sessions() as s:
        raws = [q.raw for q in s.query(QuarantineRecord).order_by(QuarantineRecord.id)]
    assert raws[0]["value"] == "nan" and raws[1]["gia_tri"] == "inf"
    engine.dispose()


def test_quarantine_replay_after_fixing_the_mapping(tmp_path: Path) -> None:
    report, _, _, sessions = run(CsvReader(write_csv(tmp_path / "d.csv")), tmp_path)
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(
        MAPPING.read_text(encoding="utf-8").replace(
            "\nindicators:\n",
            """\nindicators:
  T9999:
    national_code: "9999"
    national_name: "Chỉ tiêu riêng của tỉnh"
    form: BM02-XH
    unit: "người"
    national_unit: "người"
""",
            1,
        ),
        encoding="utf-8",
    )
    replayed, still = replay_quarantine(sessions, load_mapping(fixed), SystemClock(), reporting_unit="H15")
    assert (replayed, still) == (1, report.quarantined - 1)


def test_unknown_adapter_suggests_the_closest() -> None:
    with pytest.raises(UnknownAdapter, match="did you mean 'csv'"):
        reader_for("cvs", "x.csv")


def test_encoding_detection_reports_its_confidence() -> None:
    assert detect_encoding("Dân số".encode()).codec == "utf-8"
    legacy = detect_encoding(encode("dân số trung bình của tỉnh trong tháng", "tcvn3").encode("latin-1"))
    assert legacy.legacy == "tcvn3" and 0 < legacy.confidence <= 1


def test_disaggregation_values_are_mapped_to_national_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.csv_exports import CsvLayout
    from adapters.long_format import LongFormat

    mapping = tmp_path / "gender.yaml"
    mapping.write_text(
        MAPPING.read_text(encoding="utf-8") + 'disaggregations:\n  GIOI_TINH: {"Nam": "NAM", "Nữ": "NU"}\n',
        encoding="utf-8",
    )
    source = tmp_path / "gender.csv"
    source.write_text(
        "ma_chi_tieu,don_vi_tinh,ky,ma_dvhc,gioi_tinh,gia_tri\n"
        "T0201,người,2026-THANG-10,02647,Nam,4200\n"
        "T0201,người,2026-THANG-10,02647,Nữ,4312\n"
        "T0201,người,2026-THANG-10,02647,Khác,3\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[run.__module__], "MAPPING", mapping)
    layout = CsvLayout(fields=LongFormat(name=None, dimensions=(("gioi_tinh", "GIOI_TINH"),)))
    report, reasons, _, sessions = run(CsvReader(source, layout), tmp_path)
    assert (report.mapped, report.quarantined) == (2, 1), reasons
    assert "unknown value 'Khác' for dimension GIOI_TINH" in reasons[0]
    with sessions() as s:
        breakdowns = sorted(tuple(map(tuple, o.disaggregation)) for o in s.query(Observation))
    assert breakdowns == [(("DVHC", "02647"), ("GIOI_TINH", "NAM")), (("DVHC", "02647"), ("GIOI_TINH", "NU"))]


@pytest.mark.parametrize("target", ["UTF-16LE", "UTF-16BE"])
def test_utf16_named_on_the_command_line_without_a_byte_order_mark_is_read(target: str, tmp_path: Path) -> None:
    """Found from outside: ``--encoding utf-16`` on a file without a BOM ended in "unexpected error:
    UnicodeError: UTF-16 stream does not start with BOM" (exit 70); the byte order is found instead."""
    path = iconv_csv(tmp_path / "a.csv", target)
    check_contract(CsvReader(path, CsvLayout(encoding="utf-16")), tmp_path)


def test_a_file_that_is_not_the_named_encoding_is_one_problem_naming_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv")  # UTF-8, said to be UTF-16
    (problem,) = list(CsvReader(path, CsvLayout(encoding="utf-16")).read())
    assert isinstance(problem, ReadProblem) and problem.ref.source == str(path)
    assert "do not decode as utf-16" in problem.reason


@pytest.mark.parametrize("how", ["nfd-utf8", "cp1258-iconv"])
def test_every_field_of_a_csv_is_read_in_nfc(how: str, tmp_path: Path) -> None:
    """Found from outside: a unit from a decomposed (NFD) UTF-8 export, or from Windows-1258 (which
    glibc iconv writes with combining tones, as Word does), came through the dry run decomposed."""
    text = (
        "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\nT0201,Dân số trung bình,người,2026-THANG-10,02647,5\n"
    )
    path = tmp_path / "a.csv"
    if how == "nfd-utf8":
        path.write_bytes(unicodedata.normalize("NFD", text).encode("utf-8"))
    else:
        done = subprocess.run(
            ["iconv", "-f", "UTF-8", "-t", "WINDOWS-1258"], input=text.encode(), capture_output=True, check=True
        )
        assert not unicodedata.is_normalized("NFC", done.stdout.decode("cp1258"))  # iconv did decompose
        path.write_bytes(done.stdout)
    (item,) = list(CsvReader(path).read())
    assert isinstance(item, RawObservation)
    assert item.unit == "người" and item.indicator_name == "Dân số trung bình"
    assert unicodedata.is_normalized("NFC", item.unit) and unicodedata.is_normalized("NFC", item.indicator_name)
