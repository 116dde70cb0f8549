"""``gateway demo``: the whole path on the embedded default, against the bundled simulator.

Reads the bundled Lào Cai workbook, maps it, builds and validates ``SO_LIEU_BAO_CAO`` packets, stores
them with their deliveries (outbox), and delivers them through kombu and a worker to the national
simulator on 127.0.0.1, which injects mild faults. Prints a progress bar and a reconciliation
summary; exits 0 only when nothing is lost and every delivery is acknowledged.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.progress import TextColumn
from rich.table import Table
from sqlalchemy import func, select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway import resources
from gateway.bootstrap import Gateway, bootstrap
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ
from gateway.db.models import Delivery, DeliveryState
from gateway.ingest import ingest
from gateway.packets.profile import load_profile
from gateway.progress import progress_bar
from gateway.reconciliation.summary import Summary, summarise
from gateway.reports import build_reports
from gateway.settings import (
    DestinationSettings,
    KeySettings,
    RetrySettings,
    Settings,
    SigningSettings,
    TrustSettings,
    UnitSettings,
)
from gateway.signing.testpki import make_test_pki, party
from gateway.sim import faults
from gateway.sim.national import DATA_PATH, RECEIVE_PATH, create_app
from gateway.sim.server import BackgroundServer
from gateway.worker import Worker
from mappings.indicators import MAPPINGS_DIR, load_mapping

SAMPLE = resources.bundled("examples") / "lao-cai-ktxh-2026.xlsx"  # shipped in the wheel
MAPPING = MAPPINGS_DIR / "indicators" / "lao-cai-ktxh.yaml"
FINAL = (
    DeliveryState.ACKNOWLEDGED.value,
    DeliveryState.DEAD.value,
    DeliveryState.REJECTED.value,
    DeliveryState.RETURNED.value,
)


@dataclass
class DemoResult:
    summary: Summary
    sim_stats: dict[str, object]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.summary.lost == 0 and self.summary.acknowledged == self.summary.deliveries


def demo_settings(
    base: Settings, sim_url: str, fmt: Literal["json", "xml"] = "json", pki: Path | None = None
) -> Settings:
    """The demo's settings; with ``pki`` (a test PKI) packets are signed and status packets verified."""
    data_dir = base.data_dir / "demo"
    national = DestinationSettings(
        url=f"{sim_url}{RECEIVE_PATH}",
        data_url=f"{sim_url}{DATA_PATH}",
        receiver=UnitSettings(code="G01", name="Hệ thống thông tin báo cáo Chính phủ"),
        format=fmt,
        timeout=1.5,
        connect_timeout=1.0,
        max_concurrency=4,
        retry=RetrySettings(max_attempts=15, initial_wait=0.2, max_wait=2.0, max_retry_after=5.0),
    )
    return base.model_copy(
        update={
            "data_dir": data_dir,
            "database": base.database.model_copy(update={"url": None}),
            "broker": base.broker.model_copy(update={"url": None}),
            "destinations": {"national": national},
            "signing": SigningSettings(
                keys=[KeySettings(path=pki / "signer.p12", passphrase_file=pki / "passphrase.txt")] if pki else []
            ),
            "trust": TrustSettings(dir=pki / "trust" if pki else None),
        }
    )


def add_load(gw: Gateway, settings: Settings, count: int, fmt: Literal["json", "xml"]) -> list[int]:
    """``count`` extra, clearly synthetic report packets (form ``TAI-THU-n``) for load demos: the same
    outbox, queue, worker and simulator path as the workbook's reports."""
    from gateway import calendar, outbox
    from gateway.packets import model as m

    delivery_ids: list[int] = []
    unit = m.Unit(code=settings.sender.code, name=settings.sender.name)
    receiver = settings.destinations["national"].receiver
    for i in range(count):
        now = gw.clock.now()
        period = calendar.period("THANG", i % 10 + 1, 2026)
        envelope = m.Envelope(
            packet_id=uuid.uuid4(),
            packet_type=m.PacketType.SO_LIEU_BAO_CAO,
            profile=gw.profile.id,
            created_at=now.astimezone(VN_TZ),
            sender=unit,
            receiver=m.Unit(code=receiver.code, name=receiver.name),
            body=m.ReportFigures(
                regime_code="KTXH-THANG",
                form_code=f"TAI-THU-{i:05d}",
                period=period,
                reporting_unit=unit,
                revision=1,
                sent_at=now.astimezone(VN_TZ),
                figures=[
                    m.Figure(indicator_code=f"{k:04d}", value=f"{(i * 31 + k) % 9973}.5", unit="tỷ đồng")
                    for k in range(1, 33)
                ],
            ),
        )
        payload = gw.sealer.seal(envelope, fmt, ["national"])
        with gw.sessions.begin() as session:
            _, deliveries = outbox.store(
                session, envelope, payload, fmt, ["national"], now=now, value_count=32, actor="demo-load"
            )
            delivery_ids.extend(d.id for d in deliveries)
    return delivery_ids


