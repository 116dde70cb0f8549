"""The ``gateway`` command line. Thin: parse arguments, build settings, call a use case, print.

Every command honours ``GATEWAY_DATA_DIR`` and ``--config``/``GATEWAY_CONFIG``. Domain errors are
printed as one clear line (never a traceback) with exit code 2 for configuration and unreadable input,
1 for a failed check.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Column, Table

from gateway.errors import ConfigurationError, GatewayError, PacketInvalid
from gateway.settings import Settings, load_settings

app = typer.Typer(
    help="Gateway between a provincial reporting system and the national reporting network "
    "(QCVN 125:2021/BTTTT packets).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
sim_app = typer.Typer(help="Simulated peers that fail on purpose (loopback only).", no_args_is_help=True)
contracts_app = typer.Typer(help="Wire profiles and their schemas.", no_args_is_help=True)
deliveries_app = typer.Typer(help="Inspect deliveries.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Inspect quarantined input.", no_args_is_help=True)
mapping_app = typer.Typer(help="Indicator mapping files.", no_args_is_help=True)
backup_app = typer.Typer(
    help="Backups of the database, with a manifest of row counts and a hash.", no_args_is_help=True
)
reports_app = typer.Typer(help="Reports after sending: revisions, corrections, recalls.", no_args_is_help=True)
destinations_app = typer.Typer(help="Destinations: state, pause and resume.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys and trust anchors.", no_args_is_help=True)
clients_app = typer.Typer(help="Machine clients of the API (ministries, receivers, scrapers).", no_args_is_help=True)
users_app = typer.Typer(help="Operator accounts of the API and dashboard.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (sim_app, "sim"),
    (contracts_app, "contracts"),
    (deliveries_app, "deliveries"),
    (quarantine_app, "quarantine"),
    (destinations_app, "destinations"),
    (reports_app, "reports"),
    (backup_app, "backup"),
    (mapping_app, "mapping"),
    (audit_app, "audit"),
    (keys_app, "keys"),
    (clients_app, "clients"),
    (users_app, "users"),
):
    app.add_typer(sub, name=name)

console = Console()
err = Console(stderr=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML configuration file")]


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


def _wire_format(value: str, option: str) -> Literal["json", "xml"]:
    """A packet encoding named on the command line, checked (and so narrowed) once."""
    if value == "json":
        return "json"
    if value == "xml":
        return "xml"
    raise typer.BadParameter(f"{option} must be json or xml")


def _configure_logs(settings: Settings) -> None:
    from gateway import logs

    logs.configure(settings.log.level, settings.log.format)


def _gateway(config: Path | None, migrate: bool | None = None):  # type: ignore[no-untyped-def]
    from gateway.bootstrap import bootstrap

    return bootstrap(_settings(config), migrate=migrate)


# ------------------------------------------------------------------ demo / processes
@app.command()
def demo(
    config: ConfigOpt = None,
    faults: Annotated[str, typer.Option(help="simulator fault profile: none, mild, heavy")] = "mild",
    fmt: Annotated[str, typer.Option("--format", help="packet encoding: json or xml")] = "json",
    keep_serving: Annotated[bool, typer.Option("--keep-serving", help="leave the API up afterwards")] = False,
    packets: Annotated[int | None, typer.Option(help="total packets: adds synthetic load reports")] = None,
) -> None:
    """Run the whole path on the embedded default against the bundled national-system simulator."""
    from gateway.demo import run_demo

    result = run_demo(
        _settings(config),
        fault_profile=faults,
        fmt=_wire_format(fmt, "--format"),
        console=console,
        keep_serving=keep_serving,
        packets=packets,
    )
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the API (health, readiness, status intake)."""
    import uvicorn

    from gateway.api.app import create_app

    gw = _gateway(config)
    uvicorn.run(create_app(gw), host=host or gw.settings.api.host, port=port or gw.settings.api.port, log_level="info")


@app.command()
def worker(
    config: ConfigOpt = None,
    concurrency: Annotated[int | None, typer.Option()] = None,
    worker_id: Annotated[str | None, typer.Option("--id")] = None,
) -> None:
    """Deliver packets: consume wake-ups, attempt, retry, sweep. Stops cleanly on SIGINT/SIGTERM."""
    import signal

    from gateway.worker import Worker

    gw = _gateway(config)
    _configure_logs(gw.settings)
    if gw.settings.metrics.worker_port:
        from gateway import metrics

        metrics.serve(gw, gw.settings.metrics.host, gw.settings.metrics.worker_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        Worker(gw, worker_id=worker_id, concurrency=concurrency).run(stop)
    finally:
        gw.close()


@app.command()
def run(config: ConfigOpt = None, concurrency: Annotated[int | None, typer.Option()] = None) -> None:
    """Single node: the API, a delivery worker and the scheduler in one process. Stops cleanly on
    SIGINT/SIGTERM."""
    import signal

    import uvicorn

    from gateway.api.app import create_app
    from gateway.worker import Worker

    gw = _gateway(config)
    _configure_logs(gw.settings)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(gw), host=gw.settings.api.host, port=gw.settings.api.port, log_level="info", lifespan="off"
        )
    )
    api = threading.Thread(target=server.run, name="api", daemon=True)
    api.start()
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()
        server.should_exit = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    from gateway.scheduler import Scheduler

    sched = threading.Thread(target=Scheduler(gw, name="run").loop, args=(stop,), name="scheduler", daemon=True)
    sched.start()
    console.print(
        f"gateway running: API on http://{gw.settings.api.host}:{gw.settings.api.port}, worker and scheduler on"
    )
    try:
        Worker(gw, concurrency=concurrency).run(stop)
    finally:
        server.should_exit = True
        api.join(timeout=10)
        gw.close()


