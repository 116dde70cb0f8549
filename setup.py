"""Only what pyproject.toml cannot say: two data folders at the top of the repository
(``contracts/`` and ``examples/``) are shipped inside the wheel as ``gateway.bundled.contracts`` and
``gateway.bundled.examples``, so the installed gateway carries its wire profiles and the demo's
workbook and reads them through importlib.resources (``gateway/resources.py``).
Everything else (metadata, dependencies, package data) is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

BUNDLED = {"gateway.bundled.contracts": "contracts", "gateway.bundled.examples": "examples"}

setup(
    # Namespace discovery, as pyproject's packages.find does: some packages (gateway.packets) have no __init__.py.
    packages=[
        *find_namespace_packages(include=["gateway", "gateway.*", "adapters", "adapters.*", "mappings", "mappings.*"],
                                 exclude=["*.__pycache__"]),
        *BUNDLED,
    ],
    package_dir=BUNDLED,
)
