"""Mutated report templates read by their layouts: whatever bytes a member of a corpus workbook (or
its CSV export) holds, the template reader yields observations, blanks and problems with their
place, never an exception. The grid (adapters/grid.py) parses workbook, styles, shared strings and
sheets itself, so it gets the same mutation campaign as the built-in reader."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from adapters.base import PeriodRef
from adapters.template_reader import TemplateReader
from adapters.template_spec import load_template
from tests.unit.test_mutated_packets import mutate, mutation
from tests.unit.test_mutated_sources import SETTINGS, read_all

CORPUS = Path(__file__).resolve().parents[2] / "examples" / "templates"
WORKBOOKS = ["bieu01-ktxh", "theo-xa", "thang-moi-trang", "so-dang-chu"]
SEEDS = {name: (CORPUS / f"{name}.xlsx").read_bytes() for name in WORKBOOKS}
MEMBERS = {
    name: sorted(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith((".xml", ".rels")))
    for name, data in SEEDS.items()
}
PERIOD = PeriodRef("THANG", 10, 2026)


@SETTINGS
@given(
    choice=st.sampled_from(WORKBOOKS).flatmap(lambda w: st.tuples(st.just(w), st.sampled_from(MEMBERS[w]))),
    mutations=st.lists(mutation, min_size=1, max_size=3),
)
def test_a_corpus_workbook_with_a_mutated_member_is_read_or_refused_by_place(
    choice: tuple[str, str], mutations: list[tuple[str, float, object]]
) -> None:
    name, member = choice
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(SEEDS[name])) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            zout.writestr(item, mutate(data, mutations) if item == member else data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mutated.xlsx"
        path.write_bytes(out.getvalue())
        read_all(TemplateReader(path, load_template(CORPUS / f"{name}.yaml"), period=PERIOD))  # type: ignore[arg-type]


@SETTINGS
@given(mutations=st.lists(mutation, min_size=1, max_size=4))
def test_a_mutated_csv_export_of_a_template_is_read_or_refused_by_place(
    mutations: list[tuple[str, float, object]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mutated.csv"
        path.write_bytes(mutate((CORPUS / "bieu01-csv.csv").read_bytes(), mutations))
        read_all(TemplateReader(path, load_template(CORPUS / "bieu01-csv.yaml"), adapter="csv"))  # type: ignore[arg-type]
