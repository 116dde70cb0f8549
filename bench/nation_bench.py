"""Benchmark: the national load, from source files to acknowledged packets, through the product's own
commands (issue 19).

Generates one month of the national load: 34 provinces x 300 indicators x every commune of the
province in the QD19-2025 list (the project's admin-unit table, ``mappings.admin_units``), 996,300
values in all. Half of the provinces send a CSV export (long format), the other half an XLSX workbook
in the template shape (a sheet ``T10-2026``, commune codes across, indicators down). Each province
has its own indicator mapping (its province code; two forms; a third of the indicators in
``triệu đồng`` converted exactly to ``tỷ đồng``).

Then it runs what an operator runs, each a real ``gateway`` process on one configuration:

- ``ingest``: one ``gateway ingest --manifest FILES.csv`` (each file's source, adapter, mapping and
  reporting unit; the process forks its workers, ``--ingest-workers N``; read, map, store
  observations, each file its own ingest run);
- ``build``: ``gateway scheduler --once`` (build every due report, validate, sign, store packets and
  deliveries in the outbox, publish wake-ups; with the 68 reports of the national load it forks its
  build workers, ``reports.build_workers``, one per core, counted in the stage's processes and RSS);
- ``deliver``: ``gateway worker`` until every delivery is acknowledged by the national simulator
  (``gateway sim national``, its own process on loopback, verifying every signature).

It prints a table of stages (seconds, values/s, processes, the largest peak RSS of one process of
the stage), checks that nothing was lost (every value read is an observation in an acknowledged
packet, or blank, or quarantined), prints each ratio against its floor measured in the same run
(ingest of the CSV files against ``csv`` + ``Decimal`` over the same files; report building alone,
in its own process on a copy of the database as ingest left it, signing and storing taken out,
against ``json.dumps`` + ``json.loads`` of the same documents; SQLite only, ``--no-floors`` skips
them), and ends with ``total_seconds=S values=N peak_rss_mb=M`` (M: the largest peak of any gateway
process).

    .venv/bin/python bench/nation_bench.py                   # the whole national load, embedded default
    .venv/bin/python bench/nation_bench.py --scale 10k,100k,1M   # cost against size, side by side
    .venv/bin/python bench/nation_bench.py --database-url postgresql+psycopg://... --broker-url amqp://...
        # with several sizes, a fresh database is created beside the given one for each
    taskset -c 0,1 .venv/bin/python bench/nation_bench.py     # as docs/performance.md measures it

Goals (issue 19): the whole load in < 60 s on two cores, every process < 500 MB peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NATIONAL_VALUES = 996_300  # 300 indicators x 3,321 communes
MONTH, YEAR = 10, 2026
PERIOD_KEY = f"{YEAR}-THANG-{MONTH}"
FORMS = ("BM01-KT", "BM02-XH")


@dataclass(frozen=True)
class Province:
    code: str  # two digits, QD19-2025
    name: str
    communes: tuple[str, ...]  # five-digit commune codes, QD19-2025

    @property
    def unit(self) -> str:
        """The province's reporting-unit code in the packets."""
        return f"H{self.code}"


def provinces(count: int, communes: int | None, fraction: float) -> list[Province]:
    """The first ``count`` provinces of the QD19-2025 list with their communes (all of them, or the
    first ``communes``, or the share ``fraction`` of each, at least one)."""
    from vietnam_provinces import Province as VnProvince

    from mappings.admin_units import admin_units

    table = admin_units("QD19-2025")
    names = {f"{int(p.code):02d}": p.name for p in VnProvince.iter_all()}
    by_province: dict[str, list[str]] = {}
    for commune, (province, _) in table.communes.items():
        by_province.setdefault(province, []).append(commune)
    chosen = []
    for code in sorted(table.provinces)[:count]:
        all_communes = sorted(by_province.get(code, []))
        keep = communes if communes is not None else max(1, round(len(all_communes) * fraction))
        chosen.append(Province(code, names.get(code, code), tuple(all_communes[:keep])))
    return chosen


