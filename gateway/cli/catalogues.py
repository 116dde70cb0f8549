"""Catalogues pushed to a receiver that wants them sent rather than pulled (a ministry system)."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli import checks
from gateway.cli.common import ConfigOpt, app, console, gateway_for

catalogues_app = typer.Typer(
    help="Catalogues (DANH_MUC_CHI_TIEU, BO_CHI_SO, ...) pushed to a destination through the outbox.",
    no_args_is_help=True,
)
app.add_typer(catalogues_app, name="catalogues")


@catalogues_app.command("push")
def catalogues_push(
    destination: Annotated[str, typer.Option(help="a configured destination ([destinations.NAME])")],
    catalogue: Annotated[
        list[str] | None,
        typer.Option(
            help="DANH_MUC_CHI_TIEU, BO_CHI_SO, DANH_MUC_NHOM_CHI_SO, DANH_MUC_PHAN_TO, DANH_MUC_KY_BAO_CAO; "
            "repeat for several; default: all five"
        ),
    ] = None,
    year: Annotated[
        int | None, typer.Option(min=1900, max=2999, help="the year of DANH_MUC_KY_BAO_CAO (default: this year)")
    ] = None,
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Build each catalogue from the same data as the pull API, seal it for the destination (its format,
    its receiver) and queue it: the worker delivers it with the normal retries. Audited."""
    from gateway.catalogues import CATALOGUE_TYPES, publish

    names = [k.value for k in CATALOGUE_TYPES]
    chosen = []
    for name in catalogue or names:
        if name.upper() not in names:
            raise checks.CommandInputError(f"unknown catalogue {name!r}{checks.hint(name, names)}")
        chosen.append(next(k for k in CATALOGUE_TYPES if k.value == name.upper()))
    gw = gateway_for(config)
    checks.destination(gw.settings, destination)
    for kind in chosen:
        packet_id = publish(gw, kind, [destination], actor=f"operator:{actor}", year=year)
        console.print(f"{kind.value} queued for {destination} as packet {packet_id}", markup=False)