def run_demo(
    base: Settings,
    *,
    fault_profile: str = "mild",
    fmt: Literal["json", "xml"] = "json",
    console: Console | None = None,
    timeout: float = 110.0,
    keep_serving: bool = False,
    sample: Path = SAMPLE,
    packets: int | None = None,
    before_serving: Callable[[Gateway], None] | None = None,
) -> DemoResult:
    """Run the demo in ``{data_dir}/demo`` (cleared first). With ``keep_serving``, ``before_serving``
    runs on the demo's gateway before the API starts: the place to add the operator account, since an
    account added before the demo is cleared with its folder."""
    console = console or Console()
    started = time.monotonic()
    demo_dir = base.data_dir / "demo"
    if demo_dir.exists():
        shutil.rmtree(demo_dir)  # the demo's own folder: every demo starts clean
    pki = make_test_pki(demo_dir / "pki", province=base.sender.code)
    sim_signer, sim_verifier = party(pki, "national", load_profile(base.profile))
    sim = BackgroundServer(create_app(faults.plan(fault_profile), signer=sim_signer, verifier=sim_verifier)).start()
    console.print(f"[bold]National-system simulator[/] on {sim.url} (faults: {fault_profile})")
    console.print(
        f"Signing with a test PKI in {pki}: packets signed by signer.p12, the simulator verifies them "
        "and signs its status packets, which the gateway verifies against trust/"
    )
    settings = demo_settings(base, sim.url, fmt, pki)
    gw = bootstrap(settings)
    stop = threading.Event()
    try:
        regime = load_regime("KTXH-THANG")
        mapping = load_mapping(MAPPING)
        console.print(
            f"Reading {sample.name if sample == SAMPLE else sample} "
            f"with mapping {mapping.version}"
        )
        with progress_bar(console, "reading", "cells", eta=False) as reading:
            cells = reading.add_task("reading", total=None)
            report = ingest(
                gw.sessions,
                XlsxTemplateReader(sample),
                mapping,
                gw.clock,
                reporting_unit=settings.sender.code,
                actor="demo",
                progress=lambda n: reading.update(cells, completed=n),
            )
        console.print(
            f"  read {report.read}: mapped {report.mapped}, blank {report.blank}, "
            f"quarantined {report.quarantined}"
            + (f" ({'; '.join(f'{k}: {v}' for k, v in report.reasons.items())})" if report.reasons else "")
        )
        built = build_reports(
            gw.sessions,
            regime,
            sender=settings.sender,
            destinations=settings.destinations,
            sealer=gw.sealer,
            clock=gw.clock,
            fmt=fmt,
            actor="demo",
        )
        console.print(
            f"Built {len(built)} SO_LIEU_BAO_CAO packets ({fmt}, validated against contracts/), "
            "stored with their deliveries in one transaction"
        )
        gw.publish([d for b in built for d in b.delivery_ids])
        if packets is not None and packets > len(built):
            extra = packets - len(built)
            gw.publish(add_load(gw, settings, extra, fmt))
            console.print(f"Added {extra} synthetic load packets (forms TAI-THU-*) for --packets {packets}")
            timeout += extra / 10
        worker = Worker(gw, worker_id="demo-worker")
        thread = threading.Thread(target=worker.run, args=(stop,), name="worker", daemon=True)
        thread.start()
        _progress(gw, console, started + timeout)
        stop.set()
        thread.join(timeout=30)
        with gw.sessions() as session:
            summary = summarise(session)
        stats = _sim_stats(sim)
        result = DemoResult(summary, stats, time.monotonic() - started)
        _print_summary(console, result)
        gw_cmd = _command_name()
        console.print(
            f"The demo's data is in {demo_dir}. To look at it with the other commands:\n"
            f"  export GATEWAY_DATA_DIR={demo_dir}\n"
            f"  {gw_cmd} quarantine list; {gw_cmd} deliveries list; {gw_cmd} reconcile",
            markup=False,
            soft_wrap=True,
        )
        if keep_serving:
            if before_serving is not None:
                before_serving(gw)
            _serve(gw, console)
        return result
    finally:
        stop.set()
        gw.close()
        sim.stop()


