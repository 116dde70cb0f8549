"""Benchmark: a ministry's realistic pull, ``GET /v1/packets/{id}`` of a 1,000-value report as JSON,
through the whole API (token check, grant check, rate limiter, SQL read, ETag), under a loopback load
generator; beside a floor measured in the same run: a bare FastAPI route returning the same bytes
from memory, served the same way (uvicorn, one process) and driven by the same generator (issue 7).

    .venv/bin/python bench/api_bench.py [--requests 3000] [--concurrency 16]

Server and generator share the machine's two cores, as they would on one node.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

PAYLOAD_NAME = "payload.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(kind: str, port: int, data: Path) -> None:
    """Child process: the gateway's API on ``data``, or the floor app returning the same bytes."""
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import Response

    if kind == "floor":
        body = (data / PAYLOAD_NAME).read_bytes()
        app = FastAPI()

        @app.get("/v1/packets/{packet_id}")
        def bare(packet_id: str) -> Response:
            return Response(body, media_type="application/json")

    else:
        from gateway.api.app import create_app
        from gateway.bootstrap import bootstrap
        from gateway.settings import Settings

        settings = Settings(data_dir=data, api={"rate_limit_per_second": 1e6, "rate_limit_burst": 1_000_000})
        app = create_app(bootstrap(settings))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def prepare(data: Path, values: int) -> tuple[str, str]:
    """A stored 1,000-value report and a ministry client's token for it."""
    from bench.packets_bench import build
    from gateway import outbox
    from gateway.api.security import Security
    from gateway.auth import accounts
    from gateway.auth.principals import Grants, Principal
    from gateway.bootstrap import bootstrap
    from gateway.packets.validate import write_packet
    from gateway.settings import Settings

    gw = bootstrap(Settings(data_dir=data))
    envelope = build(values)
    payload = write_packet(envelope, "json")
    with gw.sessions.begin() as session:
        packet, _ = outbox.store(
            session, envelope, payload, "json", ["national"], now=gw.clock.now(), value_count=values
        )
        issued = accounts.add_client(
            session,
            "bench ministry",
            "ministry",
            Grants(frozenset({"*"}), frozenset({"*"})),
            now=gw.clock.now(),
            actor="bench",
        )
    token, _ = Security(gw).tokens.issue(Principal("client", issued.client_id, "ministry"))
    (data / PAYLOAD_NAME).write_bytes(payload)
    gw.close()
    return packet.id, token


async def load(url: str, headers: dict[str, str], requests: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                answer = await client.get(url)
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise RuntimeError(f"{url}: HTTP {answer.status_code}: {answer.text[:200]}")

        for _ in range(min(50, requests)):  # warm-up
            await client.get(url)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, latencies


def run(
    kind: str, data: Path, path: str, headers: dict[str, str], args: argparse.Namespace
) -> tuple[float, float, float]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--data", str(data)], env=env
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        rps, latencies = asyncio.run(load(f"http://127.0.0.1:{port}{path}", headers, args.requests, args.concurrency))
    finally:
        child.terminate()
        child.wait(timeout=10)
    latencies.sort()
    return rps, statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--values", type=int, default=1000)
    parser.add_argument("--serve", choices=["gateway", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.data)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        packet_id, token = prepare(data, args.values)
        size = (data / PAYLOAD_NAME).stat().st_size
        path = f"/v1/packets/{packet_id}"
        print(
            f"GET {path}: {args.values} values, {size:,} bytes JSON; {args.requests} requests, "
            f"{args.concurrency} concurrent, keep-alive, loopback"
        )
        print(f"{'server':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        floor = run("floor", data, path, {}, args)
        print(f"{'floor: bare FastAPI, same bytes':34} {floor[0]:>8.0f} {floor[1]:>8.1f} {floor[2]:>8.1f}")
        full = run("gateway", data, path, {"authorization": f"Bearer {token}"}, args)
        print(f"{'gateway: token, grant, SQL, ETag':34} {full[0]:>8.0f} {full[1]:>8.1f} {full[2]:>8.1f}")
        print(f"gateway / floor throughput: {full[0] / floor[0]:.2f} (goal: >= 0.5)")


if __name__ == "__main__":
    main()