@app.command("calendar")
def calendar_cmd(
    year: Annotated[int, typer.Option(help="calendar year")],
    regime: Annotated[str | None, typer.Option(help="a regime code from mappings/regimes")] = None,
    frequency: Annotated[str | None, typer.Option(help="THANG, QUY, 6THANG, 9THANG or NAM")] = None,
    deadline_day: Annotated[int | None, typer.Option(help="deadline: day N of the period's last month")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Periods, data windows and deadlines (nominal and effective) of one year."""
    from gateway.calendar.regimes import check, load_regime, regime_for, runs

    if regime:
        chosen = load_regime(regime)
    elif frequency and deadline_day:
        chosen = regime_for(frequency, deadline_day)
        check(chosen, years=range(year, year + 1))
    else:
        raise typer.BadParameter("give --regime CODE, or --frequency and --deadline-day")
    rows = [r.as_row() for r in runs(chosen, year)]
    if fmt == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(*rows[0].keys(), title=f"{chosen.code}: {chosen.name} ({year})")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@app.command()
def scheduler(
    config: ConfigOpt = None,
    once: Annotated[bool, typer.Option("--once", help="execute due runs once and exit")] = False,
    interval: Annotated[float, typer.Option(help="seconds between ticks")] = 60.0,
) -> None:
    """Build and enqueue every report whose push date has come; catch up missed runs. Safe to run twice."""
    import signal

    from gateway.scheduler import Scheduler

    gw = _gateway(config)
    _configure_logs(gw.settings)
    sched = Scheduler(gw, name=f"scheduler:{__import__('os').getpid()}")
    if once:
        for r in sched.tick():
            console.print(
                f"{r.regime} {r.period_key}: {r.packets} packet(s){' LATE' if r.late else ''}"
                f"{' (' + r.note + ')' if r.note else ''}"
            )
        gw.close()
        return
    if gw.settings.metrics.scheduler_port:
        from gateway import metrics

        metrics.serve(gw, gw.settings.metrics.host, gw.settings.metrics.scheduler_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        sched.loop(stop, interval)
    finally:
        gw.close()


@app.command("runs")
def runs_list(config: ConfigOpt = None, limit: Annotated[int, typer.Option()] = 50) -> None:
    """Scheduled runs executed so far, newest first, with late flags."""
    from sqlalchemy import select

    from gateway.db.models import ScheduledRun

    gw = _gateway(config)
    table = Table("regime", "period", "deadline", "executed", "by", "packets", "late", "note")
    with gw.sessions() as session:
        for r in session.scalars(select(ScheduledRun).order_by(ScheduledRun.id.desc()).limit(limit)):
            table.add_row(
                r.regime_code,
                r.period_key,
                r.deadline.isoformat(),
                r.executed_at.isoformat(timespec="minutes"),
                r.executed_by,
                str(r.packets),
                "[red]LATE[/]" if r.late else "",
                r.note or "",
            )
    console.print(table)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, revision: str = "head") -> None:
    """Migrate the database schema (Alembic) to ``revision``."""
    from gateway.db.engine import make_engine, upgrade

    settings = _settings(config)
    engine = make_engine(settings.database_url)
    upgrade(engine, revision)
    console.print(f"database at {revision}: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("copy")
def db_copy(
    source_url: Annotated[str, typer.Argument(help="SQLAlchemy URL to copy from, e.g. sqlite:///data/gateway.sqlite")],
    config: ConfigOpt = None,
) -> None:
    """Copy all data from SOURCE_URL into the configured database (e.g. SQLite -> PostgreSQL).
    Stop every gateway process first; the target is migrated and must be empty."""
    from gateway.backup import copy_database
    from gateway.db.engine import make_engine, upgrade

    settings = _settings(config)
    target = make_engine(settings.database_url)
    upgrade(target)
    counts = copy_database(make_engine(source_url), target)
    console.print(
        f"copied {sum(counts.values())} rows in {len(counts)} tables into "
        f"{target.url.render_as_string(hide_password=True)}"
    )


PkiOpt = Annotated[
    Path | None,
    typer.Option(
        help="test PKI (gateway keys test-pki) to verify what arrives and sign the status packets; "
        "default {data_dir}/test-pki, made on first use"
    ),
]
NoSignaturesOpt = Annotated[bool, typer.Option("--no-signatures", help="neither verify nor sign")]
RetainOpt = Annotated[
    int, typer.Option(min=1, help="packet bodies kept for inspection and reconciliation (all are counted)")
]


def _sim_signing(pki: Path | None, party: str, off: bool) -> tuple[Any, Any]:
    """Simulators sign and verify by default, like the national system, with a test PKI."""
    if off:
        return None, None
    from gateway.packets.profile import load_profile
    from gateway.signing.testpki import make_test_pki
    from gateway.signing.testpki import party as pki_party

    settings = load_settings(None)
    directory = pki or settings.data_dir / "test-pki"
    if not (directory / "passphrase.txt").is_file():
        make_test_pki(directory, province=settings.sender.code)
        err.print(f"made a test PKI in {directory} (the gateway signs with {directory / 'signer.p12'})", markup=False)
    return pki_party(directory, party, load_profile())


@sim_app.command("ministry")
def sim_ministry(
    port: Annotated[int, typer.Option()] = 8901,
    faults: Annotated[str, typer.Option(help="none, mild, heavy")] = "none",
    code: Annotated[str, typer.Option(help="the ministry's identification code")] = "B05",
    name: Annotated[str, typer.Option(help="the ministry's name")] = "Bộ Tài chính",
    pki: PkiOpt = None,
    no_signatures: NoSignaturesOpt = False,
    retain: RetainOpt = 10_000,
) -> None:
    """Run a ministry reporting-system simulator on 127.0.0.1 (same protocol as the national one)."""
    import uvicorn

    from gateway.packets import model as m
    from gateway.sim import faults as f
    from gateway.sim.national import RECEIVE_PATH, create_app

    console.print(f"ministry simulator ({name}): POST http://127.0.0.1:{port}{RECEIVE_PATH}  stats: /sim/stats")
    signer, verifier = _sim_signing(pki, "ministry", no_signatures)
    app_ = create_app(
        f.plan(faults),
        unit=m.Unit(code=code, name=name),
        name="ministry",
        signer=signer,
        verifier=verifier,
        retain=retain,
    )
    uvicorn.run(app_, host="127.0.0.1", port=port, log_level="warning")


@sim_app.command("national")
def sim_national(
    port: Annotated[int, typer.Option()] = 8900,
    faults: Annotated[str, typer.Option(help="none, mild, heavy")] = "none",
    pki: PkiOpt = None,
    no_signatures: NoSignaturesOpt = False,
    retain: RetainOpt = 10_000,
) -> None:
    """Run the national-system simulator on 127.0.0.1."""
    import uvicorn

    from gateway.sim import faults as f
    from gateway.sim.national import RECEIVE_PATH, create_app

    console.print(f"national simulator: POST http://127.0.0.1:{port}{RECEIVE_PATH}  stats: /sim/stats")
    signer, verifier = _sim_signing(pki, "national", no_signatures)
    app_ = create_app(f.plan(faults), signer=signer, verifier=verifier, retain=retain)
    uvicorn.run(app_, host="127.0.0.1", port=port, log_level="warning")


# ------------------------------------------------------------------ packets
@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="packet files (JSON or XML)")],
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    profile: Annotated[str | None, typer.Option(help="profile id")] = None,
) -> None:
    """Validate packets; exit 0 all valid, 1 any invalid, 2 unreadable input."""
    from gateway.errors import InputError
    from gateway.packets.profile import load_profile
    from gateway.packets.safe import check_size
    from gateway.packets.validate import read_packet

    prof = load_profile(profile) if profile else load_profile()
    results: list[dict[str, Any]] = []
    worst = 0
    for path in paths:
        try:
            check_size(path.stat().st_size, str(path))  # refuse oversize files before reading them
            data = path.read_bytes()
        except OSError as exc:
            results.append(
                {
                    "file": str(path),
                    "valid": False,
                    "unreadable": True,
                    "errors": [{"location": "", "message": f"cannot read: {exc.strerror}"}],
                }
            )
            worst = 2
            continue
        except InputError as exc:
            results.append(
                {
                    "file": str(path),
                    "valid": False,
                    "unreadable": True,
                    "errors": [{"location": "", "message": exc.reason}],
                }
            )
            worst = 2
            continue
        try:
            packet = read_packet(data, source=str(path), profile=prof)
            results.append(
                {
                    "file": str(path),
                    "valid": True,
                    "type": packet.packet_type.value,
                    "MaGoiTin": str(packet.packet_id),
                    "errors": [],
                }
            )
        except PacketInvalid as exc:
            results.append(
                {
                    "file": str(path),
                    "valid": False,
                    "errors": [{"location": v.location, "message": v.message} for v in exc.violations],
                }
            )
            worst = max(worst, 1)
        except InputError as exc:
            results.append(
                {
                    "file": str(path),
                    "valid": False,
                    "unreadable": True,
                    "errors": [{"location": exc.location, "message": exc.reason}],
                }
            )
            worst = 2
    if fmt == "json":
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for r in results:
            if r["valid"]:
                console.print(f"[green]valid[/]   {r['file']} ({r['type']} {r['MaGoiTin']})", soft_wrap=True)
            else:
                label = "unreadable" if r.get("unreadable") else "invalid"
                console.print(f"[red]{label}[/] {r['file']}: {len(r['errors'])} error(s)", soft_wrap=True)
                for e in r["errors"]:
                    console.print(f"    {e['location'] or '/'}: {e['message']}", markup=False, soft_wrap=True)
    raise typer.Exit(worst)


@app.command()
def unicode(
    path: Annotated[str, typer.Argument(help="file to convert, or - for standard input")] = "-",
    source: Annotated[str, typer.Option("--from", help="auto, tcvn3, vni, viscii or cp1258")] = "auto",
    min_confidence: Annotated[float, typer.Option(help="below this, auto refuses to guess")] = 0.6,
) -> None:
    """Legacy Vietnamese text (TCVN3/ABC, VNI, VISCII, Windows-1258) to UTF-8 NFC on stdout (TCVN 6909:2001).
    With --from auto the detected encoding and its confidence go to stderr; exit 3 when unsure."""
    from adapters.legacy_text import ENCODINGS, LowConfidence, decode_bytes, decode_surface, detect_bytes

    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    if source == "auto":
        surface, detection = detect_bytes(data)
        err.print(f"detected {detection.encoding} (confidence {detection.confidence:.2f}, by {detection.method})")
        if detection.encoding != "unicode" and detection.confidence < min_confidence:
            err.print(
                str(
                    LowConfidence(
                        f"best guess {detection.encoding} at {detection.confidence:.2f} is below "
                        f"{min_confidence}; give --from explicitly"
                    )
                ),
                markup=False,
            )
            raise typer.Exit(3)
        text = (
            decode_bytes(data, detection.encoding)
            if detection.method == "utf-8" or detection.encoding == "cp1258"
            else decode_surface(surface, detection.encoding)
        )
    elif source in ENCODINGS:
        text = decode_bytes(data, source)
    else:
        raise typer.BadParameter(f"--from must be auto or one of {', '.join(ENCODINGS)}")
    sys.stdout.buffer.write(text.encode("utf-8"))


@app.command()
def convert(
    path: Path,
    to: Annotated[str, typer.Option("--to", help="json or xml")],
    out: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Convert a packet between JSON and XML (validated on the way in and out)."""
    from gateway.packets.validate import read_packet, write_packet

    fmt = _wire_format(to, "--to")
    from gateway.packets.safe import check_size

    check_size(path.stat().st_size, str(path))
    packet = read_packet(path.read_bytes(), source=str(path))
    data = write_packet(packet, fmt)
    if out:
        out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data + b"\n")


# ------------------------------------------------------------------ reconciliation
@app.command()
def reconcile(
    period: Annotated[str | None, typer.Option(help="e.g. 2026-THANG-10; default: the latest with data")] = None,
    regime: Annotated[str | None, typer.Option(help="regime code; default: all")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, xlsx or json")] = "table",
    out: Annotated[Path | None, typer.Option("-o", "--output", help="file (required for xlsx)")] = None,
    config: ConfigOpt = None,
) -> None:
    """What the source says vs what was sent vs what the receiver holds, each value classified."""
    from gateway.reconciliation.export import CLASS_TITLES, to_csv, to_xlsx

    if fmt not in ("table", "csv", "xlsx", "json"):
        raise typer.BadParameter("--format must be table, csv, xlsx or json")
    if fmt == "xlsx" and out is None:
        raise typer.BadParameter("--format xlsx needs -o FILE.xlsx")
    gw = _gateway(config)
    report = gw.reconcile(period=period, regime=regime)
    if report.period is None:
        err.print("no data to reconcile yet (no observations)", markup=False)
        raise typer.Exit(1)
    data: bytes
    if fmt == "xlsx":
        data = to_xlsx(report)
    elif fmt == "csv":
        data = to_csv(report).encode("utf-8")
    elif fmt == "json":
        data = (json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    else:
        table = Table(
            "class", "Kết quả", "lines", title=f"Reconciliation {report.regime or 'all regimes'} {report.period}"
        )
        for name, count in report.summary.items():
            table.add_row(name, CLASS_TITLES[name], str(count))
        console.print(table)
        shown = [line for line in report.lines if line.classification != "match"][:50]
        if shown:
            detail = Table("unit", "indicator", "destination", "source", "sent", "receiver", "class", "note")
            for line in shown:
                detail.add_row(
                    line.reporting_unit,
                    line.indicator + (f" [{line.disaggregation}]" if line.disaggregation else ""),
                    line.destination,
                    line.source_value or "",
                    line.sent_value or "",
                    line.receiver_value or "",
                    line.classification,
                    line.note,
                )
            console.print(detail)
        return
    if out:
        out.write_bytes(data)
        err.print(f"wrote {out} ({len(report.lines)} lines)", markup=False)
    else:
        sys.stdout.buffer.write(data)


# ------------------------------------------------------------------ API accounts
@clients_app.command("add")
def clients_add(
    name: str,
    role: Annotated[str, typer.Option(help="ministry, receiver, metrics, admin, operator or auditor")] = "ministry",
    regime: Annotated[list[str] | None, typer.Option(help="regime code a ministry may pull ('*' for all)")] = None,
    indicator: Annotated[list[str] | None, typer.Option(help="indicator code it may pull ('*' for all)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Add a client; its secret is printed once and stored only as an argon2 hash."""
    from gateway.auth import accounts
    from gateway.auth.principals import Grants

    gw = _gateway(config)
    grants = Grants(frozenset(regime or ()), frozenset(indicator or ()))
    with gw.sessions.begin() as session:
        issued = accounts.add_client(session, name, role, grants, now=gw.clock.now(), actor="cli")
    console.print(f"client_id: {issued.client_id}\nclient_secret: {issued.secret}", markup=False)
    err.print("store the secret now: it cannot be shown again", markup=False)


@clients_app.command("list")
def clients_list(config: ConfigOpt = None) -> None:
    """Clients with their role, grants and state (never their secrets)."""
    from gateway.auth import accounts

    gw = _gateway(config)
    table = Table("name", "role", "grants", "state", "created")
    table.columns.insert(0, Column("client_id", no_wrap=True))
    with gw.sessions() as session:
        for c in accounts.list_clients(session):
            grants = "; ".join(f"{k}: {','.join(v)}" for k, v in (c.grants or {}).items() if v)
            state = "revoked" if c.revoked_at else ("rotating" if c.previous_secret_hash else "active")
            table.add_row(c.client_id, c.name, c.role, grants, state, c.created_at.isoformat(timespec="seconds"))
    console.print(table)


@clients_app.command("rotate")
def clients_rotate(
    client_id: str,
    grace_hours: Annotated[float, typer.Option(help="how long the old secret keeps working")] = 24.0,
    config: ConfigOpt = None,
) -> None:
    """Issue a new secret; the old one keeps working for the grace period (rotation without downtime)."""
    from gateway.auth import accounts

    gw = _gateway(config)
    with gw.sessions.begin() as session:
        issued = accounts.rotate_client(
            session, client_id, grace=timedelta(hours=grace_hours), now=gw.clock.now(), actor="cli"
        )
    console.print(f"client_id: {issued.client_id}\nclient_secret: {issued.secret}", markup=False)


@clients_app.command("revoke")
def clients_revoke(client_id: str, config: ConfigOpt = None) -> None:
    """Revoke a client: its tokens stop working at once."""
    from gateway.auth import accounts

    gw = _gateway(config)
    with gw.sessions.begin() as session:
        accounts.revoke_client(session, client_id, now=gw.clock.now(), actor="cli")
    console.print(f"revoked {client_id}")


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, operator or auditor")] = "operator",
    full_name: Annotated[str, typer.Option(help="shown in the dashboard and the audit log")] = "",
    password_file: Annotated[
        Path | None, typer.Option(help="first line is the password (else $GATEWAY_NEW_PASSWORD, else a prompt)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Add an operator account (argon2-hashed password; never taken from the command line)."""
    import os

    from gateway.auth import accounts

    if password_file:
        password = password_file.read_text(encoding="utf-8").splitlines()[0]
    elif os.environ.get("GATEWAY_NEW_PASSWORD"):
        password = os.environ["GATEWAY_NEW_PASSWORD"]
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    gw = _gateway(config)
    with gw.sessions.begin() as session:
        accounts.add_user(session, username, full_name or username, role, password, now=gw.clock.now(), actor="cli")
    console.print(f"added {role} {username}")


@users_app.command("list")
def users_list(config: ConfigOpt = None) -> None:
    """Operator accounts with their role and state."""
    from gateway.auth import accounts

    gw = _gateway(config)
    table = Table("username", "name", "role", "state", "created")
    with gw.sessions() as session:
        for u in accounts.list_users(session):
            state = "disabled" if u.disabled_at else "active"
            table.add_row(u.username, u.full_name, u.role, state, u.created_at.isoformat(timespec="seconds"))
    console.print(table)


@users_app.command("disable")
def users_disable(username: str, config: ConfigOpt = None) -> None:
    """Disable an account: its tokens stop working at once."""
    from gateway.auth import accounts

    gw = _gateway(config)
    with gw.sessions.begin() as session:
        accounts.disable_user(session, username, now=gw.clock.now(), actor="cli")
    console.print(f"disabled {username}")


@contracts_app.command("openapi")
def contracts_openapi(
    out: Annotated[Path, typer.Option("-o", "--output")] = Path("contracts/openapi.json"),
) -> None:
    """Write the API's OpenAPI document (a test fails when the committed one drifts from the code)."""
    from gateway.api.openapi import render

    out.write_text(render(), encoding="utf-8")
    console.print(str(out))


# ------------------------------------------------------------------ signatures
@keys_app.command("test-pki")
def keys_test_pki(
    directory: Path,
    province: Annotated[str, typer.Option(help="unit code (certificate UID) of the province's signers")] = "H15",
    national: Annotated[str, typer.Option(help="unit code of the national system's key")] = "G01",
) -> None:
    """Make a throw-away PKI for tests and demos: DIR/trust/ (root, intermediate, CRLs), DIR/signer.p12,
    signer-ec.p12, national.p12, ministry.p12, expired.p12, revoked.p12, untrusted.p12, passphrase.txt."""
    from gateway.signing.testpki import make_test_pki

    make_test_pki(directory, province=province, national=national)
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            console.print(str(path), markup=False)


@app.command()
def sign(
    path: Path,
    key: Annotated[Path, typer.Option("--key", help="PKCS#12 or PEM file with the key and its certificate")],
    passphrase_file: Annotated[
        Path | None, typer.Option(help="file whose first line is the passphrase (else $GATEWAY_SIGNING_PASSPHRASE)")
    ] = None,
    out: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Sign a packet (JSON: ChuKySo over RFC 8785; XML: enveloped XML-DSig). The passphrase is never
    taken from the command line."""
    from gateway.packets.profile import load_profile
    from gateway.packets.safe import check_size
    from gateway.packets.validate import read_packet
    from gateway.signing.keys import KeyRing, load_key, read_passphrase
    from gateway.signing.packets import PacketSigner

    check_size(path.stat().st_size, str(path))
    data = path.read_bytes()
    read_packet(data, source=str(path))  # sign only what is a valid packet
    passphrase = read_passphrase(env=None if passphrase_file else "GATEWAY_SIGNING_PASSPHRASE", file=passphrase_file)
    signed = PacketSigner(load_profile(), KeyRing([load_key(key, passphrase)])).sign(data)
    if out:
        out.write_bytes(signed)
    else:
        sys.stdout.buffer.write(signed + b"\n")


@app.command()
def verify(
    path: Path,
    trust: Annotated[Path, typer.Option("--trust", help="directory of trusted roots, intermediates and CRLs")],
    revocation_unknown: Annotated[str, typer.Option(help="reject or accept when no CRL covers the signer")] = "reject",
    max_age_days: Annotated[float | None, typer.Option(help="refuse signatures older than this")] = None,
) -> None:
    """Verify a signed packet (and the signed PDFs it carries), or a signed PDF. Exit 0 when valid,
    1 when not, with the reason."""
    from gateway.errors import SignatureInvalid
    from gateway.packets.profile import load_profile
    from gateway.packets.safe import check_size
    from gateway.signing import Inbound
    from gateway.signing.packets import PacketVerifier
    from gateway.signing.pdf import verify_pdf
    from gateway.signing.seal import verify_attachments
    from gateway.signing.trust import TrustStore

    if revocation_unknown not in ("reject", "accept"):
        raise typer.BadParameter("--revocation-unknown must be reject or accept")
    check_size(path.stat().st_size, str(path))
    store = TrustStore(trust, revocation_unknown="accept" if revocation_unknown == "accept" else "reject")
    data = path.read_bytes()
    try:
        if data.startswith(b"%PDF"):
            signers = verify_pdf(data, store, source=str(path))
        else:
            max_age = timedelta(days=max_age_days) if max_age_days else None
            verifier = PacketVerifier(load_profile(), store, max_age=max_age)
            packet, signer = Inbound(verifier.profile, verifier).read(data, source=str(path))
            assert signer is not None
            signers = [signer, *verify_attachments(packet, store)]
    except SignatureInvalid as exc:
        console.print(f"INVALID ({exc.code}): {exc}", markup=False)
        raise typer.Exit(1) from exc
    for who in signers:
        note = " (revocation unknown)" if who.revocation == "unknown" else ""
        console.print(f"VALID: signed by {who.subject}{note}", markup=False)


@contracts_app.command("build")
def contracts_build(
    profile: Annotated[str, typer.Option(help="profile id")] = "qcvn125-gw/0",
    profiles_dir: Annotated[Path | None, typer.Option(help="folder of profiles")] = None,
) -> None:
    """(Re)generate a profile's JSON Schemas and XSDs from the canonical model and its name map."""
    from gateway.packets import schemas
    from gateway.packets.profile import load_profile

    for path in schemas.write_all(load_profile(profile, profiles_dir)):
        console.print(path)


# ------------------------------------------------------------------ operations
@deliveries_app.command("list")
def deliveries_list(
    config: ConfigOpt = None,
    state: Annotated[str | None, typer.Option()] = None,
    destination: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """List deliveries, newest first."""
    from sqlalchemy import select

    from gateway.db.models import Delivery

    gw = _gateway(config)
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if state:
        query = query.where(Delivery.state == state)
    if destination:
        query = query.where(Delivery.destination == destination)
    table = Table("id", "packet", "destination", "state", "attempts", "last status", "last error")
    with gw.sessions() as session:
        for d in session.execute(query).scalars():
            table.add_row(
                str(d.id),
                d.packet_id,
                d.destination,
                d.state,
                str(d.attempts),
                str(d.last_status or ""),
                (d.last_error or "")[:60],
            )
    console.print(table)


@deliveries_app.command("show")
def deliveries_show(delivery_id: int, config: ConfigOpt = None) -> None:
    """One delivery with its attempt history."""
    from gateway.db.models import Delivery
    from gateway.errors import NotFound

    gw = _gateway(config)
    with gw.sessions() as session:
        d = session.get(Delivery, delivery_id)
        if d is None:
            raise NotFound(f"delivery {delivery_id} does not exist")
        console.print(
            f"delivery {d.id}: packet {d.packet_id} -> {d.destination}: [bold]{d.state}[/] "
            f"(key {d.idempotency_key}, ack {d.ack_status or '-'})"
        )
        if d.ack_reason:
            console.print(f"  receiver's reason: {d.ack_reason}", markup=False)
        table = Table("#", "started", "ms", "HTTP", "outcome", "error")
        for a in d.attempt_log:
            table.add_row(
                str(a.number),
                a.started_at.isoformat(timespec="seconds"),
                str(a.duration_ms),
                str(a.http_status or ""),
                a.outcome,
                (a.error or "")[:80],
            )
        console.print(table)


@app.command()
def replay(
    ids: Annotated[list[int] | None, typer.Argument()] = None,
    config: ConfigOpt = None,
    all_dead: Annotated[bool, typer.Option("--all-dead")] = False,
    destination: Annotated[str | None, typer.Option()] = None,
    actor: Annotated[str, typer.Option(help="who asks (recorded in the audit log)")] = "cli",
) -> None:
    """Send dead, returned or rejected deliveries again (same idempotency key); audited."""
    from sqlalchemy import select

    from gateway.db.models import Delivery, DeliveryState

    gw = _gateway(config)
    targets = list(ids or [])
    if all_dead:
        with gw.sessions() as session:
            query = select(Delivery.id).where(Delivery.state == DeliveryState.DEAD.value)
            if destination:
                query = query.where(Delivery.destination == destination)
            targets.extend(session.execute(query).scalars())
    done = gw.delivery_service(f"cli:{actor}").replay(targets, actor=f"operator:{actor}")
    gw.publish(done)
    console.print(f"replayed {len(done)} deliver{'y' if len(done) == 1 else 'ies'}: {done}")


@destinations_app.command("list")
def destinations_list(config: ConfigOpt = None) -> None:
    """Configured destinations: paused or not (and why), deliveries by state."""
    from sqlalchemy import func, select

    from gateway.db.models import Delivery, DestinationState

    gw = _gateway(config)
    table = Table("destination", "url", "sending", "reason", "deliveries by state")
    with gw.sessions() as session:
        states = {row.name: row for row in session.scalars(select(DestinationState))}
        counts: dict[str, dict[str, int]] = {}
        for dest, state, n in session.execute(
            select(Delivery.destination, Delivery.state, func.count()).group_by(Delivery.destination, Delivery.state)
        ):
            counts.setdefault(dest, {})[state] = n
    for name in sorted(set(gw.settings.destinations) | set(states) | set(counts)):
        row = states.get(name)
        url = gw.settings.destinations[name].url if name in gw.settings.destinations else "(not configured)"
        paused = row is not None and row.paused
        table.add_row(
            name,
            url,
            "[red]PAUSED[/]" if paused else "on",
            (row.reason or "") if paused and row else "",
            ", ".join(f"{k} {v}" for k, v in sorted(counts.get(name, {}).items())),
        )
    console.print(table)


@destinations_app.command("resume")
def destinations_resume(
    name: str, config: ConfigOpt = None, actor: Annotated[str, typer.Option(help="who resumes (audited)")] = "cli"
) -> None:
    """Resume sending to a destination paused for refused credentials (after fixing them)."""
    gw = _gateway(config)
    gw.delivery_service(f"cli:{actor}").resume(name, actor=f"operator:{actor}")
    console.print(f"destination {name} resumed")


@reports_app.command("list")
def reports_list(
    config: ConfigOpt = None,
    period: Annotated[str | None, typer.Option(help="e.g. 2026-THANG-10")] = None,
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """Report packets (every revision) with the receiver's latest answer."""
    from sqlalchemy import select

    from gateway.db.models import Delivery, Packet

    gw = _gateway(config)
    query = (
        select(Packet, Delivery)
        .join(Delivery, Delivery.packet_id == Packet.id)
        .where(Packet.packet_type == "SO_LIEU_BAO_CAO")
        .order_by(Packet.created_at.desc())
        .limit(limit)
    )
    if period:
        query = query.where(Packet.period_key == period)
    table = Table("MaGoiTin", "regime", "form", "period", "unit", "LanGui", "destination", "state", "answer", "reason")
    with gw.sessions() as session:
        for p, d in session.execute(query):
            table.add_row(
                p.id,
                p.regime_code or "",
                p.form_code or "",
                p.period_key or "",
                p.reporting_unit or "",
                str(p.revision),
                d.destination,
                d.state,
                d.ack_status or "",
                (d.ack_reason or "")[:50],
            )
    console.print(table)


@reports_app.command("correct")
def reports_correct(
    regime: Annotated[str, typer.Option()],
    form: Annotated[str, typer.Option()],
    period: Annotated[str, typer.Option()],
    reason: Annotated[str, typer.Option(help="why (recorded in the audit log)")],
    unit: Annotated[str | None, typer.Option(help="reporting unit code; default: our sender code")] = None,
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Build and send the next revision (LanGui n+1) of a report from its latest observations."""
    from gateway.lifecycle import ReportKey, correct

    gw = _gateway(config)
    built = correct(
        gw, ReportKey(regime, form, period, unit or gw.settings.sender.code), actor=f"operator:{actor}", reason=reason
    )
    console.print(f"revision queued as packet {built.packet_id} ({built.values} values)")


@reports_app.command("recall")
def reports_recall(
    packet_id: str,
    reason: Annotated[str | None, typer.Option()] = None,
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Recall (DA_THU_HOI) a report the receiver has not approved yet."""
    from gateway.lifecycle import recall

    console.print(
        f"recall sent as packet {recall(_gateway(config), packet_id, actor=f'operator:{actor}', reason=reason)}"
    )


@reports_app.command("request-correction")
def reports_request_correction(
    packet_id: str,
    reason: Annotated[str, typer.Option()],
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Ask the host agency to reopen an approved report (YEU_CAU_DINH_CHINH)."""
    from gateway.lifecycle import request_correction

    sent = request_correction(_gateway(config), packet_id, actor=f"operator:{actor}", reason=reason)
    console.print(f"correction request sent as packet {sent}")


@mapping_app.command("check")
def mapping_check(files: Annotated[list[Path], typer.Argument(help="mapping files (YAML)")]) -> None:
    """Report unknown units, incompatible units, undeclared forms, duplicate or conflicting rules, with lines."""
    from mappings.check import check_file

    total = 0
    for path in files:
        findings = check_file(path)
        total += len(findings)
        for finding in findings:
            console.print(finding.render(path), markup=False, soft_wrap=True)
        if not findings:
            console.print(f"{path}: ok", markup=False)
    raise typer.Exit(1 if total else 0)


@backup_app.command("create")
def backup_create(directory: Path, config: ConfigOpt = None) -> None:
    """Back up the database into DIRECTORY (safe while workers run)."""
    from gateway import backup

    gw = _gateway(config)
    manifest = backup.create(gw.engine, directory)
    total = sum(manifest.row_counts.values())
    console.print(
        f"backup of {manifest.backend} in {directory}: {manifest.file}, {total} rows, SHA-256 {manifest.sha256}"
    )


@backup_app.command("restore")
def backup_restore(directory: Path, config: ConfigOpt = None) -> None:
    """Restore DIRECTORY into the configured database (stop workers and schedulers first)."""
    from gateway import backup

    settings = _settings(config)
    from gateway.db.engine import make_engine

    manifest = backup.restore(make_engine(settings.database_url), directory)
    console.print(f"restored {manifest.file} ({manifest.created_at}); row counts match the manifest")


@app.command("export-bundle")
def export_bundle_cmd(
    period: Annotated[str, typer.Option(help="e.g. 2026-THANG-10")],
    regime: Annotated[str | None, typer.Option()] = None,
    out: Annotated[Path, typer.Option("-o", "--output", help="folder for the zip")] = Path("."),
    destination: Annotated[str, typer.Option()] = "national",
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Write the packets still owed to a destination as a zip with a hashed manifest, for the
    document-management channel; they stay queued and are reconciled when the link returns."""
    from gateway.fallback import export_bundle, verify_bundle

    bundle = export_bundle(
        _gateway(config), period, out, regime=regime, destination=destination, actor=f"operator:{actor}"
    )
    problems = verify_bundle(bundle.path)
    console.print(
        f"{bundle.path}: {bundle.packets} packet(s); manifest SHA-256 {bundle.manifest_sha256}"
        + ("" if not problems else f"; PROBLEMS: {problems}")
    )
    raise typer.Exit(1 if problems else 0)


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="file, URL (json-api) or SQLAlchemy URL (sql)")],
    adapter: Annotated[str, typer.Option(help="xlsx, csv, json-api or sql")],
    mapping: Annotated[Path, typer.Option(help="indicator mapping file (mappings/indicators/*.yaml)")],
    query: Annotated[str | None, typer.Option(help="sql: the query (columns aliased to the long format)")] = None,
    encoding: Annotated[
        str | None, typer.Option(help="csv: utf-8, utf-16, cp1258, tcvn3, vni (default: detect)")
    ] = None,
    reporting_unit: Annotated[str | None, typer.Option(help="default: our sender code")] = None,
    config: ConfigOpt = None,
) -> None:
    """Read a source: every record becomes an observation or a quarantine record with a reason."""
    import os

    from adapters.registry import UnknownAdapter, reader_for
    from gateway.ingest import ingest as run_ingest
    from mappings.indicators import MappingError, load_mapping

    gw = _gateway(config)
    options = {
        k: v
        for k, v in {
            "query": query,
            "encoding": encoding,
            "bearer_token": os.environ.get("GATEWAY_SOURCE_BEARER_TOKEN"),
            "api_key": os.environ.get("GATEWAY_SOURCE_API_KEY"),
        }.items()
        if v
    }
    try:
        reader = reader_for(adapter, source, options)
        mapped = load_mapping(mapping)
    except (UnknownAdapter, MappingError) as exc:
        raise ConfigurationError(str(exc)) from exc
    from rich.progress import Progress

    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("reading", total=None)
        report = run_ingest(
            gw.sessions,
            reader,
            mapped,
            gw.clock,
            reporting_unit=reporting_unit or gw.settings.sender.code,
            actor="cli",
            progress=lambda n: progress.update(task, completed=n),
        )
    console.print(f"read {report.read}: mapped {report.mapped}, quarantined {report.quarantined}, blank {report.blank}")
    for reason, count in report.reasons.most_common():
        console.print(f"  quarantined {count}: {reason}", markup=False)


@quarantine_app.command("replay")
def quarantine_replay(
    mapping: Annotated[Path, typer.Option(help="the (fixed) mapping to apply")],
    reporting_unit: Annotated[str | None, typer.Option()] = None,
    config: ConfigOpt = None,
) -> None:
    """Map open quarantine records again (after fixing a mapping); those that map become observations."""
    from gateway.ingest import replay_quarantine
    from mappings.indicators import load_mapping

    gw = _gateway(config)
    done, still = replay_quarantine(
        gw.sessions,
        load_mapping(mapping),
        gw.clock,
        reporting_unit=reporting_unit or gw.settings.sender.code,
        actor="cli",
    )
    console.print(f"replayed {done} record(s); {still} still quarantined")


@quarantine_app.command("list")
def quarantine_list(config: ConfigOpt = None, limit: Annotated[int, typer.Option()] = 50) -> None:
    """Quarantined input with where and why."""
    from sqlalchemy import select

    from gateway.db.models import QuarantineRecord

    gw = _gateway(config)
    table = Table("id", "location", "reason", "raw")
    with gw.sessions() as session:
        for q in session.execute(select(QuarantineRecord).order_by(QuarantineRecord.id).limit(limit)).scalars():
            table.add_row(str(q.id), q.location, q.reason, json.dumps(q.raw, ensure_ascii=False)[:60])
    console.print(table)


@audit_app.command("verify")
def audit_verify(config: ConfigOpt = None) -> None:
    """Check the audit hash chain; exit 1 naming every altered, removed or reordered event."""
    from gateway import audit

    gw = _gateway(config)
    with gw.sessions() as session:
        breaks = audit.verify(session)
    if breaks:
        for b in breaks:
            console.print(f"[red]audit event {b.event_id}[/]: {b.problem}")
        raise typer.Exit(1)
    console.print("[green]audit chain intact[/]")


def main() -> None:
    """Entry point: domain errors become one clear line and an exit code, never a traceback
    (``GATEWAY_DEBUG=1`` re-raises unexpected errors for developers)."""
    import os

    if os.environ.get("GATEWAY_DEBUG"):
        app()
        return
    try:
        app()
    except ConfigurationError as exc:
        err.print(f"configuration error: {exc}", markup=False)
        sys.exit(2)
    except GatewayError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(2 if not isinstance(exc, PacketInvalid) else 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        logging.getLogger("gateway").debug("unexpected error", exc_info=True)
        if isinstance(exc, SQLAlchemyError):
            first = str(exc).splitlines()[0]
            err.print(f"database error: {first}. Is the schema migrated? Run `gateway db upgrade`.", markup=False)
            sys.exit(3)
        err.print(f"unexpected error: {type(exc).__name__}: {exc}. Run with GATEWAY_DEBUG=1 for details.", markup=False)
        sys.exit(70)


if __name__ == "__main__":
    main()
