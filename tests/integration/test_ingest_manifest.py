"""``gateway ingest --manifest``: many files in one process, a pool of workers (issue 19).

The national bench spent 95% of its time starting 34 ``gateway ingest`` processes. One process now
reads a manifest of files and ingests them with forked workers; each file stays its own ingest run
(its own count identity and result line), a file that cannot be read is named and does not stop
the others (exit 1), and a manifest that cannot be used stops everything before anything is read
(exit 2). These run the real console script (the workers are real forked processes) on SQLite and
PostgreSQL.

The inputs are made here, not by the bench's generator: a CSV typed out line by line in the long
format a provincial export has, and an XLSX package written from the SpreadsheetML parts (ECMA-376)
with ``zipfile``, not by openpyxl.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.sources import write_long_csv

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
GATEWAY = str(Path(sys.executable).parent / "gateway")

HAND_CSV = """\
ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri
T0201,Dân số trung bình,người,2026-THANG-10,02647,10574
T0201,Dân số trung bình,người,2026-THANG-10,02674,11576
T0301,Số lao động được tạo việc làm mới,người,2026-THANG-10,02647,37
T0301,Số lao động được tạo việc làm mới,người,2026-THANG-10,02674,
T9999,Chỉ tiêu không có trong bảng ánh xạ,người,2026-THANG-10,02647,5
"""
"""Five records: three mapped, one blank (no value), one quarantined (an indicator the mapping lacks)."""

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"


def _cell(ref: str, value: str | int) -> str:
    if isinstance(value, int):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


def hand_xlsx(path: Path) -> Path:
    """A workbook in the template shape (sheet ``T10-2026``, commune codes in row 7, indicators from
    row 8: STT, code, name, unit, one value per commune), written part by part from the standard."""
    rows = [
        (1, ["BÁO CÁO KINH TẾ - XÃ HỘI THÁNG 10/2026"]),
        (6, ["STT", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Xã/Phường", "Xã/Phường"]),
        (7, ["", "", "", "", "02680", "02683"]),
        (8, [1, "T0201", "Dân số trung bình", "người", 9872, 6394]),
        (9, [2, "T0302", "Số người được đào tạo nghề", "người", 12, 7]),
    ]
    letters = "ABCDEF"
    sheet_rows = "".join(
        f'<row r="{r}">' + "".join(_cell(f"{letters[i]}{r}", v) for i, v in enumerate(cells) if v != "") + "</row>"
        for r, cells in rows
    )
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{PKG}">'
            f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{MAIN}" xmlns:r="{REL}">'
            '<sheets><sheet name="T10-2026" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{PKG}">'
            f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{MAIN}">'
            f"<sheetData>{sheet_rows}</sheetData></worksheet>"
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, xml in parts.items():
            zf.writestr(name, xml.encode("utf-8"))
    return path


def run(tmp_path: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path / "data")}
    env.pop("GATEWAY_CONFIG", None)
    if database_url:
        env["GATEWAY_DATABASE__URL"] = database_url
    return subprocess.run(
        [GATEWAY, *args], capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env, check=False
    )


def runs_of(database_url: str) -> dict[str, dict[str, int | str]]:
    """Every ingest run by its source's file name: state and counts, and its own observations."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT r.source, r.state, r.read, r.mapped, r.quarantined, r.blank, r.added, "
                    "(SELECT COUNT(*) FROM observations o WHERE o.ingest_run_id = r.id), "
                    "(SELECT COUNT(*) FROM quarantine q WHERE q.ingest_run_id = r.id) FROM ingest_runs r"
                )
            ).all()
    finally:
        engine.dispose()
    return {
        Path(r[0]).name: dict(
            zip(
                ("state", "read", "mapped", "quarantined", "blank", "added", "rows", "quarantine_rows"),
                r[1:],
                strict=True,
            )
        )
        for r in rows
    }


def files(tmp_path: Path) -> tuple[Path, Path]:
    csv_file = tmp_path / "lao-cai-10.csv"
    csv_file.write_text(HAND_CSV, encoding="utf-8")
    return csv_file, hand_xlsx(tmp_path / "lao-cai-10.xlsx")


