"""Benchmark: a ministry's realistic pull, ``GET /v1/packets/{id}`` of a 1,000-value report as JSON,
through the whole API (token check, grant check, rate limiter, SQL read, ETag), under a loopback load
generator; beside floors measured in the same run: a bare FastAPI route returning the same bytes
from memory, served the same way (uvicorn, one process) and driven by the same generator (issues 7, 19).

    .venv/bin/python bench/api_bench.py [--seconds 10] [--concurrency 16] [--rounds 3]

Two floors: the plain ``def`` route the goal was set against (FastAPI runs it in its thread pool) and
an ``async def`` route (no thread hop), the stricter one since the gateway's hot path has no thread hop
either (issue 19). The goal's ratio is printed against both.

The generator is ``wrk`` (Debian package ``wrk``), a compiled one: a Python generator on the same two
cores is itself the bottleneck of the floor (issue 19 measured 0.56 with it where wrk gives 0.21).
Without wrk on PATH the bench falls back to an asyncio httpx generator (``--requests``) and says so.
Server and generator share the machine's two cores, as they would on one node. The servers alternate
``--rounds`` times (their order turning each round, so none always runs first); the best round of each
is printed, then each round's ratio (the fairer reading when the machine's load moves) and the load
average before and after. Every server is first checked to answer 200 with the same bytes; a run where
wrk saw errors or non-2xx answers says so (or fails).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
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
# No rate limit in the way (its cost is the last line), and a token that outlives a long run.
API_SETTINGS = {"rate_limit_per_second": 1e6, "rate_limit_burst": 1_000_000, "token_ttl_seconds": 86400}
SERVERS = {
    "floor": "floor: bare FastAPI, same bytes",
    "floor-async": "floor: bare FastAPI, async route",
    "gateway": "gateway: token, grant, SQL, ETag",
}


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

    elif kind == "floor-async":
        body = (data / PAYLOAD_NAME).read_bytes()
        app = FastAPI()

        @app.get("/v1/packets/{packet_id}")
        async def bare_async(packet_id: str) -> Response:
            return Response(body, media_type="application/json")

    else:
        from gateway.api.app import create_app
        from gateway.bootstrap import bootstrap
        from gateway.settings import Settings

        app = create_app(bootstrap(Settings(data_dir=data, api=API_SETTINGS)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def prepare(data: Path, values: int) -> tuple[str, str]:
    """A stored 1,000-value report and a ministry client's token for it."""
    from bench.packets_bench import packet
    from gateway import outbox
    from gateway.api.security import Security
    from gateway.auth import accounts
    from gateway.auth.principals import Grants, Principal
    from gateway.bootstrap import bootstrap
    from gateway.packets.validate import write_packet
    from gateway.settings import Settings

    gw = bootstrap(Settings(data_dir=data, api=API_SETTINGS))
    envelope = packet(values)
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


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> tuple[float, float, float]:
    """Requests/s, p50 and p99 in ms from ``wrk --latency`` (one thread: the server has the other core)."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url}: wrk saw non-2xx answers:\n{out}")
    errors = re.search(r"Socket errors: (.*)", out)
    if errors:  # a timed-out request is left out of wrk's latencies: say so rather than hide it
        print(f"  (wrk on {url}: socket errors {errors.group(1).strip()})", flush=True)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{out}")
    rps = float(found.group(1))

    def percentile(p: str) -> float:
        found = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if found is None:
            raise RuntimeError(f"wrk printed no {p}% latency:\n{out}")
        return float(found.group(1)) * _UNITS[found.group(2)]

    return rps, percentile("50"), percentile("99")


def run(
    kind: str, data: Path, path: str, headers: dict[str, str], args: argparse.Namespace
) -> tuple[float, float, float]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--data", str(data)], env=env
    )
    try:
        deadline = time.monotonic() + 120  # a loaded machine starts a server slowly
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if child.poll() is not None:
                    raise SystemExit(f"the {kind} server exited {child.returncode}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}{path}"
        first = httpx.get(url, headers=headers, timeout=30)  # warm-up, and a 200 with the same bytes to start from
        first.raise_for_status()
        if first.content != (data / PAYLOAD_NAME).read_bytes():
            raise SystemExit(f"the {kind} server did not serve the stored bytes")
        if args.generator == "wrk":
            return wrk(url, headers, args.seconds, args.concurrency)
        rps, latencies = asyncio.run(load(url, headers, args.requests, args.concurrency))
    finally:
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    latencies.sort()
    return rps, statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99) - 1] * 1000


def _all(runs: list[tuple[float, float, float]]) -> str:
    return ", ".join(f"{r[0]:.0f}" for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement, with wrk")
    parser.add_argument("--rounds", type=int, default=3, help="floor and gateway alternate; best of each")
    parser.add_argument("--requests", type=int, default=3000, help="per measurement, without wrk")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--values", type=int, default=1000)
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
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
        args.generator = "wrk" if shutil.which("wrk") else "httpx"
        amount = f"{args.seconds:.0f} s" if args.generator == "wrk" else f"{args.requests} requests"
        print(
            f"GET {path}: {args.values} values, {size:,} bytes JSON; generator {args.generator}, {amount} x "
            f"{args.rounds} rounds, {args.concurrency} connections, keep-alive, loopback"
        )
        if args.generator != "wrk":
            print("(wrk not found: the Python generator limits the floor; apt-get install wrk)")
        load_before = _load()
        order = ["floor", "floor-async", "gateway"]
        runs: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in order}
        for round_ in range(args.rounds):
            for kind in order[round_ % 3 :] + order[: round_ % 3]:
                headers = {"authorization": f"Bearer {token}"} if kind == "gateway" else {}
                runs[kind].append(run(kind, data, path, headers, args))
        best = {kind: max(found) for kind, found in runs.items()}
        print(f"{'server':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  (best of {args.rounds}; all req/s)")
        for kind in order:
            rps, p50, p99 = best[kind]
            print(f"{SERVERS[kind]:34} {rps:>8.0f} {p50:>8.1f} {p99:>8.1f}  ({_all(runs[kind])})")
        full = best["gateway"][0]
        print(
            f"gateway / floor throughput: {full / best['floor'][0]:.2f} (goal: >= 0.5); "
            f"against the async floor: {full / best['floor-async'][0]:.2f}"
        )
        pairs = [
            (g[0] / f[0], g[0] / a[0])
            for g, f, a in zip(runs["gateway"], runs["floor"], runs["floor-async"], strict=True)
        ]
        print(
            "round by round, gateway / floor: "
            + ", ".join(f"{p[0]:.2f}" for p in pairs)
            + "; gateway / async floor: "
            + ", ".join(f"{p[1]:.2f}" for p in pairs)
            + f"; load average {load_before} before, {_load()} after"
        )
        print(limiter_cost())


def _load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def limiter_cost(seconds: float = 1.0, every: float = 0.002) -> str:
    """What the API's per-client rate limiter (``gateway.auth.ratelimit.RateLimiter``: the ``limits``
    library's moving window in its memory storage) costs per request at a steady arrival rate, one
    request every ``every`` seconds from one client: the call itself (wall) and the process CPU per
    request beside an idle loop's (the storage's expiry timer thread included)."""
    from gateway.auth.ratelimit import RateLimiter

    def loop(limiter: RateLimiter | None) -> tuple[int, float, float]:
        calls, inside = 0, 0.0
        cpu, end = time.process_time(), time.perf_counter() + seconds
        due = time.perf_counter()
        while time.perf_counter() < end:
            if limiter is not None:
                started = time.perf_counter()
                limiter.take("client")
                inside += time.perf_counter() - started
            calls += 1
            due += every
            while time.perf_counter() < due:
                time.sleep(every / 4)
        return calls, inside, time.process_time() - cpu

    calls, _, idle_cpu = loop(None)
    calls, inside, cpu = loop(RateLimiter(1e6, 1_000_000))
    return (
        f"rate limiter (limits moving window, memory storage), one request every {every * 1000:.0f} ms: "
        f"{inside / calls * 1e6:.0f} us per call, {max(0.0, cpu - idle_cpu) / calls * 1e6:.0f} us CPU per request"
    )


if __name__ == "__main__":
    main()
