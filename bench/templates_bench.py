"""Benchmark: ingest rates per template shape (issue 16). For each workbook of the template corpus
(examples/templates/) and for the Lào Cai sample read by a layout: values read per second by the
template reader alone (best of 5, in-process), and values per second through a whole ingest (read,
map, store in a fresh SQLite database; best of 3). The corpus workbooks are small (9 to 24 values),
so their rates are mostly the fixed cost of opening a workbook; the Lào Cai sample (8,085 values in
12 sheets) gives the streaming rate.

    .venv/bin/python bench/templates_bench.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.base import PeriodRef, RawObservation, Reader  # noqa: E402
from adapters.template_reader import TemplateReader  # noqa: E402
from adapters.template_spec import TemplateSpec, load_template  # noqa: E402

CORPUS = ROOT / "examples" / "templates"
MAPPING = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
LAO_CAI = TemplateSpec.model_validate(
    {
        "name": "lao-cai-sample",
        "sheets": {"pattern": r"^T\d{2}-\d{4}$"},
        "header_rows": [6, 7],
        "columns": {"code": {"column": "B"}, "name": {"column": "C"}, "unit": {"column": "D"}},
        "values": [{"header": r"^(\d{2}|\d{5})$", "row": 7, "code": "TH"}],
        "period": {"source": "sheet_name", "pattern": r"^T(?P<number>\d{1,2})-(?P<year>\d{4})$"},
        "reporting_unit": {"source": "header_row", "row": 7},
    }
)


def shapes() -> list[tuple[str, Callable[[], Reader]]]:
    out: list[tuple[str, Callable[[], Reader]]] = []
    for expected in sorted(CORPUS.glob("*.expected.json")):
        meta = json.loads(expected.read_text(encoding="utf-8"))
        name = expected.name.removesuffix(".expected.json")
        spec = load_template(CORPUS / f"{name}.yaml")
        period = PeriodRef("THANG", 10, 2026) if meta["options"].get("period") else None
        path = CORPUS / meta["source"]

        def make(
            path: Path = path, spec: TemplateSpec = spec, kind: str = meta["adapter"], p: PeriodRef | None = period
        ) -> Reader:
            return TemplateReader(path, spec, adapter=kind, period=p)

        out.append((name, make))
    sample = ROOT / "examples" / "lao-cai-ktxh-2026.xlsx"
    out.append(("lao-cai sample (communes across, 12 sheets)", lambda: TemplateReader(sample, LAO_CAI)))
    return out


def best(rounds: int, run: Callable[[], int]) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        n = run()
        times.append(time.perf_counter() - started)
    return min(times), n


def read_only(make: Callable[[], Reader]) -> int:
    return sum(isinstance(item, RawObservation) for item in make().read())


def full_ingest(make: Callable[[], Reader], rounds: int = 3) -> tuple[float, int]:
    """Best of ``rounds`` ingests, each into a fresh migrated SQLite database (set up untimed)."""
    from sqlalchemy.orm import sessionmaker

    from gateway.clock import SystemClock
    from gateway.db.engine import make_engine, upgrade
    from gateway.ingest import ingest
    from mappings.indicators import load_mapping

    mapping = load_mapping(MAPPING)
    times, read = [], 0
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{folder}/bench.sqlite")
            upgrade(engine)
            try:
                started = time.perf_counter()
                report = ingest(sessionmaker(engine), make(), mapping, SystemClock(), reporting_unit="H15")
                times.append(time.perf_counter() - started)
                read = report.read
            finally:
                engine.dispose()
    return min(times), read


def main() -> None:
    print(f"{'shape':46} {'values':>7} {'read ms':>8} {'read values/s':>14} {'ingest ms':>10} {'ingest values/s':>16}")
    for name, make in shapes():
        read_s, values = best(5, lambda make=make: read_only(make))
        ingest_s, cells = full_ingest(make)
        print(
            f"{name:46} {values:>7,} {read_s * 1000:>8.1f} {values / read_s:>14,.0f} "
            f"{ingest_s * 1000:>10.1f} {cells / ingest_s:>16,.0f}"
        )


if __name__ == "__main__":
    main()