def test_a_csv_manifest_ingests_each_file_as_its_own_run(tmp_path: Path) -> None:
    csv_file, xlsx_file = files(tmp_path)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "source,adapter,mapping,reporting_unit\n"
        f"{csv_file.name},csv,{MAPPING},H15\n"
        "# a comment line, then a blank one\n\n"
        f"{xlsx_file.name},xlsx,{MAPPING},H15\n",
        encoding="utf-8",
    )
    done = run(tmp_path, "ingest", "--manifest", str(manifest), "--workers", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    csv_line = next(line for line in lines if line.startswith(str(csv_file)))
    assert "read 5: mapped 3, quarantined 1, blank 1" in csv_line
    xlsx_line = next(line for line in lines if line.startswith(str(xlsx_file)))
    assert "read 4: mapped 4, quarantined 0, blank 0" in xlsx_line
    assert "2 files: 2 ingested, 0 failed; read 9 values" in lines[-1]
    assert "Traceback" not in done.stderr
    runs = runs_of(f"sqlite:///{tmp_path / 'data' / 'gateway.sqlite'}")
    assert runs[csv_file.name] == {
        "state": "completed", "read": 5, "mapped": 3, "quarantined": 1, "blank": 1, "added": 3, "rows": 3,
        "quarantine_rows": 1,
    }  # fmt: skip
    assert runs[xlsx_file.name] == {
        "state": "completed", "read": 4, "mapped": 4, "quarantined": 0, "blank": 0, "added": 4, "rows": 4,
        "quarantine_rows": 0,
    }  # fmt: skip

    again = run(tmp_path, "ingest", "--manifest", str(manifest))  # the same files: nothing new
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("unchanged") == 2 and " new," not in again.stdout, again.stdout  # nothing stored
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'gateway.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM observations")).scalar() == 7
    engine.dispose()


def test_a_yaml_manifest_with_defaults_keeps_codes_as_written(tmp_path: Path) -> None:
    csv_file, xlsx_file = files(tmp_path)
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "lao-cai.yaml").write_bytes(MAPPING.read_bytes())
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "# one month of Lào Cai\n"
        "defaults:\n  mapping: maps/lao-cai.yaml\n  reporting_unit: 015\n"
        f"files:\n  - source: {csv_file.name}\n    adapter: csv\n"
        f"  - {{source: {xlsx_file.name}, adapter: xlsx}}\n",
        encoding="utf-8",
    )
    done = run(tmp_path, "ingest", "--manifest", str(manifest), "--workers", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 files: 2 ingested, 0 failed; read 9 values" in done.stdout
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'gateway.sqlite'}")
    with engine.connect() as conn:
        units = {r[0] for r in conn.execute(text("SELECT DISTINCT reporting_unit FROM observations"))}
    engine.dispose()
    assert units == {"015"}  # as written: YAML alone would have read 015 as the number 13 (octal)


def test_a_missing_file_among_good_ones_is_named_and_the_others_are_ingested(tmp_path: Path) -> None:
    csv_file, xlsx_file = files(tmp_path)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "source,adapter,mapping\n"
        f"{csv_file.name},csv,{MAPPING}\n"
        f"not-sent-yet.csv,csv,{MAPPING}\n"
        f"{xlsx_file.name},xlsx,{MAPPING}\n"
        f"{csv_file.name.replace('10', '11')},csv,{tmp_path / 'no-such-mapping.yaml'}\n",
        encoding="utf-8",
    )
    (tmp_path / csv_file.name.replace("10", "11")).write_text(HAND_CSV.replace("THANG-10", "THANG-11"), "utf-8")
    done = run(tmp_path, "ingest", "--manifest", str(manifest), "--workers", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"failed: {tmp_path / 'not-sent-yet.csv'} (manifest.csv line 3): source file" in done.stderr
    assert "does not exist" in done.stderr
    assert "(manifest.csv line 5): mapping file" in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 2 of 4 files failed:") and "not-sent-yet.csv" in last, last
    runs = runs_of(f"sqlite:///{tmp_path / 'data' / 'gateway.sqlite'}")
    assert sorted(runs) == [csv_file.name, xlsx_file.name]
    assert all(r["state"] == "completed" for r in runs.values())
    assert "2 ingested, 2 failed" in done.stdout


@pytest.mark.parametrize(
    ("row", "named"),
    [
        (f"lao-cai-10.csv,xlxs,{MAPPING},", "manifest.csv line 3: unknown adapter 'xlxs'"),
        (f"lao-cai-10.csv,csv,{MAPPING},2026-THANG-13", "manifest.csv line 3: period '2026-THANG-13'"),
        ("lao-cai-10.csv,csv,,", "manifest.csv line 3: no mapping"),
        (
            f"lao-cai-10.xlsx,xlsx,{MAPPING},",
            "manifest.csv line 3: " + "{xlsx} is listed twice (also manifest.csv line 2)",
        ),
    ],
    ids=["adapter", "period", "no-mapping", "twice"],
)
def test_a_bad_entry_stops_everything_before_anything_is_read(tmp_path: Path, row: str, named: str) -> None:
    files(tmp_path)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"source,adapter,mapping,period\nlao-cai-10.xlsx,xlsx,{MAPPING},\n{row}\n", encoding="utf-8")
    done = run(tmp_path, "ingest", "--manifest", str(manifest))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and named.format(xlsx=tmp_path / "lao-cai-10.xlsx") in lines[0], done.stderr
    assert not (tmp_path / "data").exists()  # nothing read, no database made


