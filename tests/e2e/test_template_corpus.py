"""The template corpus (examples/templates/) read through the command line, as an operator would:
each workbook with its layout, and with the layout ``gateway template infer`` proposes for it, gives
exactly the observations the generator wrote from its own figures (never from the reader)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "templates"
GATEWAY = str(Path(sys.executable).parent / "gateway")
SHAPES = sorted(p.name.removesuffix(".expected.json") for p in CORPUS.glob("*.expected.json"))


def gateway(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GATEWAY_DATA_DIR": str(data), "COLUMNS": "200"},
    )


def dry_run(expected: dict[str, Any], layout: Path, data: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    options = [x for k, v in expected["options"].items() for x in (f"--{k}", v)]
    source = str(CORPUS / expected["source"])
    done = gateway(
        "ingest", source, "--adapter", expected["adapter"], "--template", str(layout),
        "--dry-run", "--format", "jsonl", *options, data=data,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return [r for r in records if "problem" not in r], [r for r in records if "problem" in r]


def same(records: tuple[list[dict[str, Any]], list[dict[str, Any]]], expected: dict[str, Any]) -> None:
    observations, problems = records
    assert observations == expected["observations"]
    assert [p["location"] for p in problems] == [e["location"] for e in expected["problems"]]
    for got, want in zip(problems, expected["problems"], strict=True):
        assert want["reason_contains"] in got["problem"]


def test_the_corpus_has_at_least_eight_shapes_and_a_csv() -> None:
    assert len(SHAPES) >= 8
    adapters = {json.loads((CORPUS / f"{s}.expected.json").read_text(encoding="utf-8"))["adapter"] for s in SHAPES}
    assert adapters == {"xlsx", "csv"}


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_reads_exactly_with_its_layout(shape: str, tmp_path: Path) -> None:
    expected = json.loads((CORPUS / f"{shape}.expected.json").read_text(encoding="utf-8"))
    assert expected["observations"], "every shape holds figures"
    same(dry_run(expected, CORPUS / f"{shape}.yaml", tmp_path), expected)


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_reads_exactly_with_its_inferred_layout(shape: str, tmp_path: Path) -> None:
    expected = json.loads((CORPUS / f"{shape}.expected.json").read_text(encoding="utf-8"))
    layout = tmp_path / "inferred.yaml"
    inferred = gateway("template", "infer", str(CORPUS / expected["source"]), "-o", str(layout), data=tmp_path)
    assert inferred.returncode == 0, inferred.stderr
    same(dry_run(expected, layout, tmp_path), expected)


def test_the_generator_reproduces_the_committed_corpus_byte_for_byte(tmp_path: Path) -> None:
    """The workbooks, layouts and expected observations are the generator's, not edited by hand
    (nor the expectations produced by a reader run)."""
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(CORPUS)!r}); import generate; "
         f"generate.generate(__import__('pathlib').Path({str(tmp_path)!r}))"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for shape in SHAPES:
        source = json.loads((CORPUS / f"{shape}.expected.json").read_text(encoding="utf-8"))["source"]
        for name in (source, f"{shape}.yaml", f"{shape}.expected.json"):
            fresh, committed = (tmp_path / name).read_bytes(), (CORPUS / name).read_bytes()
            assert fresh == committed, f"{name}: run examples/templates/generate.py"


def test_a_mapping_that_names_its_template_needs_no_flags(tmp_path: Path) -> None:
    """Scheduled ingest: the mapping says which layout its workbooks have (mappings/templates/)."""
    mapping = tmp_path / "lao-cai-bieu01.yaml"
    original = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
    mapping.write_text(original.read_text(encoding="utf-8") + "template: bieu01-ktxh.yaml\n", encoding="utf-8")
    source = str(CORPUS / "bieu01-ktxh.xlsx")
    done = gateway("ingest", source, "--adapter", "xlsx", "--mapping", str(mapping), data=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "read 21: mapped 20, quarantined 1, blank 0" in done.stdout
    assert "not a number" in done.stdout
    without = gateway("ingest", source, "--adapter", "xlsx", "--mapping", str(original), data=tmp_path)
    assert "sheet name does not match the period pattern" in without.stdout  # the first try


def test_dry_run_reads_any_adapter_and_stores_nothing(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "data"
    csv = gateway(
        "ingest", str(ROOT / "examples" / "lao-cai-ktxh-2026-tcvn3.csv"), "--adapter", "csv",
        "--dry-run", "--format", "jsonl", data=data,
    )  # fmt: skip
    assert csv.returncode == 0, csv.stderr
    records = [json.loads(line) for line in csv.stdout.splitlines()]
    assert len(records) == 7680 and "read 7680: values 7680, problems 0, blank 0; nothing stored" in csv.stderr
    assert records[0]["location"] == "lao-cai-ktxh-2026-tcvn3.csv:2"
    assert records[0]["name"] == "Dân số trung bình"  # TCVN3 bytes decoded, NFC
    assert set(records[0]) == {"indicator", "name", "unit", "column", "period", "unit_code", "value", "location"}

    db = tmp_path / "source.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE so_lieu (ma TEXT, ky TEXT, dvhc TEXT, gia_tri NUMERIC)")
        conn.executemany(
            "INSERT INTO so_lieu VALUES (?, ?, ?, ?)",
            [("T0201", "2026-THANG-10", "02647", "8512.50"), ("T0301", "2026-THANG-13", "02647", "40")],
        )
    query = "SELECT ma AS ma_chi_tieu, ky, dvhc AS ma_dvhc, gia_tri FROM so_lieu"
    sql = gateway(
        "ingest", f"sqlite:///{db}", "--adapter", "sql", "--query", query, "--dry-run", "--format", "jsonl", data=data
    )  # fmt: skip
    assert sql.returncode == 0, sql.stderr
    first, second = (json.loads(line) for line in sql.stdout.splitlines())
    assert (first["indicator"], first["unit_code"], first["value"]) == ("T0201", "02647", "8512.5")
    assert "THANG numbers run from 1 to 12" in second["problem"]
    assert not data.exists() or not any(data.iterdir()), "a dry run writes nothing"
