"""Where the gateway finds the data it ships, and where an operator's own copy takes precedence.

Everything the gateway reads at run time that is not the operator's (wire profiles and their
schemas, report regimes, the holiday overrides, the administrative-unit tables, indicator mappings,
the demo's workbook) is package data, found through ``importlib.resources``: an installed wheel
works outside the source tree, and a checkout reads its own files. Nothing here builds paths from
``__file__``.

An operator overrides a kind of data without touching the installation, by putting files in
``{data_dir}/<kind>/`` or by naming a folder in the configuration (``[resources] profiles_dir``
and friends); a file there is found before the bundled file of the same name. ``configure`` is
called when the settings root is built, so every command sees the same search path.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal, get_args

from gateway.errors import ConfigurationError

Kind = Literal[
    "profiles", "packet-examples", "regimes", "calendar", "admin", "indicators", "templates", "outlines", "examples"
]
KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True)
class _Bundled:
    package: str
    folder: str


_BUNDLED: dict[Kind, _Bundled] = {
    "profiles": _Bundled("gateway.bundled.contracts", "qcvn125/profiles"),
    "packet-examples": _Bundled("gateway.bundled.contracts", "qcvn125/examples"),
    "regimes": _Bundled("mappings", "regimes"),
    "calendar": _Bundled("mappings", "calendar"),
    "admin": _Bundled("mappings", "admin"),
    "indicators": _Bundled("mappings", "indicators"),
    "templates": _Bundled("mappings", "templates"),
    "outlines": _Bundled("mappings", "outlines"),
    "examples": _Bundled("gateway.bundled.examples", ""),
}

# Kinds an operator may override, and the configuration key that names the folder.
OVERRIDABLE: dict[Kind, str] = {
    "profiles": "profiles_dir",
    "regimes": "regimes_dir",
    "calendar": "calendar_dir",
    "indicators": "indicators_dir",
    "templates": "templates_dir",
    "outlines": "outlines_dir",
}

_overrides: dict[Kind, tuple[Path, ...]] = {}


def bundled(kind: Kind) -> Path:
    """The folder of ``kind`` shipped with the gateway (a real directory: wheels install unzipped)."""
    spec = _BUNDLED[kind]
    try:
        root = Path(str(files(spec.package)))
    except ModuleNotFoundError as exc:
        # An editable install made before setup.py mapped the data folders puts only the checkout on
        # sys.path: its folder is beside the gateway package. Anything else is a broken installation.
        checkout = Path(str(files("gateway"))).parent / spec.package.rsplit(".", 1)[-1]
        if not (checkout / "__init__.py").is_file():
            raise ConfigurationError(
                f"the gateway's bundled data ({spec.package}) is missing: reinstall the gateway"
            ) from exc
        root = checkout
    return root.joinpath(*spec.folder.split("/")) if spec.folder else root


def configure(data_dir: Path, configured: dict[str, Path | None]) -> None:
    """Set the search path of every overridable kind: the configured folder, then ``{data_dir}/<kind>``."""
    _overrides.clear()
    for kind, key in OVERRIDABLE.items():
        chosen = configured.get(key)
        if chosen is not None and not chosen.is_dir():
            raise ConfigurationError(f"resources.{key}: {chosen} is not a folder")
        folders = [p for p in (chosen, data_dir / kind) if p is not None and p.is_dir()]
        _overrides[kind] = tuple(dict.fromkeys(folders))


def reset() -> None:
    """Back to the bundled data only (tests, and processes that never load settings)."""
    _overrides.clear()


def search_path(kind: Kind) -> tuple[Path, ...]:
    """Folders looked in for ``kind``, first match wins: operator overrides, then the bundled folder."""
    return (*_overrides.get(kind, ()), bundled(kind))


def find(kind: Kind, name: str) -> Path:
    """The first file or folder called ``name`` on the search path of ``kind``."""
    for folder in search_path(kind):
        candidate = folder / name
        if candidate.exists():
            return candidate
    looked = ", ".join(str(p) for p in search_path(kind))
    raise ConfigurationError(f"no {kind} file {name!r} (looked in {looked})")


def listing(kind: Kind, pattern: str) -> dict[str, Path]:
    """Every file matching ``pattern`` on the search path, by name; an override hides the bundled file."""
    found: dict[str, Path] = {}
    for folder in search_path(kind):
        if folder.is_dir():
            for path in sorted(folder.glob(pattern)):
                found.setdefault(path.name, path)
    return dict(sorted(found.items()))
