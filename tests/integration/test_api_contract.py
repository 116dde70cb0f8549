"""The API against its own contract: the committed OpenAPI document matches the code, and
schemathesis, authenticated as an admin, finds no server error and no response that breaks the
schema across every operation."""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.auths import AuthContext
from schemathesis.config import SchemathesisConfig
from schemathesis.hooks import HookContext
from schemathesis.specs.openapi.checks import positive_data_acceptance

from adapters.base import periods_in_year
from gateway.api.app import create_app
from gateway.api.openapi import render
from tests.conftest import national_destination
from tests.support.api import token, user
from tests.support.packets import store_packets

ROOT = Path(__file__).resolve().parents[2]
AUTH: dict[str, str] = {}


def test_committed_openapi_matches_the_code() -> None:
    committed = (ROOT / "contracts" / "openapi.json").read_text(encoding="utf-8")
    assert json.loads(committed) == json.loads(render()), "run `gateway contracts openapi` and commit the result"


def _app() -> FastAPI:
    """One gateway on a throw-away embedded default, built when the module is collected (schemathesis
    reads the schema then); the directory goes when the process ends."""
    from gateway.bootstrap import bootstrap
    from gateway.settings import Settings

    directory = Path(tempfile.mkdtemp(prefix="gateway-schemathesis-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    gw = bootstrap(
        Settings(
            data_dir=directory,
            destinations={"national": national_destination("http://127.0.0.1:9/none", sign=False)},
            api={"rate_limit_per_second": 10_000, "rate_limit_burst": 10_000, "docs": "public"},
        )
    )
    store_packets(gw, 3)
    app = create_app(gw)
    # Capitalised as schemathesis writes it, so its authentication checks replace it rather than add one.
    AUTH["Authorization"] = f"Bearer {token(app, 'user', user(gw, 'fuzzer', 'admin'), 'admin')}"
    return app


# Schema-violating requests must be refused; besides schemathesis's default list of refusals, the
# API's own limits answer 413 (body too large) and 414 (query string over api.max_query_bytes), which
# schemathesis meets when it repeats a query parameter hundreds of times.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422"]
                + ["428", "429", "5xx"]
            }
        }
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app(), config=CONFIG)


@schema.hook
def filter_query(_ctx: HookContext, query: dict[str, Any] | None) -> bool:
    """Leave out a ``period`` the year does not have (``1984-TUAN-53``: 1984 has 52 ISO weeks). The
    API refuses it with a 422 naming the year, a rule no pattern in the OpenAPI document can say, so
    schemathesis would take that refusal of "schema-valid" data for a failure."""
    period = (query or {}).get("period")
    found = re.fullmatch(r"(\d{4})-(TUAN|NGAY)-0*(\d+)", period) if isinstance(period, str) else None
    return found is None or int(found[3]) <= periods_in_year(found[2], int(found[1]))


@schema.auth.auth()
class AdminToken:
    """An admin's bearer token, given the way schemathesis knows about, so its negative cases that
    spoil or drop the header are really sent without it."""

    def get(self, case: Case[Any], ctx: AuthContext) -> str:
        return AUTH["Authorization"]

    def set(self, case: Case, data: str, ctx: AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Case[Any]) -> None:
    # Every built-in check runs, except "schema-valid data must be accepted" on operations whose
    # rules no OpenAPI schema can express: the intakes (a packet must also pass the profile's
    # cross-field rules and its signature: 422) and the token endpoint (credentials come in a Basic
    # header *or* form fields, per OAuth2: 400 when neither).
    excluded = (
        [positive_data_acceptance]
        if case.path in ("/v1/intake/status", "/v1/intake/packets", "/v1/token")
        else []
    )
    case.call_and_validate(excluded_checks=excluded)
