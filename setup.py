"""Only what pyproject.toml cannot say: two data folders at the top of the repository
(``contracts/`` and ``examples/``) are shipped inside the wheel as ``gateway.bundled.contracts`` and
``gateway.bundled.examples``, so the installed gateway carries its wire profiles and the demo's
workbook and reads them through importlib.resources (``gateway/resources.py``).
Everything else (metadata, dependencies, package data) is in pyproject.toml."""

from pathlib import Path

from setuptools import find_namespace_packages, setup

ROOTS = {"gateway.bundled.contracts": "contracts", "gateway.bundled.examples": "examples"}
# Every folder below them is a package of its own too: setuptools would otherwise warn, once per
# folder and at length, that data it ships sits in a package it was not told about (seven warnings in
# every `make demo`). Their data is still matched by the roots' "**" patterns in pyproject.toml.
BUNDLED = {
    f"{package}.{'.'.join(sub.relative_to(folder).parts)}" if sub != Path(folder) else package: sub.as_posix()
    for package, folder in ROOTS.items()
    for sub in [Path(folder), *sorted(p for p in Path(folder).rglob("*") if p.is_dir() and p.name != "__pycache__")]
}

setup(
    # Namespace discovery, as pyproject's packages.find does: some packages (gateway.packets) have no __init__.py.
    packages=[
        *find_namespace_packages(include=["gateway", "gateway.*", "adapters", "adapters.*", "mappings", "mappings.*"],
                                 exclude=["*.__pycache__"]),
        *BUNDLED,
    ],
    package_dir=BUNDLED,
)
