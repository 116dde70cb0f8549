"""Regenerate the JSON Schemas of the mapping files from their models (a test fails when they drift).

python mappings/schema/build.py

``indicator-mapping.schema.json``: ``mappings/indicators/*.yaml``;
``template-layout.schema.json``: ``mappings/templates/*.yaml`` (report template layouts).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from adapters.template_spec import TemplateSpec
from mappings.indicators import MappingFile

HERE = Path(__file__).resolve().parent
OUT = HERE / "indicator-mapping.schema.json"
TEMPLATE_OUT = HERE / "template-layout.schema.json"


def build() -> list[Path]:
    out = []
    for model, path, title in (
        (MappingFile, OUT, "Indicator mapping (mappings/indicators/*.yaml)"),
        (TemplateSpec, TEMPLATE_OUT, "Report template layout (mappings/templates/*.yaml)"),
    ):
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = title
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        out.append(path)
    return out


if __name__ == "__main__":
    for p in build():
        print(p)
