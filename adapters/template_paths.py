"""Where a template layout is, and the error for a wrong one: what a command needs before it knows
whether it reads with a layout at all.

Apart from ``adapters.template_spec`` (the layout's pydantic models) so that a plain long-format CSV
ingest does not build those models at start-up (issue 19); ``template_spec`` re-exports both names.
"""

from __future__ import annotations

from pathlib import Path

from gateway import resources


class TemplateError(ValueError):
    """The layout file itself is wrong: refuse to read with it, naming the file and key."""


def resolve(name: str | Path, relative_to: Path | None = None) -> Path:
    """A layout named in a mapping (``template: bieu01-ktxh.yaml``): beside the mapping, else in
    the templates on the resource search path (an operator's folder, then the shipped ones)."""
    path = Path(name)
    if path.is_absolute() or path.is_file():
        return path
    if relative_to is not None and (relative_to / path).is_file():
        return relative_to / path
    for base in resources.search_path("templates"):
        if (base / path).is_file():
            return base / path
    return resources.bundled("templates") / path
