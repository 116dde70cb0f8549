"""Units of measure and exact conversions between them (decimal factors, never floats).

One table, ``mappings/units.yaml``, serves ``gateway mapping check``, loading a mapping and ingest
(issue 16 found ``mapping check`` refusing ``lượt`` while ingest took it: two notions of a unit).
A unit is known when its name or one of its aliases matches after NFC, whitespace and case folding.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mappings import yaml_files

UNITS_FILE = Path(str(files("mappings").joinpath("units.yaml")))  # a checkout or an installed wheel


class UnitMismatch(ValueError):
    pass


class UnitDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dimension: str
    factor: Decimal = Field(description="exact factor to the dimension's base unit, written as text")
    aliases: tuple[str, ...] = ()

    @field_validator("factor", mode="before")
    @classmethod
    def _text(cls, value: object) -> Decimal:
        if not isinstance(value, str):
            raise ValueError("write the factor as text (\"0.0001\"), so it is read exactly")
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"factor {value!r} is not a decimal number") from None
        if not d.is_finite() or d <= 0:
            raise ValueError(f"factor {value!r} must be a positive finite number")
        return d


class _UnitFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    units: list[UnitDef]


def normalise(unit: str) -> str:
    return " ".join(unicodedata.normalize("NFC", unit).split())


def _key(unit: str) -> str:
    return normalise(unit).casefold()


@cache
def table(path: Path = UNITS_FILE) -> dict[str, UnitDef]:
    """Every spelling (folded) -> its unit. A broken table is a configuration error naming the file."""
    try:
        spec = _UnitFile.model_validate(yaml_files.safe_load(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}{yaml_files.yaml_problem(exc)}") from exc
    except (OSError, ValidationError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    found: dict[str, UnitDef] = {}
    for unit in spec.units:
        for spelling in (unit.name, *unit.aliases):
            other = found.get(_key(spelling))
            if other is not None and other != unit:
                raise ValueError(f"{path}: {spelling!r} names both {other.name!r} and {unit.name!r}")
            found[_key(spelling)] = unit
    return found


@lru_cache(maxsize=4096)
def lookup(unit: str) -> UnitDef | None:
    """The unit a spelling names (cached: ingest asks for the same few spellings per value)."""
    return table().get(_key(unit))


def known(unit: str) -> bool:
    return lookup(unit) is not None


def same(a: str, b: str) -> bool:
    """Whether two spellings name one unit (``m²`` and ``m2``; ``Người`` and ``người``)."""
    ua, ub = lookup(a), lookup(b)
    return ua is not None and ua == ub


def factor(source: str, target: str) -> Decimal:
    """Exact factor so that ``value_in_source * factor == value_in_target``; refuses unknown and
    incompatible units (an unknown unit is refused even when both sides spell it alike)."""
    s, t = lookup(source), lookup(target)
    if s is None or t is None:
        raise UnitMismatch(f"unknown unit {normalise(source if s is None else target)!r} (not in mappings/units.yaml)")
    if s == t:
        return Decimal(1)
    if s.dimension != t.dimension:
        raise UnitMismatch(f"cannot convert {s.name!r} ({s.dimension}) to {t.name!r} ({t.dimension})")
    return s.factor / t.factor
