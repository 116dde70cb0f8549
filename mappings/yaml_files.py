"""YAML as the project reads it: safe, and with libyaml's C parser when PyYAML was built with it.

PyYAML's pure-Python ``safe_load`` parsed a 300-indicator mapping in about 0.1 s of a command's
start-up; the C parser (``yaml.CSafeLoader``) builds the same data in a tenth of that (issue 19).
Both refuse the same input with a ``yaml.YAMLError`` (``tests/unit/test_yaml_files.py`` loads every
YAML file of the project with both and compares).
"""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with the fastest safe loader available."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader (C or Python)
