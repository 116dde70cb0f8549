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


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line, with its line and column: ``, line 3, column 13: not valid YAML: ...``
    (to follow the file's name). PyYAML's own message spans two to four lines, with a
    ``"<unicode string>"`` where the file's name should be, and a caret drawing; every file an operator
    writes (mappings, units, layouts, regimes, calendars, manifests, narratives) says it this way."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark, problem = exc.problem_mark, exc.problem or exc.context or "not valid YAML"
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        context = ""
        if exc.context and exc.problem and exc.context_mark is not None:
            context = f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        return f"{where}: not valid YAML: {problem}{context}"
    return f": not valid YAML: {' '.join(str(exc).split())}"
