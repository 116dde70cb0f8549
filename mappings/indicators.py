"""Indicator mappings: provincial codes to national ``MaChiTieu``, with forms, units and admin units.

A mapping file (YAML, schema in ``mappings/schema/indicator-mapping.schema.json``) names its version,
the regime and forms it feeds, the administrative-unit code list its unit codes belong to, and one
rule per provincial indicator. ``IndicatorMapping.apply`` turns a raw observation into a mapped one
or raises ``MappingRejected`` with a reason an operator can act on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow, localcontext
from functools import cache
from importlib.resources import files
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapters.base import RawObservation
from mappings import units
from mappings.admin_units import AdminUnits, admin_units

MAPPINGS_DIR = Path(str(files("mappings")))  # the package folder, in a checkout or an installed wheel
INDICATOR_MAPPINGS_DIR = MAPPINGS_DIR / "indicators"
"""Where indicator mapping files live (``mappings/`` itself holds code, regimes and schemas)."""


class MappingError(ValueError):
    """The mapping file itself is wrong (refuse to start, name the file and key)."""


class MappingRejected(ValueError):
    """This observation cannot be mapped; quarantine it with this reason."""


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndicatorRule(_Closed):
    national_code: str
    national_name: str
    form: str
    unit: str
    national_unit: str


class FormDef(_Closed):
    name: str


class MappingFile(_Closed):
    version: str
    regime: str
    description: str = ""
    admin_code_list: str = Field(description="code list of DVHC codes, e.g. QD19-2025 (after 1 July 2025)")
    province_code: str
    forms: dict[str, FormDef]
    indicators: dict[str, IndicatorRule]
    disaggregations: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="dimension -> {source value: national MaGiaTri}, e.g. GIOI_TINH: {Nữ: NU}"
    )
    template: str | None = Field(
        default=None,
        description="layout of the workbooks this mapping reads (mappings/templates/*.yaml, or a path beside "
        "this file), used by ingest when no --template is given",
    )
    kpis: list[str] = Field(
        default_factory=list,
        description="national codes (MaChiTieu) of the indicators that are also KPIs (MaChiSo): their values are "
        "sent as DU_LIEU_CHI_SO, preliminary (SO_BO) first and official (CHINH_THUC) in revisions",
    )

    @model_validator(mode="after")
    def _kpis_are_mapped(self) -> MappingFile:
        mapped = {rule.national_code for rule in self.indicators.values()}
        unknown = sorted(set(self.kpis) - mapped)
        if unknown:
            raise ValueError(f"kpis names {', '.join(unknown)}, which no rule in 'indicators' maps to")
        return self


@dataclass(frozen=True)
class MappedObservation:
    regime_code: str
    form_code: str
    indicator_code: str
    indicator_name: str
    source_indicator_code: str
    unit: str
    period_key: str
    admin_unit: str
    value: str
    content_hash: str
    converted_from: str | None = None  # the pre-reform unit code, when the value was converted
    disaggregation: tuple[tuple[str, str], ...] = ()  # beyond DVHC, in national codes
    column: str | None = None  # the form's column code (MaCot), from the template


MAX_PLAIN_LENGTH = 64
"""Characters a value may have in plain decimal notation: the profile's limit for a decimal."""

EXACT = Context(prec=4 * MAX_PLAIN_LENGTH, traps=[InvalidOperation, Inexact, Overflow, DivisionByZero])
"""Arithmetic on source values (unit conversion, re-aggregation) that is exact or fails: Python's
default context keeps 28 significant digits and would round a longer value without a word."""


def _shown(value: object) -> str:
    """A source value as a reason quotes it: legacy text decoded, whole words (never cut mid-word)."""
    from adapters.legacy_text import readable

    return readable(str(value))


def parse_decimal(value: object) -> Decimal:
    """A source value as an exact, finite Decimal; ``MappingRejected`` says why not."""
    if isinstance(value, bool):
        raise MappingRejected(f"value {value!r} is not a number")
    try:
        if isinstance(value, int | Decimal):
            d = Decimal(value)
        elif isinstance(value, float):
            d = Decimal(repr(value))  # the shortest text that round-trips the stored binary value
        else:
            d = Decimal(str(value).strip().replace("\u00a0", "").replace(" ", ""))
    except InvalidOperation:
        raise MappingRejected(f"value {_shown(value)!r} is not a number") from None
    if not d.is_finite():
        raise MappingRejected(f"value {_shown(value)!r} is not a finite number")
    return d


