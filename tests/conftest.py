"""Shared fixtures: real databases (SQLite, PostgreSQL), real brokers (kombu SQLAlchemy, RabbitMQ),
and the national simulator on loopback.

PostgreSQL and RabbitMQ come from the test command (``ops/ci/test.sh`` exports their URLs); when the
suite runs without it, they are started here. A missing server is an error, never a skip.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import create_engine, text

from gateway import resources
from gateway.bootstrap import Gateway, bootstrap
from gateway.settings import DestinationSettings, RetrySettings, Settings, UnitSettings
from gateway.signing.testpki import make_test_pki
from gateway.sim.faults import FaultPlan
from gateway.sim.national import RECEIVE_PATH, create_app
from gateway.sim.server import BackgroundServer
from tests.security.probes import pytest_runtest_logreport, pytest_terminal_summary  # noqa: F401 (hooks)
from tests.support import services

ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _resources_reset_after_each_test() -> Iterator[None]:
    """The resource search path is process-wide (set whenever settings load): a test that loads
    settings with its own temporary data dir must not leave that folder (its regimes, mappings...)
    on the path of the next test the same worker runs."""
    yield
    resources.reset()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get("GATEWAY_TEST_PG_URL")
    if url:
        yield url
        return
    env = services.start_postgres()
    try:
        yield env["GATEWAY_TEST_PG_URL"]
    finally:
        services.stop_postgres(env["GATEWAY_TEST_PG_DIR"])


@pytest.fixture(scope="session")
def amqp_server_url() -> Iterator[str]:
    url = os.environ.get("GATEWAY_TEST_AMQP_URL")
    if url:
        yield url
        return
    env = services.start_rabbitmq()
    try:
        yield env["GATEWAY_TEST_AMQP_URL"]
    finally:
        services.stop_rabbitmq(
            env["GATEWAY_TEST_RMQ_PID"], env["GATEWAY_TEST_RMQ_DIR"], env.get("GATEWAY_TEST_EPMD_PORT")
        )


def fresh_pg_database(server_url: str) -> str:
    """A new, empty database on the test server (one per test: no state leaks between tests)."""
    name = f"gw_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    return fresh_pg_database(request.getfixturevalue("pg_server_url"))


@pytest.fixture(params=["sqlalchemy", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlalchemy":
        return f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    return str(request.getfixturevalue("amqp_server_url"))


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One throw-away PKI for the session (``gateway keys test-pki`` layout)."""
    return make_test_pki(tmp_path_factory.mktemp("pki"))


class Sim:
    """The national simulator on loopback, with its app for reading counts and changing faults."""

    def __init__(self, plan: FaultPlan, **app_options: Any) -> None:
        self.app = create_app(plan, **app_options)
        self.server = BackgroundServer(self.app).start()
        self.url = self.server.url
        self.receive_url = f"{self.url}{RECEIVE_PATH}"

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self.app.state.stats.snapshot())

    def set_faults(self, plan: FaultPlan) -> None:
        self.app.state.faults.replace_plan(plan)

    def stop(self) -> None:
        self.server.stop()


class SimFactory(Protocol):
    """What the ``sim_factory`` fixture gives: a fault plan (and simulator options) in, a running
    simulator out."""

    def __call__(self, plan: FaultPlan | None = None, **app_options: Any) -> Sim: ...


GatewayFactory = Callable[..., Gateway]
"""What the ``gateway_factory`` fixture gives: settings as keywords in, a bootstrapped gateway out."""


@pytest.fixture
def sim_factory() -> Iterator[SimFactory]:
    started: list[Sim] = []

    def make(plan: FaultPlan | None = None, **app_options: Any) -> Sim:
        sim = Sim(plan or FaultPlan(), **app_options)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def national_destination(url: str, *, sign: bool | None = None, **retry: Any) -> DestinationSettings:
    """The national system at ``url``; ``sign`` left unset, a gateway made by ``gateway_factory``
    without signing keys sends it unsigned (and signed with keys); say ``sign=False`` for a gateway
    bootstrapped otherwise without keys, since a destination that requires signatures gets nothing."""
    return DestinationSettings(
        **({} if sign is None else {"sign": sign}),
        url=url,
        receiver=UnitSettings(code="G01", name="Hệ thống thông tin báo cáo Chính phủ"),
        timeout=retry.pop("timeout", 2.0),
        connect_timeout=1.0,
        circuit_threshold=retry.pop("circuit_threshold", 5),
        circuit_cool_down=retry.pop("circuit_cool_down", 30.0),
        retry=RetrySettings(**{"max_attempts": 6, "initial_wait": 0.05, "max_wait": 0.2, **retry}),
    )


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[GatewayFactory]:
    built: list[Gateway] = []

    def make(
        *,
        database_url: str | None = None,
        broker_url: str | None = None,
        destinations: dict[str, DestinationSettings] | None = None,
        migrate: bool = True,
        queue: str | None = None,
        clock: Any = None,
        lease_seconds: float = 30,
        worker: dict[str, Any] | None = None,
        **extra: Any,
    ) -> Gateway:
        if "signing" not in extra and destinations:
            # No signing key: a deployment that sends unsigned must say so per destination (sign =
            # false); with sign on and no key, nothing is sealed (gateway.signing.seal).
            destinations = {
                name: d if "sign" in d.model_fields_set else d.model_copy(update={"sign": False})
                for name, d in destinations.items()
            }
        settings = Settings(
            data_dir=tmp_path / "data",
            database={"url": database_url or f"sqlite:///{tmp_path / 'gateway.sqlite'}"},
            broker={
                "url": broker_url or f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                "queue": queue or f"gateway.test.{uuid.uuid4().hex[:8]}",
                "polling_interval": 0.05,
            },
            worker={"concurrency": 4, "sweep_interval": 0.2, "lease_seconds": lease_seconds, **(worker or {})},
            destinations=destinations or {},
            **extra,
        )
        gw = bootstrap(settings, migrate=migrate, clock=clock)
        built.append(gw)
        return gw

    yield make
    for gw in built:
        gw.close()
