"""Simulated peers (loopback only) that fail on purpose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.common import (
    app,
    console,
    err,
    settings_for,
)

sim_app = typer.Typer(help="Simulated peers that fail on purpose (loopback only).", no_args_is_help=True)
app.add_typer(sim_app, name="sim")


PkiOpt = Annotated[
    Path | None,
    typer.Option(
        help="test PKI (gateway keys test-pki) to verify what arrives and sign the status packets; "
        "default {data_dir}/test-pki, made on first use"
    ),
]


NoSignaturesOpt = Annotated[bool, typer.Option("--no-signatures", help="neither verify nor sign")]


RetainOpt = Annotated[
    int, typer.Option(min=1, help="packet bodies kept for inspection and reconciliation (all are counted)")
]


def _sim_signing(pki: Path | None, party: str, off: bool) -> tuple[Any, Any]:
    """Simulators sign and verify by default, like the national system, with a test PKI."""
    if off:
        return None, None
    if pki is not None:
        from gateway.cli import checks

        checks.output_path(pki, "folder")
    from gateway.packets.profile import load_profile
    from gateway.signing.testpki import make_test_pki
    from gateway.signing.testpki import party as pki_party

    settings = settings_for(None)
    directory = pki or settings.data_dir / "test-pki"
    if not (directory / "passphrase.txt").is_file():
        make_test_pki(directory, province=settings.sender.code)
        err.print(f"made a test PKI in {directory} (the gateway signs with {directory / 'signer.p12'})", markup=False)
    return pki_party(directory, party, load_profile())


@sim_app.command("ministry")
def sim_ministry(
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8901,
    faults: Annotated[str, typer.Option(help="none, mild, heavy")] = "none",
    code: Annotated[str, typer.Option(help="the ministry's identification code")] = "B05",
    name: Annotated[str, typer.Option(help="the ministry's name")] = "Bộ Tài chính",
    pki: PkiOpt = None,
    no_signatures: NoSignaturesOpt = False,
    retain: RetainOpt = 10_000,
) -> None:
    """Run a ministry reporting-system simulator on 127.0.0.1 (same protocol as the national one)."""
    from gateway.cli import checks

    checks.fault_profile(faults)
    import uvicorn

    from gateway.packets import model as m
    from gateway.sim import faults as f
    from gateway.sim.national import RECEIVE_PATH, create_app

    console.print(f"ministry simulator ({name}): POST http://127.0.0.1:{port}{RECEIVE_PATH}  stats: /sim/stats")
    signer, verifier = _sim_signing(pki, "ministry", no_signatures)
    app_ = create_app(
        f.plan(faults),
        unit=m.Unit(code=code, name=name),
        name="ministry",
        signer=signer,
        verifier=verifier,
        retain=retain,
    )
    uvicorn.run(app_, host="127.0.0.1", port=port, log_level="warning")


@sim_app.command("national")
def sim_national(
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8900,
    faults: Annotated[str, typer.Option(help="none, mild, heavy")] = "none",
    pki: PkiOpt = None,
    no_signatures: NoSignaturesOpt = False,
    retain: RetainOpt = 10_000,
) -> None:
    """Run the national-system simulator on 127.0.0.1."""
    from gateway.cli import checks

    checks.fault_profile(faults)
    import uvicorn

    from gateway.sim import faults as f
    from gateway.sim.national import RECEIVE_PATH, create_app

    console.print(f"national simulator: POST http://127.0.0.1:{port}{RECEIVE_PATH}  stats: /sim/stats")
    signer, verifier = _sim_signing(pki, "national", no_signatures)
    app_ = create_app(f.plan(faults), signer=signer, verifier=verifier, retain=retain)
    uvicorn.run(app_, host="127.0.0.1", port=port, log_level="warning")


@sim_app.command("tsa")
def sim_tsa(
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8902,
    pki: PkiOpt = None,
) -> None:
    """Run a test RFC 3161 time-stamping authority on 127.0.0.1 (signs with the test PKI's tsa.p12);
    point `\\[timestamps] url` at it."""
    import uvicorn

    from gateway.cli import checks
    from gateway.errors import ConfigurationError
    from gateway.signing.testpki import make_test_pki
    from gateway.sim.tsa import tsa_app

    directory = checks.output_path(pki, "folder") if pki else settings_for(None).data_dir / "test-pki"
    if not (directory / "passphrase.txt").is_file():
        make_test_pki(directory)
        err.print(f"made a test PKI in {directory}", markup=False)
    if not (directory / "tsa.p12").is_file():
        raise ConfigurationError(f"{directory} has no tsa.p12 (made by an older version): make a new test PKI")
    console.print(f"test time-stamping authority: POST http://127.0.0.1:{port}/  (application/timestamp-query)")
    app_, _ = tsa_app(directory)
    uvicorn.run(app_, host="127.0.0.1", port=port, log_level="warning")