def scaled(value: Decimal, factor: Decimal) -> Decimal:
    """``value * factor`` exactly (unit conversion), or ``MappingRejected``."""
    try:
        with localcontext(EXACT):
            return value * factor
    except (Inexact, Overflow, InvalidOperation):
        raise MappingRejected(f"value {_shown(value)!r} cannot be converted exactly (too many digits)") from None


def plain(d: Decimal) -> str:
    """Plain decimal notation, no exponent and no trailing zeros (``1E+2`` -> ``100``, ``1.50`` ->
    ``1.5``), exact for any finite Decimal (no rounding context is involved); ``MappingRejected``
    when longer than the profile allows."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        return "0"
    if len(text) > MAX_PLAIN_LENGTH:
        raise MappingRejected(
            f"value {text[:20]}... has {len(text)} characters in plain notation; the limit is {MAX_PLAIN_LENGTH}"
        )
    return text


class IndicatorMapping:
    def __init__(self, spec: MappingFile, path: Path, admin: AdminUnits) -> None:
        self.spec = spec
        self.path = path
        self.admin = admin
        self.version = spec.version
        for code, rule in spec.indicators.items():
            if rule.form not in spec.forms:
                raise MappingError(f"{path}: indicators.{code}.form {rule.form!r} is not one of the forms")
            try:
                units.factor(rule.unit, rule.national_unit)
            except units.UnitMismatch as exc:
                raise MappingError(f"{path}: indicators.{code}: {exc}") from None

    def apply(self, raw: RawObservation, period_end: date) -> MappedObservation:
        rule = self.spec.indicators.get(raw.indicator_code)
        if rule is None:
            raise MappingRejected(f"unknown indicator code {raw.indicator_code!r}: not in mapping {self.version}")
        if raw.unit is not None and not units.same(raw.unit, rule.unit):
            try:
                units.factor(raw.unit, rule.unit)
            except units.UnitMismatch as exc:
                raise MappingRejected(
                    f"unit mismatch for {raw.indicator_code}: source says {raw.unit!r}, "
                    f"mapping expects {rule.unit!r} ({exc})"
                ) from None
        source_unit = raw.unit or rule.unit
        value = scaled(parse_decimal(raw.value), units.factor(source_unit, rule.national_unit))
        admin, converted_from = self.admin.resolve(
            (raw.admin_unit or self.spec.province_code).strip(), self.spec.province_code, on=period_end
        )
        text = plain(value)
        parts = [rule.national_code, raw.period.key, admin, text, rule.national_unit]
        if raw.column is not None:  # values without a column keep the digests they always had
            parts.append(f"MaCot={raw.column}")
        digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
        return MappedObservation(
            regime_code=self.spec.regime,
            form_code=rule.form,
            indicator_code=rule.national_code,
            indicator_name=rule.national_name,
            source_indicator_code=raw.indicator_code,
            unit=rule.national_unit,
            period_key=raw.period.key,
            admin_unit=admin,
            value=text,
            content_hash=digest,
            converted_from=converted_from,
            disaggregation=self._breakdown(raw),
            column=raw.column,
        )

    def _breakdown(self, raw: RawObservation) -> tuple[tuple[str, str], ...]:
        out = []
        for dimension, value in raw.disaggregation:
            table = self.spec.disaggregations.get(dimension)
            if table is None:
                raise MappingRejected(f"dimension {dimension!r} is not in mapping {self.version}")
            if value not in table:
                raise MappingRejected(f"unknown value {value!r} for dimension {dimension}; known: {', '.join(table)}")
            out.append((dimension, table[value]))
        return tuple(out)


@cache
def load_mapping(path: Path) -> IndicatorMapping:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec = MappingFile.model_validate(raw)
    except OSError as exc:
        raise MappingError(f"cannot read mapping {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise MappingError(f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise MappingError(f"{path}: {details}") from exc
    return IndicatorMapping(spec, path, admin_units(spec.admin_code_list))