def indicators(count: int) -> list[tuple[str, str, str, str]]:
    """(source code, national code, form, source unit) for ``count`` indicators."""
    out = []
    for i in range(1, count + 1):
        unit = "triệu đồng" if i % 3 == 0 else "người"
        out.append((f"T{i:04d}", f"{i:04d}", FORMS[i % 2], unit))
    return out


def write_mapping(path: Path, province: Province, rules: list[tuple[str, str, str, str]]) -> None:
    lines = [
        f'version: "nation-bench-{province.code}/1"',
        'regime: "KTXH-THANG"',
        f'description: "Bench: {province.name}"',
        'admin_code_list: "QD19-2025"',
        f'province_code: "{province.code}"',
        "forms:",
        *(f'  {form}:\n    name: "{form}"' for form in FORMS),
        "indicators:",
    ]
    for source, national, form, unit in rules:
        national_unit = "tỷ đồng" if unit == "triệu đồng" else unit
        lines += [
            f"  {source}:",
            f'    national_code: "{national}"',
            f'    national_name: "Chỉ tiêu {national}"',
            f"    form: {form}",
            f'    unit: "{unit}"',
            f'    national_unit: "{national_unit}"',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def value(i: int, c: int) -> str:
    """An exact decimal with up to three places (no value is blank: every cell counts)."""
    n = (i * 7919 + c * 104729) % 9_999_991
    return f"{n // 1000}.{n % 1000:03d}" if n % 4 else str(n // 1000)


def write_csv(path: Path, province: Province, rules: list[tuple[str, str, str, str]]) -> int:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ma_chi_tieu", "ten_chi_tieu", "don_vi_tinh", "ky", "ma_dvhc", "gia_tri"])
        for i, (source, _, _, unit) in enumerate(rules):
            for c, commune in enumerate(province.communes):
                w.writerow([source, f"Chỉ tiêu {source}", unit, PERIOD_KEY, commune, value(i, c)])
    return len(rules) * len(province.communes)


def write_xlsx(path: Path, province: Province, rules: list[tuple[str, str, str, str]]) -> int:
    """The template shape the XLSX reader's default layout reads: title rows, commune codes in row 7,
    indicators from row 8 (STT, code, name, unit, then one value per commune)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(f"T{MONTH:02d}-{YEAR}")
    ws.append([f"BÁO CÁO KINH TẾ - XÃ HỘI THÁNG {MONTH}/{YEAR}"])
    ws.append([f"Tỉnh/Thành phố: {province.name}"])
    for _ in range(3):
        ws.append([])
    ws.append(["STT", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", *["Xã/Phường"] * len(province.communes)])
    ws.append(["", "", "", "", *province.communes])
    for i, (source, _, _, unit) in enumerate(rules):
        ws.append(
            [i + 1, source, f"Chỉ tiêu {source}", unit, *(float(value(i, c)) for c in range(len(province.communes)))]
        )
    wb.save(path)
    return len(rules) * len(province.communes)


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    processes: int = 0
    peak_rss_mb: float = 0.0
    values: int = 0

    def add(self, seconds: float, rss_mb: float) -> None:
        self.seconds += seconds
        self.processes += 1
        self.peak_rss_mb = max(self.peak_rss_mb, rss_mb)


@dataclass
class Result:
    label: str
    values: int
    files: int
    packets: int
    stages: list[Stage] = field(default_factory=list)
    checks: str = ""
    floors: list[str] = field(default_factory=list)
    """Each ratio of the run against its floor, measured in the same run (one line each)."""

    @property
    def total(self) -> float:
        return sum(s.seconds for s in self.stages)

    @property
    def peak(self) -> float:
        return max((s.peak_rss_mb for s in self.stages), default=0.0)


def gateway_bin() -> str:
    return str(Path(sys.executable).parent / "gateway")


def wait_rss(proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    """Wait for a child and return its exit status and its own peak RSS in MB (``wait4``)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024


def descendants_peak_mb(root: int, seen_pids: set[int]) -> float:
    """The largest peak RSS (``VmHWM``) among the live descendants of ``root`` (its worker processes:
    ``wait4`` tells only of the child itself), read from /proc; 0 where there is no /proc. Adds the
    descendants found to ``seen_pids``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
    peak = 0.0
    for pid in parents:
        up, seen = parents.get(pid), 0
        while up is not None and up != root and seen < 64:
            up, seen = parents.get(up), seen + 1
        if up != root:
            continue
        seen_pids.add(pid)
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            continue
    return peak


def run_timed(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Run one command to its end: its seconds, the largest peak RSS of it or any process it started
    (the scheduler's build workers; sampled every 0.2 s while it runs), and how many processes that
    was (itself and the descendants seen)."""
    import threading

    started = time.perf_counter()
    peak = [0.0]
    pids: set[int] = set()
    done = threading.Event()
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], descendants_peak_mb(proc.pid, pids))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code, rss = wait_rss(proc)
        done.set()
        sampler.join()
        rss = max(rss, peak[0])
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{' '.join(command)} exited {code}; see {log}:\n{log.read_text(errors='replace')[-3000:]}")
    return seconds, rss, 1 + len(pids)


