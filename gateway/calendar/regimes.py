"""Report regimes as data (``mappings/regimes/*.yaml``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.errors import ConfigurationError

REGIMES_DIR = Path(__file__).resolve().parents[2] / "mappings" / "regimes"


class CutOffRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start_day: int = 15
    end_day: int = 14


class DeadlineRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    day_of_month: int = 25


class RegimeDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    name: str
    regime_type: str = "DINH_KY"
    frequency: str
    cutoff: CutOffRule = CutOffRule()
    deadline: DeadlineRule = DeadlineRule()
    destinations: list[str]
    forms: list[str]


@cache
def load_regime(code: str, directory: Path = REGIMES_DIR) -> RegimeDef:
    path = directory / f"{code}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise ConfigurationError(f"unknown regime {code!r}: no {path}; known: {known}")
    try:
        return RegimeDef.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
