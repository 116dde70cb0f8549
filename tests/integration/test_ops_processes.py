"""The server processes as operators see them from outside: their names in PostgreSQL's
``pg_stat_activity``, and their log lines.

Found by an outside review: every session was unnamed in ``pg_stat_activity`` (the list ``backup
restore`` shows when it refuses to replace a database in use), and ``gateway serve`` wrote uvicorn's
plain lines ("INFO:     Started server process") while every other process wrote JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from gateway.db.engine import make_engine
from tests.conftest import GatewayFactory, fresh_pg_database
from tests.support import services

GATEWAY = str(Path(sys.executable).parent / "gateway")
ROLES = {"serve": "gateway-serve", "worker": "gateway-worker", "scheduler": "gateway-scheduler"}
PLANTED = "planted-query-token-61f0"


def environment(data_dir: Path, api_port: int, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_API__PORT": str(api_port),
        "GATEWAY_METRICS__WORKER_PORT": "0",
        "GATEWAY_METRICS__SCHEDULER_PORT": "0",
        **more,
    }


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, then the output (killed if it does not stop within 30 s)."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def sessions(url: str) -> set[str]:
    """The application names of the sessions on the database of ``url`` (asked by a plain engine)."""
    database = url.rsplit("/", 1)[1]
    engine = create_engine(url.rsplit("/", 1)[0] + "/postgres")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT application_name FROM pg_stat_activity WHERE datname = :name"), {"name": database}
            )
            return {str(name) for (name,) in rows}
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_each_server_process_names_itself_in_pg_stat_activity(
    pg_server_url: str, gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    url = fresh_pg_database(pg_server_url)
    gateway_factory(database_url=url).close()  # migrated: servers never migrate a server database
    env = environment(
        tmp_path / "data",
        services.free_port(),
        GATEWAY_DATABASE__URL=url,
        GATEWAY_BROKER__URL=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
    )
    extra = {"serve": [], "worker": [], "scheduler": ["--interval", "1"]}
    started = {
        command: subprocess.Popen(
            [GATEWAY, command, *extra[command]], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for command in ROLES
    }
    try:
        deadline = time.monotonic() + 90
        names = sessions(url)
        while not set(ROLES.values()) <= names and time.monotonic() < deadline:
            assert all(p.poll() is None for p in started.values()), {c: p.poll() for c, p in started.items()}
            time.sleep(0.5)
            names = sessions(url)
    finally:
        outputs = {command: stop(process) for command, process in started.items()}
    assert set(ROLES.values()) <= names, (names, outputs)
    assert "" not in names, names


@pytest.mark.postgres
def test_other_commands_are_gateway_cli_unless_the_url_names_itself(pg_server_url: str) -> None:
    url = fresh_pg_database(pg_server_url)
    ask = (
        "import sys; from sqlalchemy import text; from gateway.db.engine import make_engine\n"
        "with make_engine(sys.argv[1]).connect() as c: print(c.execute(text('SHOW application_name')).scalar())"
    )
    plain = subprocess.run([sys.executable, "-c", ask, url], capture_output=True, text=True, timeout=60, check=True)
    assert plain.stdout.strip() == "gateway-cli", plain.stderr

    named = make_engine(f"{url}?application_name=nightly-report")
    try:
        with named.connect() as conn:
            assert conn.execute(text("SHOW application_name")).scalar() == "nightly-report"
    finally:
        named.dispose()


def json_lines(output: str) -> list[dict[str, Any]]:
    """Every line of ``output`` read as JSON: a line that is not fails the test, quoting it."""
    found = []
    for line in output.splitlines():
        if line.strip():
            try:
                found.append(json.loads(line))
            except ValueError:
                pytest.fail(f"a log line that is not JSON: {line!r}\n{output[-3000:]}")
    return found


def first_answer(process: subprocess.Popen[str], url: str, **request: Any) -> httpx.Response:
    """The first answer of a server process just started (it must not exit first; 90 s at most)."""
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, process.communicate()
        try:
            return httpx.get(url, timeout=2, **request)
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the API did not answer within 90 s"
            time.sleep(0.3)


@pytest.mark.parametrize("command", ["serve", "run"])
def test_the_api_server_logs_json_lines_with_access_fields(command: str, tmp_path: Path) -> None:
    port = services.free_port()
    process = subprocess.Popen(
        [GATEWAY, command],
        env=environment(tmp_path / "data", port),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        answer = first_answer(process, f"http://127.0.0.1:{port}/healthz", params={"token": PLANTED})
        assert answer.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code == 200
        time.sleep(0.3)  # the access line is written after the answer
    finally:
        stdout, stderr = stop(process)
    lines = json_lines(stderr)
    if command == "serve":
        assert json_lines(stdout) == []
    assert any(
        line["logger"] == "uvicorn.error" and line["msg"].startswith(f"Uvicorn running on http://127.0.0.1:{port}")
        for line in lines
    ), stderr
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert len(access) >= 1, stderr
    assert access[0]["method"] == "GET" and access[0]["status"] == 200, access
    assert access[0]["path"].startswith("/healthz?token=") and access[0]["client"].startswith("127.0.0.1:"), access
    assert PLANTED not in stderr  # the query string is redacted like any message
    assert not [line for line in lines if line["msg"].startswith("Context impl")], stderr  # per /readyz, not useful


@pytest.mark.parametrize(
    ("believed", "seen_as"), [(None, "127.0.0.1"), ('["127.0.0.1"]', "10.9.8.7")], ids=["default", "behind-a-proxy"]
)
def test_x_forwarded_for_is_believed_only_from_a_named_proxy(
    believed: str | None, seen_as: str, tmp_path: Path
) -> None:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, so any local process could
    choose the address each failed login was counted under (found from outside): by default the client
    is its TCP address; ``api.forwarded_allow_ips`` names the proxies whose header is believed."""
    port = services.free_port()
    extra = {"GATEWAY_API__FORWARDED_ALLOW_IPS": believed} if believed else {}
    process = subprocess.Popen(
        [GATEWAY, "serve"],
        env=environment(tmp_path / "data", port, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        answer = first_answer(process, f"http://127.0.0.1:{port}/healthz", headers={"x-forwarded-for": "10.9.8.7"})
        assert answer.status_code == 200
        time.sleep(0.3)  # the access line is written after the answer
    finally:
        _, stderr = stop(process)
    access = [line for line in json_lines(stderr) if line["logger"] == "uvicorn.access"]
    assert access and access[0]["client"].split(":")[0] == seen_as, access
