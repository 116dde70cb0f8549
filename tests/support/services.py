"""Start and stop throwaway PostgreSQL and RabbitMQ servers on 127.0.0.1 for the test suite.

    python -m tests.support.services start ENVFILE   # writes export lines: URLs and pids
    python -m tests.support.services stop ENVFILE

The conftest uses the same functions when the suite is run without the test command. Servers use
free ports, data in a temporary folder, and never bind outside loopback.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class ServiceUnavailable(RuntimeError):
    pass


_RUNNING: list[subprocess.Popen[bytes]] = []  # servers outlive the function that started them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path:
        return path
    raise ServiceUnavailable(
        f"PostgreSQL's {name} not found: install the Debian package 'postgresql' (ops/ci/ensure-packages.sh does it)"
    )


def start_postgres() -> dict[str, str]:
    base = Path(tempfile.mkdtemp(prefix="gw-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        uid = pwd.getpwnam("postgres").pw_uid
        os.chown(base, uid, -1)
    port = free_port()
    subprocess.run(
        _as_postgres(
            [
                _pg_bin("initdb"),
                "-D",
                str(data),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    opts = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        _as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_postgres([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "gateway_test"]),
        check=True,
        capture_output=True,
    )
    return {
        "GATEWAY_TEST_PG_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/gateway_test",
        "GATEWAY_TEST_PG_DIR": str(base),
    }


def stop_postgres(base: str) -> None:
    subprocess.run(
        _as_postgres([_pg_bin("pg_ctl"), "-D", f"{base}/data", "-m", "immediate", "stop"]), capture_output=True
    )
    shutil.rmtree(base, ignore_errors=True)


def _rabbit_bin() -> str:
    for candidate in ("/usr/lib/rabbitmq/bin/rabbitmq-server", shutil.which("rabbitmq-server") or ""):
        if candidate and os.path.exists(candidate):
            return candidate
    raise ServiceUnavailable(
        "rabbitmq-server not found: install the Debian package 'rabbitmq-server' (ops/ci/ensure-packages.sh does it)"
    )


def start_rabbitmq(timeout: float = 90.0) -> dict[str, str]:
    base = Path(tempfile.mkdtemp(prefix="gw-rmq-"))
    port, dist, epmd = free_port(), free_port(), free_port()
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq.conf").write_text(f"loopback_users = none\nlisteners.tcp.default = 127.0.0.1:{port}\n")
    env = {
        **os.environ,
        "HOME": str(base),
        "RABBITMQ_NODENAME": f"gwtest{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(epmd),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    with open(base / "server.out", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([_rabbit_bin()], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _RUNNING.append(proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceUnavailable(f"rabbitmq-server exited: {(base / 'server.out').read_text()[-2000:]}")
        if b"Starting broker... completed" in (base / "server.out").read_bytes() or _amqp_ready(port):
            break
        time.sleep(0.5)
    else:
        raise ServiceUnavailable(f"rabbitmq-server did not start within {timeout:.0f} s")
    while not _amqp_ready(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    return {
        "GATEWAY_TEST_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{port}//",
        "GATEWAY_TEST_RMQ_PID": str(proc.pid),
        "GATEWAY_TEST_RMQ_DIR": str(base),
        "GATEWAY_TEST_EPMD_PORT": str(epmd),
    }


def _amqp_ready(port: int) -> bool:
    try:
        from kombu import Connection

        with Connection(f"amqp://guest:guest@127.0.0.1:{port}//", connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def stop_rabbitmq(pid: str, base: str, epmd_port: str | None = None) -> None:
    try:
        os.killpg(int(pid), signal.SIGTERM)
        for _ in range(50):
            os.killpg(int(pid), 0)
            time.sleep(0.1)
        os.killpg(int(pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in [p for p in _RUNNING if str(p.pid) == str(pid)]:
        proc.wait(timeout=10)
        _RUNNING.remove(proc)
    if epmd_port:
        subprocess.run(["pkill", "-f", f"epmd.*{epmd_port}"], capture_output=True)
        env = {**os.environ, "ERL_EPMD_PORT": epmd_port}
        subprocess.run(["epmd", "-kill"], env=env, capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def start_all() -> dict[str, str]:
    env = start_postgres()
    env.update(start_rabbitmq())
    return env


def stop_all(env: dict[str, str]) -> None:
    if env.get("GATEWAY_TEST_PG_DIR"):
        stop_postgres(env["GATEWAY_TEST_PG_DIR"])
    if env.get("GATEWAY_TEST_RMQ_PID"):
        stop_rabbitmq(env["GATEWAY_TEST_RMQ_PID"], env["GATEWAY_TEST_RMQ_DIR"], env.get("GATEWAY_TEST_EPMD_PORT"))


def _read_env(path: str) -> dict[str, str]:
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            out[key] = value.strip("'")
    return out


if __name__ == "__main__":
    action, envfile = sys.argv[1], sys.argv[2]
    if action == "start":
        started = time.monotonic()
        values = start_all()
        Path(envfile).write_text("".join(f"export {k}='{v}'\n" for k, v in values.items()))
        print(
            f"PostgreSQL: {values['GATEWAY_TEST_PG_URL']}\nRabbitMQ:   {values['GATEWAY_TEST_AMQP_URL']}\n"
            f"(started in {time.monotonic() - started:.1f} s)"
        )
    elif action == "stop":
        stop_all(_read_env(envfile))
    else:
        sys.exit(f"usage: {sys.argv[0]} start|stop ENVFILE")
