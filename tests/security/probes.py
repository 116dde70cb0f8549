"""Counting the security probes: every test under ``tests/security/`` is one probe (each parametrised
case counts once per database). At the end of the run the terminal summary says how many held.

The hooks are imported into ``tests/conftest.py`` so that they run in the process that prints the
summary, with or without pytest-xdist (a sub-directory conftest is never loaded by xdist's controller).
"""

from __future__ import annotations

import pytest

PREFIX = "tests/security/"
_outcomes: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.nodeid.startswith(PREFIX):
        return
    if report.failed:
        _outcomes[report.nodeid] = "broken"
    elif report.when == "call" and report.passed:
        _outcomes.setdefault(report.nodeid, "held")
    elif report.skipped:
        _outcomes[report.nodeid] = "not run"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _outcomes:
        return
    held = sum(1 for o in _outcomes.values() if o == "held")
    broken = sorted(n for n, o in _outcomes.items() if o == "broken")
    not_run = sum(1 for o in _outcomes.values() if o == "not run")
    terminalreporter.section("security probes")
    for nodeid in broken:
        terminalreporter.write_line(f"BROKEN {nodeid}")
    terminalreporter.write_line(
        f"security probes: {held}/{len(_outcomes)} held, {len(broken)} broken"
        + (f", {not_run} not run" if not_run else "")
    )
