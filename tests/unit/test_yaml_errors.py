"""A YAML file an operator wrote with a syntax error is one line naming the file, the line and the
column, whichever kind of file it is (PyYAML's own message is two to four lines with a caret drawing
and "<unicode string>" for the file). The broken files are written here by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.template_spec import load_template
from gateway.calendar import WorkingCalendar
from gateway.errors import GatewayError
from mappings.indicators import load_mapping
from mappings.units import table

BROKEN = "name: x\nitems:\n  - code: A\n   bad: indent\n"  # line 4: a key indented under nothing


LOADERS: dict[str, Callable[[Path], object]] = {
    "mapping": load_mapping,
    "template layout": load_template,
    "units": table.__wrapped__,
    "calendar overrides": WorkingCalendar.from_file,
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_yaml_syntax_error_is_one_line_with_file_line_and_column(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises((GatewayError, ValueError)) as raised:
        LOADERS[kind](path)
    message = str(raised.value)
    assert "\n" not in message and "<unicode string>" not in message, message
    assert str(path) in message and ", line 4, column 4: not valid YAML: " in message, message
