"""Legacy Vietnamese text to Unicode."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import (
    app,
    err,
)

UNSURE_EXIT = 3
"""``--from auto`` could not tell the encoding: nothing is written, the operator names it."""


@app.command()
def unicode(
    path: Annotated[str, typer.Argument(help="file to convert, or - for standard input")] = "-",
    source: Annotated[str, typer.Option("--from", help="auto, tcvn3, vni, viscii or cp1258")] = "auto",
    min_confidence: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="below this, auto refuses to guess (default: the calibrated 0.5)"),
    ] = None,
) -> None:
    """Legacy Vietnamese text (TCVN3/ABC, VNI, VISCII, Windows-1258) to UTF-8 NFC on stdout (TCVN 6909:2001).
    With --from auto the detected encoding and its confidence go to stderr; when the two best readings
    are close, nothing is written and the exit code is 3 (docs/legacy-text.md)."""
    from adapters.legacy_text import ENCODINGS, MIN_CONFIDENCE, decode_bytes, detect_bytes, unsure_message
    from gateway.cli import checks

    checks.one_of(source, ("auto", *ENCODINGS), "--from")
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        err.print(f"cannot read {path}: {exc.strerror or exc}", markup=False)
        raise typer.Exit(2) from None
    if source == "auto":
        text, detection = detect_bytes(data)
        err.print(f"detected {detection.describe()}", markup=False, soft_wrap=True)
        threshold = MIN_CONFIDENCE if min_confidence is None else min_confidence
        if detection.method == "content" and detection.confidence < threshold:
            hint = f"give --from {'|'.join(ENCODINGS)}"
            err.print(unsure_message(detection, hint=hint), markup=False, soft_wrap=True)
            raise typer.Exit(UNSURE_EXIT)
    else:
        encoding = next(e for e in ENCODINGS if e == source)  # checked above; narrowed for the type
        try:
            text = decode_bytes(data, encoding)
        except UnicodeDecodeError as exc:
            err.print(f"{path}: byte 0x{data[exc.start]:02x} at offset {exc.start} is not {source}", markup=False)
            raise typer.Exit(2) from None
    sys.stdout.buffer.write(text.encode("utf-8"))