def _progress(gw: Gateway, console: Console, deadline: float) -> None:
    with gw.sessions() as session:
        total = session.scalar(select(func.count()).select_from(Delivery)) or 0
    # On a terminal: count, rate, time left; elsewhere nothing (the summary table follows either way).
    with progress_bar(console, "delivering", "packets") as progress:
        progress.columns = (*progress.columns, TextColumn("{task.fields[detail]}"))
        task = progress.add_task("deliver", total=total, detail="")
        while True:
            with gw.sessions() as session:
                states = dict(session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
                attempts = session.scalar(select(func.coalesce(func.sum(Delivery.attempts), 0))) or 0
            done = sum(states.get(s, 0) for s in FINAL)
            progress.update(
                task, completed=done, detail=f"acknowledged {states.get('acknowledged', 0)}, attempts {attempts}"
            )
            if done >= total or time.monotonic() > deadline:
                return
            time.sleep(0.2)


def _sim_stats(sim: BackgroundServer) -> dict[str, object]:
    import httpx

    return dict(httpx.get(f"{sim.url}/sim/stats", timeout=5).json())


def _command_name() -> str:
    """How to run ``gateway`` from here: the bare name when the shell finds this one on its PATH,
    else its path (``make demo`` runs ``.venv/bin/gateway``, which no shell finds by its name)."""
    here = Path(sys.executable).parent / "gateway"
    found = shutil.which("gateway")
    if found is not None and Path(found).resolve() == here.resolve():
        return "gateway"
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def _print_summary(console: Console, result: DemoResult) -> None:
    s = result.summary
    table = Table(title="Reconciliation summary", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("observations read (cells)", s.read),
        ("  blank (not reported)", s.blank),
        ("  mapped to observations", s.mapped),
        ("  quarantined (see gateway quarantine list)", s.quarantined),
        ("  stored, never sent: no regime sends their period (idem)", s.never_sent),
        ("packets built", s.packets),
        ("deliveries", s.deliveries),
        ("delivered", s.delivered),
        ("acknowledged (TRANG_THAI_BAO_CAO)", s.acknowledged),
        ("retried attempts", s.retried),
        ("waiting for an operator", s.needs_operator),
        ("simulator: unique packets received", result.sim_stats.get("unique_packets", 0)),
        ("simulator: duplicates it deduplicated", result.sim_stats.get("duplicates", 0)),
        ("simulator: signatures refused", result.sim_stats.get("signature_refused", 0)),
        ("lost", s.lost),
    ]
    for what, count in rows:
        style = "bold red" if what == "lost" and count else ("bold green" if what == "lost" else "")
        table.add_row(what, str(count), style=style)
    console.print(table)
    faults_seen = result.sim_stats.get("faults", {})
    console.print(f"faults injected by the simulator: {faults_seen}")
    console.print(
        f"read={s.read} quarantined={s.quarantined} never_sent={s.never_sent} packets={s.packets} "
        f"acknowledged={s.acknowledged} "
        f"retried={s.retried} lost={s.lost}  ({result.seconds:.1f} s)",
        soft_wrap=True,  # one line at any width: scripts (ops/ci/wheel.sh) read it with grep '^read='
        markup=False,
        highlight=False,
    )


def _serve(gw: Gateway, console: Console) -> None:
    import uvicorn

    from gateway.api.app import create_app as create_api

    host, port = gw.settings.api.host, gw.settings.api.port
    console.print(f"API serving on http://{host}:{port} (Ctrl-C to stop)")
    uvicorn.run(create_api(gw), host=host, port=port, log_level="warning")