def test_an_unknown_column_is_named(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("source,adaptor,mapping\nx.csv,csv,m.yaml\n", encoding="utf-8")
    done = run(tmp_path, "ingest", "--manifest", str(manifest))
    assert done.returncode == 2
    assert "m.csv line 1: unknown column 'adaptor'; did you mean 'adapter'?" in done.stderr


def test_concurrent_workers_keep_every_run_whole(tmp_path: Path, database_url: str) -> None:
    """Four workers on eight files of 1,200 values (batches of 500, so the runs interleave their
    commits): every run completes with its count identity and exactly its own rows, none lost."""
    rows, count = 1_200, 8
    sources = [write_long_csv(tmp_path / f"province-{n}.csv", rows, first_year=2026 + 3 * n) for n in range(count)]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "source,adapter,mapping,reporting_unit\n" + "".join(f"{s.name},csv,{MAPPING},H15\n" for s in sources),
        encoding="utf-8",
    )
    (tmp_path / "gateway.toml").write_text("[ingest]\nbatch_size = 500\n", encoding="utf-8")
    if not database_url.startswith("sqlite"):
        upgrade = run(tmp_path, "db", "upgrade", database_url=database_url)
        assert upgrade.returncode == 0, upgrade.stderr
    done = run(
        tmp_path,
        "ingest",
        "--manifest",
        str(manifest),
        "--workers",
        "4",
        "--config",
        str(tmp_path / "gateway.toml"),
        database_url=database_url,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{count} files: {count} ingested, 0 failed; read {rows * count:,} values" in done.stdout
    assert "4 worker(s)" in done.stdout
    runs = runs_of(database_url)
    assert sorted(runs) == sorted(s.name for s in sources)
    for name, r in runs.items():
        assert r == {
            "state": "completed", "read": rows, "mapped": rows, "quarantined": 0, "blank": 0, "added": rows,
            "rows": rows, "quarantine_rows": 0,
        }, name  # fmt: skip


def test_a_changed_value_of_a_sent_report_is_corrected_by_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers compose the gateway lazily (no signer until one is needed): a file that changes a
    report already built and stored in the outbox still gets its correction (revision 2) queued."""
    csv_file, xlsx_file = files(tmp_path)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        f"source,adapter,mapping,reporting_unit\n{csv_file.name},csv,{MAPPING},H15\n{xlsx_file.name},xlsx,{MAPPING},H15\n",
        encoding="utf-8",
    )
    destinations = (
        '{"national": {"url": "http://127.0.0.1:9/receive", "sign": false, "receiver": {"code": "G01", "name": "CP"}}}'
    )
    monkeypatch.setenv("GATEWAY_DESTINATIONS", destinations)
    first = run(tmp_path, "ingest", "--manifest", str(manifest), "--workers", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    built = run(tmp_path, "scheduler", "--once")
    assert built.returncode == 0, built.stdout + built.stderr
    csv_file.write_text(HAND_CSV.replace(",02647,10574", ",02647,10575"), encoding="utf-8")
    again = run(tmp_path, "ingest", "--manifest", str(manifest), "--workers", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "changed in reports already sent: 1" in again.stdout, again.stdout
    assert "correction queued: KTXH-THANG/BM02-XH/2026-THANG-10/H15 revision 2" in again.stdout, again.stdout