def manifest_result(printed: str) -> tuple[int, float, dict[str, float]]:
    """From what ``gateway ingest --manifest`` printed: its workers, their largest peak RSS (MB) and
    each file's own run time (seconds, by file name)."""
    import re

    summary = re.search(r"(\d+) worker\(s\), largest worker peak RSS (\d+) MB", printed)
    if summary is None:
        raise SystemExit(f"gateway ingest --manifest printed no summary:\n{printed[-3000:]}")
    per_file = {
        Path(m["path"]).name: float(m["seconds"])
        for m in re.finditer(r"^(?P<path>\S+) \((?P<seconds>[\d.]+) s\): ", printed, re.MULTILINE)
    }
    return int(summary[1]), float(summary[2]), per_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(work: Path, pki: Path, sim_url: str, database_url: str | None, broker_url: str | None) -> Path:
    from gateway.sim.national import RECEIVE_PATH

    database = f'[database]\nurl = "{database_url}"\n' if database_url else ""
    broker = f'url = "{broker_url}"\n' if broker_url else ""
    config = work / "gateway.toml"
    config.write_text(
        f'data_dir = "{work / "data"}"\n'
        f"{database}"
        f"[broker]\n{broker}polling_interval = 0.05\n"
        "[worker]\nconcurrency = 2\nbatch_size = 1\nsweep_interval = 0.5\n"
        "[metrics]\nworker_port = 0\nscheduler_port = 0\n"
        '[log]\nlevel = "WARNING"\n'
        f'[[signing.keys]]\npath = "{pki / "signer.p12"}"\npassphrase_file = "{pki / "passphrase.txt"}"\n'
        f'[trust]\ndir = "{pki / "trust"}"\n'
        "[destinations.national]\n"
        f'url = "{sim_url}{RECEIVE_PATH}"\n'
        "timeout = 120\ntotal_timeout = 300\nmax_concurrency = 2\n"
        'receiver = { code = "G01", name = "Hệ thống thông tin báo cáo Chính phủ" }\n'
        "[destinations.national.retry]\ninitial_wait = 0.1\nmax_wait = 2.0\n",
        encoding="utf-8",
    )
    return config


