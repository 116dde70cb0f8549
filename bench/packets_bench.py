"""Benchmark: build, serialise and validate a 100,000-value SO_LIEU_BAO_CAO packet, JSON and XML.

Prints values per second for the gateway's full paths beside a floor measured in the same run:
plain ``json.dumps``/``json.loads`` of the same wire object, and plain lxml serialisation and parse of
the same XML document. Goal (issue 3): each full path within 3x of its floor.

    .venv/bin/python bench/packets_bench.py [--values 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree

from gateway import calendar
from gateway.clock import VN_TZ
from gateway.packets import codec
from gateway.packets import model as m
from gateway.packets.profile import load_profile
from gateway.packets.validate import figure_names, read_packet, report_head, write_packet, write_report_json


def source_rows(values: int) -> list[dict[str, Any]]:
    """The figures as an adapter hands them over (canonical names, plain dicts): the input, not timed."""
    return [
        {
            "indicator_code": f"{i % 500:04d}",
            "value": f"{i * 37 % 100000}.{i % 100:02d}",
            "unit": "tỷ đồng",
            "disaggregation": [{"dimension": "DVHC", "value_code": f"{i // 500:05d}"}],
        }
        for i in range(values)
    ]


def build(rows: list[dict[str, Any]]) -> m.Envelope:
    """The canonical packet from the adapter's rows, as the report builder makes it (gateway.reports):
    the figures validated as one list, then the envelope."""
    now = datetime(2026, 10, 20, 9, tzinfo=VN_TZ)
    unit = m.Unit(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai")
    figures = m.figures(rows)
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


def report_from_rows(rows: list[dict[str, Any]], envelope: m.Envelope) -> bytes:
    """The report builder's path (gateway.reports): the figures as wire-named dicts straight from the
    rows, one disaggregation list shared by the rows that have it, then ``write_report_json`` (the
    whole document checked against the JSON Schema and the rules, written in its RFC 8785 form)."""
    profile = load_profile()
    n = figure_names(profile)
    body = envelope.body
    assert isinstance(body, m.ReportFigures)
    head = report_head(
        envelope.packet_id,
        profile.id,
        envelope.created_at,
        envelope.sender,
        envelope.receiver,
        m.SubmittedForm(**{k: v for k, v in body.__dict__.items() if k != "figures"}),
    )
    cuts: dict[str, list[dict[str, str]]] = {}
    figures = []
    for row in rows:
        cut = row["disaggregation"]
        key = ";".join(f"{d['dimension']}:{d['value_code']}" for d in cut)
        shared = cuts.get(key)
        if shared is None:
            shared = cuts[key] = [{n.dimension: d["dimension"], n.value_code: d["value_code"]} for d in cut]
        figure = {n.indicator: row["indicator_code"], n.value: row["value"], n.unit: row["unit"]}
        if shared:
            figure[n.cut] = shared
        figures.append(figure)
    return write_report_json(head, figures, profile=profile, canonical=True)


def packet(values: int) -> m.Envelope:
    """A ``values``-figure report packet, for the other benches (signing, API): rows made, then built."""
    return build(source_rows(values))


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    gc.disable()  # the same conditions for every path: no collector pauses inside a measurement
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def rounds(paths: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Every path once per round, ``repeat`` rounds. Interleaved rather than path after path, so a
    slow stretch of a shared machine (this VM's timings vary by 40%) hits the floor and the gateway
    paths alike instead of one of them; the ratios are taken from each path's best round."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeat):
        for name, fn in paths.items():
            times[name].append(timed(fn))
    return times


MODEL = "canonical model build from the rows (pydantic)"
JSON_FLOOR = "JSON floor: json.dumps + json.loads"
XML_FLOOR = "XML floor: lxml tostring + fromstring"
REPORT = "JSON report builder: rows -> write_report_json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, r = args.values, args.repeat
    profile = load_profile()

    rows = source_rows(n)
    env = build(rows)
    wire = codec.to_wire(env, profile)
    as_json = write_packet(env, "json")
    as_xml = write_packet(env, "xml")
    tree = etree.fromstring(as_xml)
    paths: dict[str, tuple[Callable[[], object], str | None]] = {
        MODEL: (lambda: build(rows), None),
        JSON_FLOOR: (lambda: json.loads(json.dumps(wire, ensure_ascii=False)), None),
        "JSON gateway: write_packet (validated)": (lambda: write_packet(env, "json"), "json"),
        "JSON gateway: read_packet (validated)": (lambda: read_packet(as_json), "json"),
        REPORT: (lambda: report_from_rows(rows, env), "json"),
        XML_FLOOR: (lambda: etree.fromstring(etree.tostring(tree)), None),
        "XML gateway: write_packet (validated)": (lambda: write_packet(env, "xml"), "xml"),
        "XML gateway: read_packet (validated)": (lambda: read_packet(as_xml), "xml"),
    }
    times = rounds({name: fn for name, (fn, _) in paths.items()}, r)
    best = {name: min(ts) for name, ts in times.items()}
    floors = {"json": best[JSON_FLOOR], "xml": best[XML_FLOOR]}
    print(f"{n:,} values per packet; {r} interleaved rounds; JSON {len(as_json):,} bytes, XML {len(as_xml):,} bytes")
    print(f"{'path':48} {'best s':>7} {'median s':>9} {'values/s':>10} {'x floor':>8}")
    for name, (_, kind) in paths.items():
        ratio = f"{best[name] / floors[kind]:.1f}" if kind else ""
        median = statistics.median(times[name])
        print(f"{name:48} {best[name]:7.3f} {median:9.3f} {n / best[name]:10,.0f} {ratio:>8}")
    model = best[MODEL]
    for kind in ("json", "xml"):
        f = floors[kind]
        write = best[f"{kind.upper()} gateway: write_packet (validated)"]
        read = best[f"{kind.upper()} gateway: read_packet (validated)"]
        print(
            f"{kind.upper()}: build + serialise + validate (write_packet) {write / f:.1f}x the floor "
            f"(goal <= 3x); with the canonical model build {(model + write) / f:.1f}x; "
            f"round trip (write + read) {(write + read) / f:.1f}x"
        )
    print(
        f"JSON report builder (rows -> figures -> validated RFC 8785 bytes, no model per figure): "
        f"{best[REPORT] / floors['json']:.1f}x the floor (issue 19: the whole build within 2x)"
    )


if __name__ == "__main__":
    main()
