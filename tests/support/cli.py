"""The real command line in the test's own process: ``gateway.cli.main`` with ``sys.argv`` set."""

from __future__ import annotations

import sys

import pytest

from gateway import resources


def run_cli(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``gateway ARGS`` (a wide terminal, so tables are not wrapped)."""
    from gateway.cli import main

    monkeypatch.setattr(sys, "argv", ["gateway", *args])
    monkeypatch.setenv("COLUMNS", "250")
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        resources.reset()  # loading settings pointed the process-wide search path at this data folder
    code = exited.value.code if isinstance(exited.value.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err
