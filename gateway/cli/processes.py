"""Long-running processes and the demo: demo, serve, worker, run, scheduler.

Each server names itself to PostgreSQL (``application_name``: ``gateway-serve``, ``gateway-worker``,
``gateway-scheduler``, ``gateway-run``) and logs JSON lines, uvicorn's included, before it builds its
gateway (``_start``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.bootstrap import Gateway

from gateway.cli.common import (
    ConfigOpt,
    app,
    configure_logs,
    console,
    gateway_for,
    settings_for,
    wire_format,
)


def _start(config: Path | None, role: str) -> Gateway:
    """The gateway of a server process, built after the process has its name in ``pg_stat_activity``
    (so that even its first connection carries it) and its logging (so that bootstrap's lines are JSON)."""
    from gateway.db.engine import name_process

    name_process(role)
    configure_logs(settings_for(config))
    return gateway_for(config, create=True)


@app.command()
def demo(
    config: ConfigOpt = None,
    faults: Annotated[str, typer.Option(help="simulator fault profile: none, mild, heavy")] = "mild",
    fmt: Annotated[str, typer.Option("--format", help="packet encoding: json or xml")] = "json",
    keep_serving: Annotated[bool, typer.Option("--keep-serving", help="leave the API up afterwards")] = False,
    packets: Annotated[int | None, typer.Option(min=1, help="total packets: adds synthetic load reports")] = None,
    operator: Annotated[
        str, typer.Option(help="with --keep-serving: the dashboard account made after the demo clears its folder")
    ] = "demo",
) -> None:
    """Run the whole path on the embedded default against the bundled national-system simulator.

    With --keep-serving the API and dashboard stay up, with an operator account made after the demo
    cleared its folder (password from $GATEWAY_NEW_PASSWORD, else asked for on a terminal, else made
    up and printed once)."""
    from gateway.cli import checks
    from gateway.demo import run_demo

    checks.fault_profile(faults)
    encoding = wire_format(fmt, "--format")
    if keep_serving:
        api = settings_for(config).api
        checks.free_port(api.host, api.port, "the demo's API (--keep-serving)")

    def add_operator(gw: Gateway) -> None:
        import os
        import secrets
        import sys

        from gateway.auth import accounts

        password = os.environ.get("GATEWAY_NEW_PASSWORD")
        shown = ""
        if not password and sys.stdin.isatty():
            password = typer.prompt(
                f"password for the dashboard account {operator!r}", hide_input=True, confirmation_prompt=True
            )
        if not password:
            password = shown = secrets.token_urlsafe(12)
        with gw.sessions.begin() as session:
            accounts.add_user(session, operator, operator, "operator", password, now=gw.clock.now(), actor="demo")
        host, port = gw.settings.api.host, gw.settings.api.port
        console.print(
            f"Dashboard: http://{host}:{port}/ui/ — log in as {operator!r}"
            + (f" with the password {shown} (shown once)" if shown else ""),
            markup=False,
            soft_wrap=True,
        )

    result = run_demo(
        settings_for(config),
        fault_profile=faults,
        fmt=encoding,
        console=console,
        keep_serving=keep_serving,
        packets=packets,
        before_serving=add_operator,
    )
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535)] = None,
) -> None:
    """Serve the API (/healthz, /readyz, the pull, operator and intake routes) and the dashboard (/ui/)."""
    import uvicorn

    from gateway import logs
    from gateway.api.app import create_app
    from gateway.cli import checks

    settings = settings_for(config)
    checks.free_port(host or settings.api.host, port or settings.api.port, "the API")
    gw = _start(config, "gateway-serve")
    uvicorn.run(
        create_app(gw),
        host=host or gw.settings.api.host,
        port=port or gw.settings.api.port,
        **logs.UVICORN,
        **gw.settings.api.uvicorn_proxy(),
    )


@app.command()
def worker(
    config: ConfigOpt = None,
    concurrency: Annotated[int | None, typer.Option(min=1)] = None,
    worker_id: Annotated[str | None, typer.Option("--id")] = None,
) -> None:
    """Deliver packets: consume wake-ups, attempt, retry, sweep. Stops cleanly on SIGINT/SIGTERM."""
    import signal

    from gateway.worker import Worker

    gw = _start(config, "gateway-worker")
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
def run(config: ConfigOpt = None, concurrency: Annotated[int | None, typer.Option(min=1)] = None) -> None:
    """Single node: the API, a delivery worker and the scheduler in one process. Stops cleanly on
    SIGINT/SIGTERM."""
    import signal

    import uvicorn

    from gateway import logs
    from gateway.api.app import create_app
    from gateway.cli import checks
    from gateway.worker import Worker

    settings = settings_for(config)
    # Checked first: a failed bind would end the API's thread alone, leaving the worker and scheduler up.
    checks.free_port(settings.api.host, settings.api.port, "the API of `gateway run`")
    gw = _start(config, "gateway-run")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(gw),
            host=gw.settings.api.host,
            port=gw.settings.api.port,
            lifespan="off",
            **logs.UVICORN,
            **gw.settings.api.uvicorn_proxy(),
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
        f"gateway running: API and dashboard on http://{gw.settings.api.host}:{gw.settings.api.port}, "
        "with a delivery worker and the scheduler in this process (Ctrl-C stops all three)"
    )
    try:
        Worker(gw, concurrency=concurrency).run(stop)
    finally:
        server.should_exit = True
        api.join(timeout=10)
        gw.close()


@app.command()
def scheduler(
    config: ConfigOpt = None,
    once: Annotated[bool, typer.Option("--once", help="execute due runs once and exit")] = False,
    interval: Annotated[float, typer.Option(min=1, help="seconds between ticks")] = 60.0,
) -> None:
    """Build and enqueue every report whose push date has come; catch up missed runs. Safe to run twice."""
    import os
    import signal
    import socket

    from gateway.scheduler import Scheduler

    gw = _start(config, "gateway-scheduler")
    sched = Scheduler(gw, name=f"{socket.gethostname()}:{os.getpid()}")  # the actor is "scheduler:<host>:<pid>"
    if once:
        results = sched.tick()
        if not results:
            console.print("nothing due: every run up to now has been executed (`gateway runs` lists them)")
        for r in results:
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
