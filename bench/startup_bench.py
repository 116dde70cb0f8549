"""Benchmark: command start-up (issue 19: ``gateway --help`` and a one-row ingest in < 0.5 s).

Runs ``gateway --help`` and a one-row CSV ingest (a new period each time, so each run stores one
value) as fresh processes, on a migrated database with signing keys, a trust folder and a destination
configured as a province deploys the gateway, and prints the best of ``--rounds`` for wall-clock and
CPU (user + system) seconds, how many modules the ingest loaded, and the floor: importing only the
libraries a one-row ingest needs, timed in the same rounds. The bytecode of the project is
compiled first (an installed package has it; a shell with ``PYTHONDONTWRITEBYTECODE=1`` would make
every process compile the project from source, and this script unsets it for the commands it runs).

    .venv/bin/python bench/startup_bench.py            # 3 rounds
    .venv/bin/python bench/startup_bench.py --rounds 5
    .venv/bin/python bench/startup_bench.py --tree /tmp/before --tree .   # alternating pairs

Not a timed test: the times depend on the machine and its load (say the load average beside them).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAPPING = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
LIBRARIES = ("sqlalchemy.orm", "sqlalchemy.dialects.sqlite", "pydantic_settings", "typer", "rich.console")
"""What a one-row ingest cannot start without (the ORM, SQLite's dialect, the settings, the CLI and
its console): importing them alone, in a fresh process, is the floor the ingest's start-up is set
against in the same run (on a slow machine both move; the ratio says what is ours)."""
COUNT_MODULES = (
    "import sys, json\n"
    "sys.argv = ['gateway', *json.loads(sys.argv[1])]\n"
    "from gateway.cli import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "print('modules', len(sys.modules))\n"
)


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Run ``command`` in ``cwd``; its wall-clock and CPU seconds (user + system, its own) and its
    stdout. ``cwd`` is the work directory, not the caller's: ``python -m``/``-c`` put the current
    directory first on ``sys.path``, so run from another checkout they would time that one's code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--tree",
        type=Path,
        action="append",
        help="a source tree to time (an exported commit: git archive C | tar -x -C DIR); repeat it to "
        "alternate trees round by round, each on its own database; default: this checkout",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (database, PKI)")
    args = parser.parse_args()
    from gateway.signing.testpki import make_test_pki

    trees = [t.resolve() for t in args.tree or [ROOT]]
    for tree in trees:
        for package in ("gateway", "adapters", "mappings"):
            compileall.compile_dir(tree / package, quiet=1)
    work = Path(tempfile.mkdtemp(prefix="gw-startup-"))
    pki = make_test_pki(work / "pki", province="H15")
    gateway = [sys.executable, "-m", "gateway.cli"]
    source = work / "one.csv"

    def one_row(n: int) -> list[str]:
        source.write_text(
            "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"
            f"T0201,,người,{2030 + n // 12}-THANG-{n % 12 + 1},15,{n}\n",
            encoding="utf-8",
        )
        return ["ingest", str(source), "--adapter", "csv", "--mapping", str(MAPPING)]

    envs = []
    for k, tree in enumerate(trees):
        data = work / f"data-{k}"
        config = work / f"gateway-{k}.toml"
        config.write_text(
            f'data_dir = "{data}"\n'
            f'[[signing.keys]]\npath = "{pki / "signer.p12"}"\npassphrase_file = "{pki / "passphrase.txt"}"\n'
            f'[trust]\ndir = "{pki / "trust"}"\n'
            '[destinations.national]\nurl = "http://127.0.0.1:9/receive"\nreceiver = { code = "G01", name = "CP" }\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update({"GATEWAY_CONFIG": str(config), "GATEWAY_DATA_DIR": str(data), "PYTHONPATH": str(tree)})
        timed([*gateway, "db", "upgrade"], env, work)  # the database made and migrated once, not timed
        timed([*gateway, *one_row(0)], env, work)  # and a first ingest: later ones pay what every one pays
        envs.append(env)
    helps: list[list[tuple[float, float]]] = [[] for _ in trees]
    ingests: list[list[tuple[float, float]]] = [[] for _ in trees]
    floors: list[tuple[float, float]] = []
    floor = [sys.executable, "-c", "; ".join(f"import {name}" for name in LIBRARIES)]
    for n in range(1, args.rounds + 1):
        floors.append(timed(floor, envs[0], work)[:2])
        for k, env in enumerate(envs):  # alternating: each round runs every tree in the same minute
            helps[k].append(timed([*gateway, "--help"], env, work)[:2])
            wall, cpu, out = timed([*gateway, *one_row(n)], env, work)
            if "mapped 1" not in out:
                raise SystemExit(f"the one-row ingest did not store its value:\n{out}")
            ingests[k].append((wall, cpu))
    load = os.getloadavg()
    print(f"{args.rounds} rounds; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; work dir {work}")
    for k, (tree, env) in enumerate(zip(trees, envs, strict=True)):
        modules = timed([sys.executable, "-c", COUNT_MODULES, json.dumps(one_row(args.rounds + 1))], env, work)[2]
        if len(trees) > 1:
            print(f"tree {tree}")
        for name, runs in (("gateway --help", helps[k]), ("one-row ingest", ingests[k])):
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(
                f"{name:16} best wall {min(walls):.2f} s, best CPU {min(cpus):.2f} s "
                f"(each: {', '.join(f'{w:.2f}/{c:.2f}' for w, c in runs)} wall/CPU) goal < 0.5 s"
            )
        print(f"one-row ingest loaded {modules.split()[-1]} modules")
        floor_wall = min(w for w, _ in floors)
        print(
            f"libraries alone best wall {floor_wall:.2f} s ({', '.join(LIBRARIES)}): "
            f"the one-row ingest is {min(w for w, _ in ingests[k]) / floor_wall:.1f}x that"
        )
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
