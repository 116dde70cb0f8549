"""The committed OpenAPI document, rendered from an app built on a throw-away embedded default."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from gateway.settings import Settings


def render() -> str:
    from gateway.api.app import create_app
    from gateway.bootstrap import bootstrap

    with tempfile.TemporaryDirectory() as tmp:
        gw = bootstrap(Settings(data_dir=Path(tmp)))
        try:
            document = create_app(gw).openapi()
        finally:
            gw.close()
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
