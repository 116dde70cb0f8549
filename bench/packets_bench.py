"""Benchmark: build, serialise and validate a 100,000-value SO_LIEU_BAO_CAO packet, JSON and XML.

Prints values per second for the gateway's full paths beside a floor measured in the same run:
plain ``json.dumps``/``json.loads`` of the same wire object, and plain lxml serialisation and parse of
the same XML document. Goal (issue 3): each full path within 3x of its floor.

    .venv/bin/python bench/packets_bench.py [--values 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree

from gateway import calendar
from gateway.clock import VN_TZ
from gateway.packets import codec
from gateway.packets import model as m
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet, write_packet


def build(values: int) -> m.Envelope:
    now = datetime(2026, 10, 20, 9, tzinfo=VN_TZ)
    unit = m.Unit(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai")
    # As the report builder does (gateway.reports): the figures validated as one list.
    figures = m.figures(
        {
            "indicator_code": f"{i % 500:04d}",
            "value": f"{i * 37 % 100000}.{i % 100:02d}",
            "unit": "tỷ đồng",
            "disaggregation": [{"dimension": "DVHC", "value_code": f"{i // 500:05d}"}],
        }
        for i in range(values)
    )
    return m.Envelope(
        packet_id=uuid.uuid4(),
        packet_type=m.PacketType.SO_LIEU_BAO_CAO,
        profile="qcvn125-gw/0",
        created_at=now,
        sender=unit,
        receiver=m.Unit(code="G01", name="Hệ thống thông tin báo cáo Chính phủ"),
        body=m.ReportFigures(
            regime_code="KTXH-THANG",
            form_code="BM01-KT",
            period=calendar.period("THANG", 10, 2026),
            reporting_unit=unit,
            revision=1,
            sent_at=now,
            figures=figures,
        ),
    )


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()  # the same conditions for every path: no collector pauses inside a measurement
        try:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, r = args.values, args.repeat
    profile = load_profile()

    t_model = best(lambda: build(n), r)
    env = build(n)
    wire = codec.to_wire(env, profile)
    as_json = write_packet(env, "json")
    as_xml = write_packet(env, "xml")
    tree = etree.fromstring(as_xml)

    rows = [
        ("canonical model build (pydantic)", t_model, None),
        (
            "JSON floor: json.dumps + json.loads",
            best(lambda: json.loads(json.dumps(wire, ensure_ascii=False)), r),
            None,
        ),
        ("JSON gateway: write_packet (validated)", best(lambda: write_packet(env, "json"), r), "json"),
        ("JSON gateway: read_packet (validated)", best(lambda: read_packet(as_json), r), "json"),
        ("XML floor: lxml tostring + fromstring", best(lambda: etree.fromstring(etree.tostring(tree)), r), None),
        ("XML gateway: write_packet (validated)", best(lambda: write_packet(env, "xml"), r), "xml"),
        ("XML gateway: read_packet (validated)", best(lambda: read_packet(as_xml), r), "xml"),
    ]
    floors = {"json": rows[1][1], "xml": rows[4][1]}
    print(f"{n:,} values per packet; best of {r}; JSON {len(as_json):,} bytes, XML {len(as_xml):,} bytes")
    print(f"{'path':45} {'seconds':>9} {'values/s':>12} {'x floor':>8}")
    for name, seconds, kind in rows:
        ratio = f"{seconds / floors[kind]:.1f}" if kind else ""
        print(f"{name:45} {seconds:9.3f} {n / seconds:12,.0f} {ratio:>8}")
    write = {kind: next(s for name, s, k in rows if k == kind and "write_packet" in name) for kind in floors}
    read = {kind: next(s for name, s, k in rows if k == kind and "read_packet" in name) for kind in floors}
    for kind in ("json", "xml"):
        f = floors[kind]
        print(
            f"{kind.upper()}: build + serialise + validate (write_packet) {write[kind] / f:.1f}x the floor "
            f"(goal <= 3x); with the canonical model build {(t_model + write[kind]) / f:.1f}x; "
            f"round trip (write + read) {(write[kind] + read[kind]) / f:.1f}x"
        )


if __name__ == "__main__":
    main()
