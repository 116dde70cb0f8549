"""Regenerate ``indicator-mapping.schema.json`` from the mapping model (a test fails when they drift).

python mappings/schema/build.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mappings.indicators import MappingFile

OUT = Path(__file__).resolve().parent / "indicator-mapping.schema.json"


def build() -> Path:
    schema = MappingFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Indicator mapping (mappings/indicators/*.yaml)"
    OUT.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return OUT


if __name__ == "__main__":
    print(build())
