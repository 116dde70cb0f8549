"""Benchmark: ingest a generated 1,000,000-value CSV and a 200,000-value XLSX through the real
adapters, mapping and SQLite store; print values per second and peak RSS (each ingest runs in its
own process so its peak is its own). Goal (issue 4): peak RSS under 300 MB (streaming).

The floor (issue 19), measured in the same run: reading the same CSV with Python's ``csv`` module and
converting every value with ``Decimal``, in-process, best of 3. Goal: ingest at least 25% of it. Each
ingest is best of ``--rounds`` (3), each round a fresh process and a fresh database, alternating CSV
and XLSX. The last line of the CSV puts the ingest beside two bounds measured in the same run: the
floor, and "store alone", a bare ``sqlite3`` ``executemany`` of the very rows the ingest stored into a
fresh, migrated database (in batches of 10,000, a commit each): what the observations table costs
per value on SQLite before any reading or mapping.

    .venv/bin/python bench/ingest_bench.py [--csv-values 1000000] [--xlsx-values 200000] [--rounds 3]
        [--database-url postgresql+psycopg://user@host:port/db]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def codes() -> list[tuple[str, str]]:
    import yaml

    spec = yaml.safe_load((ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml").read_text(encoding="utf-8"))
    return [(code, rule["unit"]) for code, rule in spec["indicators"].items()]


def communes() -> list[str]:
    from vietnam_provinces import Ward

    return sorted(f"{int(w.code):05d}" for w in Ward.iter_all() if int(w.province_code) == 15)


def month(index: int) -> tuple[int, int]:
    """The ``index``-th month from January 2026 as (month, year)."""
    return index % 12 + 1, 2026 + index // 12


def make_csv(path: Path, values: int) -> None:
    """Every value once, as a province's export has it: each (indicator, commune, month) one row,
    months following one another from 2026 when the indicators x communes of one month run out. (The
    file this bench wrote until issue 19 repeated each key about 31 times in a month, which no export
    does and which made every batch look up all earlier versions of its keys.)"""
    known = codes()
    places = communes()
    per_month = len(known) * len(places)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ma_chi_tieu", "ten_chi_tieu", "don_vi_tinh", "ky", "ma_dvhc", "gia_tri"])
        for i in range(values):
            code, unit = known[i % len(known)]
            number, year = month(i // per_month)
            place = places[i // len(known) % len(places)]
            w.writerow([code, "", unit, f"{year}-THANG-{number}", place, f"{i % 99991}.{i % 10}"])


def make_xlsx(path: Path, values: int) -> None:
    """A workbook of monthly sheets in the template shape (communes across, indicators down), every
    value once: as many sheets as the values need."""
    from openpyxl import Workbook

    known = codes()
    places = communes()
    per_sheet = len(known) * len(places)
    wb = Workbook(write_only=True)
    for index in range(max(1, -(-values // per_sheet))):
        number, year = month(index)
        ws = wb.create_sheet(f"T{number:02d}-{year}")
        for _ in range(5):
            ws.append(["tiêu đề"])
        ws.append(["STT", "Mã", "Tên", "ĐVT", *places])
        ws.append(["", "", "", "", *places])
        left = values - index * per_sheet
        for r, (code, unit) in enumerate(known):
            cells = min(len(places), max(0, left - r * len(places)))
            if not cells:
                break
            ws.append([r + 1, code, "chỉ tiêu", unit, *[float(r * 7 % 1000) + 0.5 for _ in range(cells)]])
    wb.save(path)


def floor(path: Path) -> float:
    """Values/s of the floor: ``csv.reader`` over the file and ``Decimal`` of every value, best of 3."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        count = 0
        with path.open(newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            header = next(rows)
            column = header.index("gia_tri")
            for row in rows:
                Decimal(row[column])
                count += 1
        best = min(best, time.perf_counter() - started)
    return count / best


def store_alone(database: str) -> float:
    """Seconds of a bare ``executemany`` of the rows the ingest stored in ``database`` into a fresh,
    migrated copy of the schema (batches of 10,000, one commit each; best of 3)."""
    import sqlite3

    from gateway.db.engine import make_engine, upgrade

    source = sqlite3.connect(database)
    columns = [r[1] for r in source.execute("PRAGMA table_info(observations)") if r[1] != "id"]
    rows = source.execute(f"SELECT {', '.join(columns)} FROM observations ORDER BY id").fetchall()
    runs = source.execute("SELECT * FROM ingest_runs").fetchall()
    source.close()
    insert = f"INSERT INTO observations ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    best = float("inf")
    for _ in range(3):
        path = f"{tempfile.mkdtemp()}/store.sqlite"
        upgrade(make_engine(f"sqlite:///{path}"))
        db = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            db.execute(f"PRAGMA {pragma}")
        for run in runs:
            db.execute(f"INSERT INTO ingest_runs VALUES ({', '.join('?' * len(run))})", run)
        started = time.perf_counter()
        for start in range(0, len(rows), 10_000):
            db.execute("BEGIN IMMEDIATE")
            db.executemany(insert, rows[start : start + 10_000])
            db.execute("COMMIT")
        best = min(best, time.perf_counter() - started)
        db.close()
    return best


def fresh_database(url: str) -> str:
    """A new, empty PostgreSQL database beside the one ``url`` names (one per ingest)."""
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"{server.database}_ingest_{os.getpid()}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(url)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{server.database}"'))
    admin.dispose()


def child(kind: str, path: str, store: bool, server: str | None) -> None:
    from sqlalchemy.orm import sessionmaker

    from adapters.csv_exports import CsvReader
    from adapters.xlsx_templates import XlsxTemplateLayout, XlsxTemplateReader
    from gateway.clock import SystemClock
    from gateway.db.engine import make_engine, upgrade
    from gateway.ingest import ingest
    from mappings.indicators import MAPPINGS_DIR, load_mapping

    database = f"{tempfile.mkdtemp()}/bench.sqlite"
    url = fresh_database(server) if server else f"sqlite:///{database}"
    engine = make_engine(url)
    upgrade(engine)
    reader = (
        CsvReader(Path(path))
        if kind == "csv"
        else XlsxTemplateReader(Path(path), XlsxTemplateLayout(admin_code_row=7, first_data_row=8))
    )
    start, cpu = time.perf_counter(), time.process_time()
    report = ingest(
        sessionmaker(engine),
        reader,
        load_mapping(MAPPINGS_DIR / "indicators" / "lao-cai-ktxh.yaml"),
        SystemClock(),
        reporting_unit="H15",
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine.dispose()
    if server:
        drop_database(url)
    print(
        json.dumps(
            {
                "read": report.read,
                "mapped": report.mapped,
                "quarantined": report.quarantined,
                "blank": report.blank,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "peak_rss_mb": peak,
                "store_alone_seconds": store_alone(database) if kind == "csv" and store and not server else None,
            }
        )
    )


def main() -> None:
    if len(sys.argv) in (5, 6) and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4] == "store", sys.argv[5] if len(sys.argv) == 6 else None)
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv-values", type=int, default=1_000_000)
    parser.add_argument("--xlsx-values", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3, help="ingests of each file, best taken (default 3)")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to ingest into (a fresh database per ingest, dropped after); default SQLite",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gw-ingest-"))
    csv_path, xlsx_path = work / "values.csv", work / "values.xlsx"
    make_csv(csv_path, args.csv_values)
    make_xlsx(xlsx_path, args.xlsx_values)
    csv_floor = floor(csv_path)
    best: dict[str, dict[str, float]] = {}
    for round_ in range(args.rounds):
        for kind, path in (("csv", csv_path), ("xlsx", xlsx_path)):
            mode = "store" if round_ == 0 else "-"
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(path), mode, *filter(None, [args.database_url])],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if kind not in best or r["seconds"] < best[kind]["seconds"]:
                if kind in best and r["store_alone_seconds"] is None:
                    r["store_alone_seconds"] = best[kind]["store_alone_seconds"]
                best[kind] = r
    for kind, path in (("csv", csv_path), ("xlsx", xlsx_path)):
        r = best[kind]
        rate = r["read"] / r["seconds"]
        size = path.stat().st_size / 1e6
        print(
            f"{kind:5} {r['read']:>9,} values read ({size:.0f} MB): {rate:>9,.0f} values/s "
            f"(best of {args.rounds}; {r['seconds']:.2f} s, CPU {r['cpu_seconds']:.2f} s), "
            f"peak RSS {r['peak_rss_mb']:.0f} MB (goal < 300 MB); mapped {r['mapped']:,}, "
            f"quarantined {r['quarantined']:,}, blank {r['blank']:,}"
        )
    r = best["csv"]
    rate = r["read"] / r["seconds"]
    where = "PostgreSQL" if args.database_url else "SQLite"
    line = (
        f"csv ingest {rate:,.0f} values/s ({where}); floor (csv + Decimal, best of 3) {csv_floor:,.0f} values/s: "
        f"{rate / csv_floor:.1%} of it (goal >= 25%)"
    )
    if r["store_alone_seconds"]:
        stored = r["mapped"] / r["store_alone_seconds"]
        line += (
            f"; store alone (bare executemany of the same rows) {stored:,.0f} values/s = "
            f"{stored / csv_floor:.1%} of the floor"
        )
    print(line)


if __name__ == "__main__":
    main()
