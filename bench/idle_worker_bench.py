"""Benchmark: what an idle ``gateway worker`` costs, as a share of one core.

Starts ``gateway worker`` on the embedded default (SQLite + kombu's SQLAlchemy transport), with a
destination configured and nothing to deliver, lets it settle, then reads its CPU time (user +
system, from ``/proc/PID/stat``) over ``--seconds``; each round restarts it. With ``--tree`` given
more than once the trees alternate round by round, each on its own data folder, so a before/after
pair is measured in the same minutes:

    .venv/bin/python bench/idle_worker_bench.py                       # this checkout, 3 rounds of 10 s
    git archive e877b15 | tar -x -C /tmp/before
    .venv/bin/python bench/idle_worker_bench.py --tree /tmp/before --tree .

An idle worker still sweeps SQL every ``worker.sweep_interval`` and asks the broker every
``broker.polling_interval`` (docs/operations.md, "What an idle worker costs"). Not a timed test: the
figure depends on the machine; the load average is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (fields 14 and 15 of /proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(env: dict[str, str], work: Path, settle: float, seconds: float) -> float:
    """One round: start a worker, wait ``settle`` s, return its share of a core over ``seconds``."""
    log = (work / "worker.log").open("ab")
    worker = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker"], env=env, cwd=work, stdout=log, stderr=log
    )
    try:
        time.sleep(settle)
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited {worker.returncode}; see {work / 'worker.log'}")
        before, started = cpu_seconds(worker.pid), time.monotonic()
        time.sleep(seconds)
        share = (cpu_seconds(worker.pid) - before) / (time.monotonic() - started)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
    if worker.returncode != 0:
        raise SystemExit(f"the worker did not stop cleanly ({worker.returncode}); see {work / 'worker.log'}")
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per round")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after start before measuring")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--tree",
        type=Path,
        action="append",
        help="a source tree to measure (an exported commit); repeat it to alternate trees; default: this checkout",
    )
    args = parser.parse_args()
    trees = [t.resolve() for t in args.tree or [ROOT]]
    work = Path(tempfile.mkdtemp(prefix="gw-idle-"))
    envs = []
    for k, tree in enumerate(trees):
        config = work / f"gateway-{k}.toml"
        config.write_text(
            f'data_dir = "{work / f"data-{k}"}"\n'
            "[metrics]\nworker_port = 0\n"
            '[log]\nformat = "text"\n'
            '[destinations.national]\nurl = "http://127.0.0.1:9/receive"\nreceiver = { code = "G01", name = "CP" }\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "GATEWAY_DATA_DIR")}
        env.update({"GATEWAY_CONFIG": str(config), "PYTHONPATH": str(tree)})
        subprocess.run(
            [sys.executable, "-m", "gateway.cli", "db", "upgrade"], env=env, cwd=work, check=True, capture_output=True
        )
        envs.append(env)
    shares: list[list[float]] = [[] for _ in trees]
    for _ in range(args.rounds):
        for k, env in enumerate(envs):  # alternating: each round measures every tree in the same minute
            shares[k].append(measure(env, work, args.settle, args.seconds))
    load = os.getloadavg()
    print(
        f"{args.rounds} rounds of {args.seconds:g} s after {args.settle:g} s; "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; work dir {work}"
    )
    for k, tree in enumerate(trees):
        runs = sorted(shares[k])
        median = runs[len(runs) // 2]
        print(
            f"idle worker {tree}: median {median * 100:.1f}% of a core "
            f"(each: {', '.join(f'{s * 100:.1f}' for s in shares[k])})"
        )
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