def start_sim(pki: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [gateway_bin(), "sim", "national", "--port", str(port), "--pki", str(pki)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/sim/stats", timeout=1, trust_env=False)
            return proc, url
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise SystemExit(f"the simulator exited {proc.returncode}; see {log}") from None
            time.sleep(0.1)
    raise SystemExit("the simulator did not start")


def counts(database_url: str) -> dict[str, int]:
    """What the database says after the run: read/mapped/blank/quarantined of every ingest run,
    observations and those in a packet, packets, their values, deliveries by state."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:

        def one(sql: str) -> int:
            return int(conn.execute(text(sql)).scalar() or 0)

        out = {
            "read": one("SELECT COALESCE(SUM(read), 0) FROM ingest_runs"),
            "mapped": one("SELECT COALESCE(SUM(mapped), 0) FROM ingest_runs"),
            "quarantined": one("SELECT COALESCE(SUM(quarantined), 0) FROM ingest_runs"),
            "blank": one("SELECT COALESCE(SUM(blank), 0) FROM ingest_runs"),
            "observations": one("SELECT COUNT(*) FROM observations"),
            "in_packets": one("SELECT COUNT(*) FROM observation_links"),
            "packets": one("SELECT COUNT(*) FROM packets WHERE packet_type = 'SO_LIEU_BAO_CAO'"),
            "packet_values": one(
                "SELECT COALESCE(SUM(value_count), 0) FROM packets WHERE packet_type = 'SO_LIEU_BAO_CAO'"
            ),
            "deliveries": one("SELECT COUNT(*) FROM deliveries"),
            "acknowledged": one("SELECT COUNT(*) FROM deliveries WHERE state = 'acknowledged'"),
        }
    engine.dispose()
    return out


def acknowledged(database_url: str) -> tuple[int, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT COUNT(*), SUM(CASE WHEN state = 'acknowledged' THEN 1 ELSE 0 END) FROM deliveries")
            ).one()
        return int(row[1] or 0), int(row[0] or 0)
    finally:
        engine.dispose()


def run_scale(label: str, args: argparse.Namespace, fraction: float, run: int = 0) -> Result:
    from gateway.signing.testpki import make_test_pki

    work = Path(tempfile.mkdtemp(prefix=f"gw-nation-{label}-"))
    log = work / "processes.log"
    chosen = provinces(args.provinces, args.communes, fraction)
    rules = indicators(args.indicators)
    sources: list[tuple[Province, Path, str, Path]] = []
    values = 0
    started = time.perf_counter()
    for n, province in enumerate(chosen):
        mapping = work / f"mapping-{province.code}.yaml"
        write_mapping(mapping, province, rules)
        kind = "csv" if n % 2 == 0 else "xlsx"
        path = work / f"{province.code}.{kind}"
        values += (write_csv if kind == "csv" else write_xlsx)(path, province, rules)
        sources.append((province, path, kind, mapping))
    print(
        f"[{label}] generated {len(sources)} files ({sum(1 for s in sources if s[2] == 'csv')} CSV, "
        f"{sum(1 for s in sources if s[2] == 'xlsx')} XLSX), {values:,} values, "
        f"{sum(p.stat().st_size for _, p, _, _ in sources) / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s "
        f"(not timed); work dir {work}",
        flush=True,
    )
    pki = make_test_pki(work / "pki", province="H15")
    env = {**os.environ, "GATEWAY_DATA_DIR": str(work / "data"), "PYTHONPATH": str(ROOT)}
    env.pop("GATEWAY_CONFIG", None)
    sim, sim_url = start_sim(pki, env, log)
    try:
        server_url = fresh_database(args.database_url, f"{label}_{run}") if args.fresh_databases else args.database_url
        config = write_config(work, pki, sim_url, server_url, args.broker_url)
        env["GATEWAY_CONFIG"] = str(config)
        database_url = server_url or f"sqlite:///{work / 'data' / 'gateway.sqlite'}"
        if server_url:
            run_timed([gateway_bin(), "db", "upgrade"], env, log)  # schema first, not timed

        ingest = Stage("ingest", values=values)
        by_kind = {"csv": Stage("ingest csv"), "xlsx": Stage("ingest xlsx")}
        manifest = work / "manifest.csv"
        manifest.write_text(
            "source,adapter,mapping,reporting_unit\n"
            + "".join(f"{path.name},{kind},{mapping.name},{prov.unit}\n" for prov, path, kind, mapping in sources),
            encoding="utf-8",
        )
        command = [gateway_bin(), "ingest", "--manifest", str(manifest)]
        if args.ingest_workers:
            command += ["--workers", str(args.ingest_workers)]
        mark = log.stat().st_size if log.exists() else 0
        seconds, rss, _ = run_timed(command, env, log)
        printed = log.read_bytes()[mark:].decode("utf-8", "replace")
        workers, worker_rss, per_file = manifest_result(printed)
        ingest.seconds, ingest.processes, ingest.peak_rss_mb = seconds, 1 + workers, max(rss, worker_rss)
        for province, path, kind, _ in sources:  # the files' own run times (in parallel: they add up past the wall)
            by_kind[kind].seconds += per_file[path.name]
            by_kind[kind].processes += 1
            by_kind[kind].values += len(rules) * len(province.communes)
        detail = None
        if not args.database_url and not args.no_floors:  # report building alone, on a copy (SQLite)
            detail = build_detail(work, config, database_url, env)
        build = Stage("build", values=values)
        seconds, rss, processes = run_timed([gateway_bin(), "scheduler", "--once"], env, log)
        build.add(seconds, rss)
        build.processes = processes  # the scheduler and its build workers

        deliver = Stage("deliver", values=values)
        started = time.perf_counter()
        with log.open("ab") as out:
            worker = subprocess.Popen([gateway_bin(), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + args.timeout
            while True:
                done, total = acknowledged(database_url)
                if total and done == total:
                    break
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited {worker.returncode}; see {log}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"{done} of {total} deliveries acknowledged after {args.timeout:.0f} s; see {log}")
                time.sleep(0.05)
            seconds = time.perf_counter() - started
        finally:
            worker.send_signal(signal.SIGTERM)
        _, rss = wait_rss(worker)
        deliver.add(seconds, rss)
        import httpx

        stats = httpx.get(f"{sim_url}/sim/stats", timeout=10, trust_env=False).json()
    finally:
        sim.send_signal(signal.SIGTERM)
        _, sim_rss = wait_rss(sim)
    c = counts(database_url)
    lost = c["read"] - c["blank"] - c["quarantined"] - c["in_packets"]
    problems = []
    if c["read"] != values:
        problems.append(f"read {c['read']} of {values} values generated")
    if c["read"] != c["mapped"] + c["quarantined"] + c["blank"]:
        problems.append("read != mapped + quarantined + blank")
    if c["observations"] != c["in_packets"] or c["packet_values"] != c["in_packets"]:
        problems.append(f"{c['observations']} observations, {c['in_packets']} in packets, {c['packet_values']} sent")
    if c["acknowledged"] != c["deliveries"] or stats.get("unique_packets") != c["packets"]:
        problems.append(
            f"{c['acknowledged']}/{c['deliveries']} acknowledged, simulator saw {stats.get('unique_packets')}"
        )
    checks = (
        f"read={c['read']} mapped={c['mapped']} quarantined={c['quarantined']} blank={c['blank']} "
        f"packets={c['packets']} acknowledged={c['acknowledged']} lost={lost}; simulator peak RSS {sim_rss:.0f} MB"
    )
    if problems or lost:
        raise SystemExit(f"[{label}] the run lost or miscounted values: {'; '.join(problems)} ({checks})")
    result = Result(label, values, len(sources), c["packets"], [ingest, build, deliver], checks)
    if not args.no_floors:
        result.floors = floors(label, [p for _, p, kind, _ in sources if kind == "csv"], ingest, by_kind, detail)
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return result


def fresh_database(url: str, label: str) -> str:
    """A new, empty PostgreSQL database beside the one ``url`` names, for one size of the run."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"{server.database}_{label.lower()}_{os.getpid()}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def csv_floor(paths: list[Path]) -> tuple[int, float]:
    """The ingest floor of issue 19 over the run's CSV files: ``csv.reader`` and ``Decimal`` of every
    value, in-process; best of 3. Returns (values, seconds)."""
    from decimal import Decimal

    best, count = float("inf"), 0
    for _ in range(3):
        started = time.perf_counter()
        count = 0
        for path in paths:
            with path.open(newline="", encoding="utf-8") as f:
                rows = csv.reader(f)
                column = next(rows).index("gia_tri")
                for row in rows:
                    Decimal(row[column])
                    count += 1
        best = min(best, time.perf_counter() - started)
    return count, best


def build_detail(work: Path, config: Path, database_url: str, env: dict[str, str]) -> dict[str, float]:
    """Report building alone, measured in its own process on a copy of the database as ingest left it
    (the run itself goes on with the original): ``build_in_session`` for the period, with the time
    spent signing and storing in the outbox taken out, against the packets floor of issue 3
    (``json.dumps`` + ``json.loads`` of the same unsigned documents)."""
    import json
    import sqlite3

    copy = work / "build-copy"
    copy.mkdir()
    source = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy / "gateway.sqlite")
    source.backup(target)
    source.close()
    target.close()
    text = config.read_text(encoding="utf-8").replace(f'data_dir = "{work / "data"}"', f'data_dir = "{copy}"')
    copy_config = copy / "gateway.toml"
    copy_config.write_text(text, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, __file__, "--build-detail", str(copy_config)],
        env={**env, "GATEWAY_CONFIG": str(copy_config), "GATEWAY_DATA_DIR": str(copy)},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"the report-building measurement failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    detail: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return detail


def build_detail_child(config: Path) -> None:
    """In the child: build every report of the period in-process, timing the parts (wall clock; CPU
    time of this process with ``BENCH_CLOCK=cpu``, steadier when the machine is shared)."""
    import gc
    import json
    import resource

    from sqlalchemy import select

    import gateway.outbox
    import gateway.reports
    from gateway.bootstrap import bootstrap
    from gateway.calendar.regimes import load_regime
    from gateway.db.models import Observation
    from gateway.reports import build_in_session, build_report
    from gateway.settings import load_settings

    clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
    gw = bootstrap(load_settings(config), migrate=False)
    spent = {"sign": 0.0, "store": 0.0, "link": 0.0}
    unsigned: list[bytes] = []
    signer = gw.sealer.signer
    if signer is not None:
        sign = signer.sign

        def timed_sign(payload: bytes) -> bytes:
            unsigned.append(payload)
            started = clock()
            try:
                return sign(payload)
            finally:
                spent["sign"] += clock() - started

        signer.sign = timed_sign  # type: ignore[method-assign,assignment]
    def timed(module: Any, name: str, part: str) -> None:
        """Replace ``module.name`` by a wrapper adding its time to ``spent[part]`` (the build code
        looks these up as module attributes at each call)."""
        inner = getattr(module, name)

        def wrapper(*a: object, **k: object) -> object:
            started = clock()
            try:
                return inner(*a, **k)
            finally:
                spent[part] += clock() - started

        setattr(module, name, wrapper)

    timed(gateway.outbox, "store", "store")
    timed(gateway.outbox, "store_many", "store")
    timed(gateway.reports, "link_ids", "link")
    regime = load_regime("KTXH-THANG")
    with gw.sessions() as session:  # warm-up, rolled back: schemas, codecs and keys loaded once
        sample = list(session.scalars(select(Observation).where(Observation.packet_id.is_(None)).limit(20)))
        warm = session.begin_nested()
        first = sample[0]
        build_report(
            session,
            regime,
            first.form_code,
            first.period_key,
            first.reporting_unit,
            [o for o in sample if (o.form_code, o.reporting_unit) == (first.form_code, first.reporting_unit)],
            sender=gw.settings.sender,
            destinations=gw.settings.destinations,
            sealer=gw.sealer,
            clock=gw.clock,
            fmt=None,
            actor="bench",
        )
        warm.rollback()
        session.rollback()  # nothing of the warm-up stays
    unsigned.clear()
    spent.update(sign=0.0, store=0.0, link=0.0)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = clock()
    with gw.sessions.begin() as session:
        built = build_in_session(
            session,
            regime,
            sender=gw.settings.sender,
            destinations=gw.settings.destinations,
            sealer=gw.sealer,
            clock=gw.clock,
            period_key=PERIOD_KEY,
        )
        built_at = clock()
    total = clock() - started
    docs = [json.loads(p) for p in unsigned]
    floor = float("inf")
    for _ in range(3):  # as bench/packets_bench.py measures it: best of 3, the collector paused
        gc.collect()
        gc.disable()
        began = clock()
        for doc in docs:
            json.loads(json.dumps(doc, ensure_ascii=False))
        floor = min(floor, clock() - began)
        gc.enable()
    print(
        json.dumps(
            {
                "packets": len(built),
                "values": sum(b.values for b in built),
                "total": total,
                "sign": spent["sign"],
                "store": spent["store"],
                "link": spent["link"],
                "commit": total - (built_at - started),
                "floor": floor,
                "rss_before_mb": rss_before,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def floors(
    label: str, csv_paths: list[Path], ingest: Stage, by_kind: dict[str, Stage], detail: dict[str, float] | None
) -> list[str]:
    """The run's ratios against their floors, measured in this run (issue 19's goals beside each).

    The ingest is one ``gateway ingest --manifest`` process with a pool of workers: the stage's rate
    is the wall clock's (start-up included); per kind, each file's own run time in its worker."""
    lines = []
    csv_stage = by_kind["csv"]
    if csv_paths:
        count, seconds = csv_floor(csv_paths)
        floor_rate = count / seconds
        wall = ingest.values / ingest.seconds
        if csv_stage.seconds:
            rate = csv_stage.values / csv_stage.seconds
            per_worker = f"csv files {rate:,.0f} values/s per worker ({csv_stage.processes} runs, their own time)"
            ratios = f"{wall / floor_rate:.1%} wall, {rate / floor_rate:.1%} per worker"
        else:  # each file's time is printed to a tenth of a second: tiny files show 0.0
            per_worker = f"csv files under 0.05 s each ({csv_stage.processes} runs, too short to rate)"
            ratios = f"{wall / floor_rate:.1%} wall"
        lines.append(
            f"[{label}] ingest: {wall:,.0f} values/s wall, all {ingest.values:,} values, one process and "
            f"{ingest.processes - 1} workers (start-up included); {per_worker}; floor csv + Decimal "
            f"{floor_rate:,.0f} values/s: {ratios} (goal >= 25%)"
        )
    xlsx_stage = by_kind["xlsx"]
    if xlsx_stage.seconds:
        lines.append(
            f"[{label}] ingest xlsx: {xlsx_stage.values / xlsx_stage.seconds:,.0f} values/s per worker "
            f"({xlsx_stage.processes} runs, their own time)"
        )
    if detail:
        building = detail["total"] - detail["sign"] - detail["store"]
        made = building - detail["link"] - detail["commit"]
        lines.append(
            f"[{label}] report building in-process ({detail['packets']:.0f} packets, {detail['values']:,.0f} values, "
            f"on a copy): {detail['total']:.2f} s = building {building:.2f} s + signing {detail['sign']:.2f} s + "
            f"storing {detail['store']:.2f} s; packets floor (json dumps + loads of the same documents) "
            f"{detail['floor']:.2f} s: building {building / detail['floor']:.1f}x the floor (goal <= 2x); "
            f"of the building, linking observations to packets {detail['link']:.2f} s and the commit "
            f"{detail['commit']:.2f} s, the rest (reading, checking, writing the packets) {made:.2f} s = "
            f"{made / detail['floor']:.1f}x the floor; "
            f"peak RSS {detail['peak_rss_mb']:.0f} MB ({detail['rss_before_mb']:.0f} MB before building)"
        )
    return lines


SIZES = {"10k": 10_000, "100k": 100_000, "1m": NATIONAL_VALUES, "national": NATIONAL_VALUES}


def parse_scale(text: str) -> list[tuple[str, float]]:
    out = []
    for part in text.split(","):
        key = part.strip().lower()
        if key in SIZES:
            target = SIZES[key]
        else:
            try:
                target = int(
                    float(key.rstrip("km")) * (1000 if key.endswith("k") else 1_000_000 if key.endswith("m") else 1)
                )
            except ValueError:
                raise SystemExit(f"--scale: {part!r} is not a size (10k, 100k, 1M or a number of values)") from None
        out.append((part.strip(), min(1.0, target / NATIONAL_VALUES)))
    return out


def print_table(results: list[Result]) -> None:
    print()
    print(f"{'stage':10}" + "".join(f" | {r.label + f' ({r.values:,} values)':>38}" for r in results))
    print(f"{'':10}" + "".join(f" | {'seconds':>8} {'values/s':>10} {'procs':>5} {'peak MB':>8}" for _ in results))
    for i, name in enumerate(("ingest", "build", "deliver")):
        row = f"{name:10}"
        for r in results:
            s = r.stages[i]
            row += f" | {s.seconds:8.1f} {s.values / s.seconds:10,.0f} {s.processes:5} {s.peak_rss_mb:8.0f}"
        print(row)
    row = f"{'total':10}"
    for r in results:
        row += f" | {r.total:8.1f} {r.values / r.total:10,.0f} {sum(s.processes for s in r.stages):5} {r.peak:8.0f}"
    print(row)
    for r in results:
        print(f"[{r.label}] {r.files} files, {r.packets} packets; {r.checks}")
    for r in results:
        for line in r.floors:
            print(line)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--build-detail":
        build_detail_child(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="1M", help="sizes to run side by side, e.g. 10k,100k,1M (default 1M)")
    parser.add_argument("--provinces", type=int, default=34, help="the first N provinces of QD19-2025")
    parser.add_argument("--indicators", type=int, default=300)
    parser.add_argument("--communes", type=int, help="at most N communes per province (overrides --scale)")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL (an empty database; with several sizes, a new database per size is created beside it); "
        "default: SQLite in the work dir",
    )
    parser.add_argument("--broker-url", help="amqp://... for RabbitMQ; default: kombu over SQLAlchemy")
    parser.add_argument(
        "--ingest-workers", type=int, help="gateway ingest --manifest --workers N (default: its own, the cores)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for every acknowledgement")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (files, database, logs)")
    parser.add_argument(
        "--no-floors", action="store_true", help="skip the floors (csv + Decimal; report building on a copy)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each size N times and show the fastest (issue 19: best of 3)"
    )
    args = parser.parse_args()
    scales = [("custom", 1.0)] if args.communes is not None else parse_scale(args.scale)
    # Each run needs an empty database: with several sizes or runs, one is created per run on the server.
    args.fresh_databases = bool(args.database_url) and (len(scales) > 1 or args.repeat > 1)
    results = []
    for label, fraction in scales:
        runs = [run_scale(label, args, fraction, run) for run in range(max(1, args.repeat))]
        best = min(runs, key=lambda r: r.total)
        if len(runs) > 1:
            print(
                f"[{label}] {len(runs)} runs, totals {', '.join(f'{r.total:.1f}' for r in runs)} s: the table shows "
                f"the fastest; the largest process of any run {max(r.peak for r in runs):.0f} MB"
            )
        results.append(best)
    print_table(results)
    last = results[-1]
    print(f"goal: total < 60 s and every process < 500 MB for the national load ({NATIONAL_VALUES:,} values)")
    print(f"total_seconds={last.total:.1f} values={last.values} peak_rss_mb={last.peak:.0f}")


if __name__ == "__main__":
    main()
