"""Benchmark: ``gateway validate`` on a large packet, valid and invalid, XML and JSON (issue 19).

An outside test found a 41 MB packet took minutes and 1.5 GB to validate; the cause was the place of
each schema error being found by counting its preceding siblings (quadratic in a packet of 150,000
figures). This writes one report of ``--values`` figures with the project's writer (``packets_bench``),
then a copy in which every ``MaChiTieu`` is 120 characters long (one schema error per figure), and
times ``gateway validate --format json`` on each as a fresh process: wall seconds and peak RSS, best
of ``--rounds``, and how many errors were listed (at most 1,000, then one line of how many more).

    .venv/bin/python bench/validate_bench.py                  # 150,000 values (about 40 MB of XML)
    .venv/bin/python bench/validate_bench.py --values 10000 --rounds 1

Not a timed test: the times depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.packets_bench import packet  # noqa: E402
from gateway.packets.validate import write_packet  # noqa: E402

GATEWAY = str(Path(sys.executable).parent / "gateway")


def files(values: int, folder: Path) -> dict[str, Path]:
    envelope = packet(values)
    xml = write_packet(envelope, "xml")
    doc = write_packet(envelope, "json")
    long_xml = re.sub(
        rb"<MaChiTieu>(\d+)</MaChiTieu>", lambda m: b"<MaChiTieu>" + (m[1] * 60)[:120] + b"</MaChiTieu>", xml
    )
    long_json = re.sub(rb'"MaChiTieu":"(\d+)"', lambda m: b'"MaChiTieu":"' + (m[1] * 60)[:120] + b'"', doc)
    out = {}
    for name, data in (("valid.xml", xml), ("valid.json", doc), ("invalid.xml", long_xml), ("invalid.json", long_json)):
        path = folder / name
        path.write_bytes(data)
        out[name] = path
    return out


def run(path: Path) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MB) of the child, errors listed, and the last line of the listing."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [GATEWAY, "validate", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        (result,) = json.loads(done.stdout)  # one file: {"file", "valid", "errors": [...]}
        errors = result.get("errors", [])
    except (json.JSONDecodeError, ValueError):
        errors = []
    last = errors[-1]["message"] if errors else (done.stderr.strip().splitlines() or ["valid"])[-1]
    return wall, max(peak, before) / 1024, len(errors), last[:100]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", type=int, default=150_000, help="figures in the report")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        made = files(args.values, Path(tmp))
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{args.values:,} values; best of {args.rounds}; load average {load}")
        for name, path in made.items():
            best = min((run(path) for _ in range(args.rounds)), key=lambda r: r[0])
            wall, rss, errors, last = best
            size = path.stat().st_size / 1e6
            print(f"{name:<13} {size:6.1f} MB  {wall:6.2f} s  peak RSS so far {rss:5.0f} MB  errors listed {errors:,}")
            if errors:
                print(f"{'':<13} last: {last}")
    print("(peak RSS is the largest of the validate processes run so far: the children's maximum)")


if __name__ == "__main__":
    main()
