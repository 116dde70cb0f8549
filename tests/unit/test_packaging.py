"""The lock stays the truth: every dependency pyproject.toml declares is pinned in constraints.txt
(make demo, make test and CI install with it), and a dated code list is pinned exactly."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_declared_dependency_is_pinned_in_constraints_txt() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_name(r) for r in project["dependencies"]} | {
        _name(r) for extra in project["optional-dependencies"].values() for r in extra
    }
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if match:
            pinned[match.group(1).lower().replace("_", "-")] = match.group(2)
    missing = sorted(declared - set(pinned))
    assert missing == [], f"run `make lock`: {missing} are not in constraints.txt"


def test_open_ranges_are_bounded_and_the_code_list_is_pinned_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    unbounded = [r for r in requirements if ">=" in r and "<" not in r and "==" not in r]
    assert unbounded == []
    assert "vietnam-provinces==2025.10.1" in project["dependencies"]
