"""Wire profiles, their schemas, and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import (
    app,
    console,
)

contracts_app = typer.Typer(help="Wire profiles and their schemas.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")


@contracts_app.command("openapi")
def contracts_openapi(
    out: Annotated[Path, typer.Option("-o", "--output")] = Path("contracts/openapi.json"),
) -> None:
    """Write the API's OpenAPI document (a test fails when the committed one drifts from the code)."""
    from gateway.api.openapi import render

    out.write_text(render(), encoding="utf-8")
    console.print(str(out))


@contracts_app.command("build")
def contracts_build(
    profile: Annotated[str, typer.Option(help="profile id")] = "qcvn125-gw/0",
    profiles_dir: Annotated[Path | None, typer.Option(help="folder of profiles")] = None,
) -> None:
    """(Re)generate a profile's JSON Schemas and XSDs from the canonical model and its name map."""
    from gateway.packets import schemas
    from gateway.packets.profile import load_profile

    for path in schemas.write_all(load_profile(profile, profiles_dir)):
        console.print(path)
