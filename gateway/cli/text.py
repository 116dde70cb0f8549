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


@app.command()
def unicode(
    path: Annotated[str, typer.Argument(help="file to convert, or - for standard input")] = "-",
    source: Annotated[str, typer.Option("--from", help="auto, tcvn3, vni, viscii or cp1258")] = "auto",
    min_confidence: Annotated[float, typer.Option(help="below this, auto refuses to guess")] = 0.6,
) -> None:
    """Legacy Vietnamese text (TCVN3/ABC, VNI, VISCII, Windows-1258) to UTF-8 NFC on stdout (TCVN 6909:2001).
    With --from auto the detected encoding and its confidence go to stderr; exit 3 when unsure."""
    from adapters.legacy_text import ENCODINGS, LowConfidence, decode_bytes, decode_surface, detect_bytes

    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    if source == "auto":
        surface, detection = detect_bytes(data)
        err.print(f"detected {detection.encoding} (confidence {detection.confidence:.2f}, by {detection.method})")
        if detection.encoding != "unicode" and detection.confidence < min_confidence:
            err.print(
                str(
                    LowConfidence(
                        f"best guess {detection.encoding} at {detection.confidence:.2f} is below "
                        f"{min_confidence}; give --from explicitly"
                    )
                ),
                markup=False,
            )
            raise typer.Exit(3)
        text = (
            decode_bytes(data, detection.encoding)
            if detection.method == "utf-8" or detection.encoding == "cp1258"
            else decode_surface(surface, detection.encoding)
        )
    elif source in ENCODINGS:
        text = decode_bytes(data, source)
    else:
        raise typer.BadParameter(f"--from must be auto or one of {', '.join(ENCODINGS)}")
    sys.stdout.buffer.write(text.encode("utf-8"))
