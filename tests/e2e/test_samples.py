"""The bundled sample exports ingest cleanly through their adapters: the UTF-8 CSV, the CSV whose
text is TCVN3 (as old Windows-1258 systems wrote it), and the provincial JSON API fixture served on
loopback. Same figures, same counts, Unicode names."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import FileResponse, Response

from adapters.base import RawObservation
from adapters.csv_exports import CsvReader
from adapters.json_api import JsonApiLayout, JsonApiReader
from gateway.sim.server import BackgroundServer
from tests.integration.test_adapters import run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOTAL = 32 * 20 * 12  # indicators x communes x months


def fixture_server() -> FastAPI:
    app = FastAPI()

    @app.get("/api/{name}")
    def page(name: str) -> Response:
        path = EXAMPLES / "provincial-api" / name
        if not path.is_file() or path.parent != EXAMPLES / "provincial-api":
            return Response(status_code=404)
        return FileResponse(path, media_type="application/json")

    return app


@pytest.mark.parametrize("name", ["lao-cai-ktxh-2026.csv", "lao-cai-ktxh-2026-tcvn3.csv"])
def test_sample_csv_exports(name: str, tmp_path: Path) -> None:
    reader = CsvReader(EXAMPLES / name)
    report, reasons, _, _ = run(reader, tmp_path)
    assert (report.read, report.mapped, report.quarantined) == (TOTAL, TOTAL, 0), reasons[:3]
    first = next(item for item in CsvReader(EXAMPLES / name).read())
    assert isinstance(first, RawObservation)
    assert first.indicator_name == "Dân số trung bình"
    if "tcvn3" in name:
        assert reader.encoding is not None and reader.encoding.legacy == "tcvn3"


def test_sample_json_api_fixture(tmp_path: Path) -> None:
    with BackgroundServer(fixture_server()) as server:
        report, _, _, _ = run(JsonApiReader(JsonApiLayout(url=f"{server.url}/api/page-001.json")), tmp_path)
    assert (report.read, report.mapped, report.quarantined) == (TOTAL, TOTAL, 0)
