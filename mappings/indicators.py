"""Indicator mappings: provincial codes to national ``MaChiTieu``, with forms, units and admin units.

A mapping file (YAML, schema in ``mappings/schema/indicator-mapping.schema.json``) names its version,
the regime and forms it feeds, the administrative-unit code list its unit codes belong to, and one
rule per provincial indicator. ``IndicatorMapping.apply`` turns a raw observation into a mapped one
or raises ``MappingRejected`` with a reason an operator can act on.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow, localcontext
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapters.base import RawObservation
from mappings import units, yaml_files
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
            text = str(value).strip().replace("\u00a0", "").replace(" ", "")
            if not text.isascii() and any(ch.isdigit() and not ch.isascii() for ch in text):
                # Decimal reads any script's digits ("１２３" full-width, "١٢٣" Arabic-Indic) as a number:
                # a figure in them is a paste from elsewhere, said rather than taken (found from outside).
                raise MappingRejected(f"value {_shown(value)!r} is not a number written in ASCII digits")
            d = Decimal(text)
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


CANONICAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?")
"""Decimal text already in ``plain`` form: no sign but a leading minus, no leading or trailing zeros,
ASCII digits only. Such a text is its own exact value, so it is kept without a ``Decimal`` round trip."""

ONE = Decimal(1)
CACHE_LIMIT = 65_536
"""Entries per lookup table of a mapping (rules by code and unit, units by code and date): a source of
endless distinct codes empties the table rather than growing it."""


@dataclass(frozen=True, slots=True)
class PreparedRule:
    """What mapping does to every value of one (source indicator, source unit), worked out once: the
    rule's national names and the exact unit factor (None when the units are the same)."""

    regime_code: str
    form_code: str
    indicator_code: str
    indicator_name: str
    unit: str
    factor: Decimal | None

    def value_text(self, value: object) -> str:
        """The value in the national unit as plain exact decimal text, or ``MappingRejected``.

        Without a factor, a value that is already plain text (or an int, or a float whose shortest
        repr is plain) is kept as it is: ``plain(Decimal(text))`` would give the same text back. Any
        other value takes the exact path (``parse_decimal``, ``scaled``, ``plain``)."""
        if self.factor is None:
            text = _as_text(value)
            if text is not None and len(text) <= MAX_PLAIN_LENGTH and text != "-0" and CANONICAL.fullmatch(text):
                return text
        return plain(scaled(parse_decimal(value), self.factor or ONE))


_PLAIN_INT = 10**MAX_PLAIN_LENGTH


def _as_text(value: object) -> str | None:
    """A value's text when that text is what ``parse_decimal`` would read (None: take the exact path)."""
    kind = type(value)
    if kind is str:
        return cast(str, value)
    if kind is int:  # bounded: str() of a huge int raises (Python's digit limit); Decimal() does not
        return str(value) if -_PLAIN_INT < cast(int, value) < _PLAIN_INT else None
    if kind is float:
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return None


def content_digest(indicator: str, period_key: str, admin: str, value: str, unit: str, column: str | None) -> str:
    """SHA-256 of what a value says (indicator, period, unit code, value, unit, form column)."""
    parts = [indicator, period_key, admin, value, unit]
    if column is not None:  # values without a column keep the digests they always had
        parts.append(f"MaCot={column}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


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
        # Lookups by key, not per value (issue 19): a source repeats few codes, units, places and
        # breakdowns many times. A refusal is kept as its reason and raised again each time.
        self._rules: dict[tuple[str, str | None], PreparedRule | str] = {}
        self._places: dict[tuple[str | None, date], tuple[str, str | None] | str] = {}
        self._breakdowns: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...] | str] = {}

    def apply(self, raw: RawObservation, period_end: date) -> MappedObservation:
        rule = self.rule(raw.indicator_code, raw.unit)
        text = rule.value_text(raw.value)
        admin, converted_from = self.place(raw.admin_unit, period_end)
        return MappedObservation(
            regime_code=rule.regime_code,
            form_code=rule.form_code,
            indicator_code=rule.indicator_code,
            indicator_name=rule.indicator_name,
            source_indicator_code=raw.indicator_code,
            unit=rule.unit,
            period_key=raw.period.key,
            admin_unit=admin,
            value=text,
            content_hash=content_digest(rule.indicator_code, raw.period.key, admin, text, rule.unit, raw.column),
            converted_from=converted_from,
            disaggregation=self.breakdown(raw.disaggregation),
            column=raw.column,
        )

    def rule(self, code: str, unit: str | None) -> PreparedRule:
        """The prepared rule for a source indicator in a source unit, or ``MappingRejected``."""
        found = self._rules.get((code, unit))
        if found is None:
            try:
                found = self._prepare(code, unit)
            except MappingRejected as exc:
                found = str(exc)
            _remember(self._rules, (code, unit), found)
        if isinstance(found, str):
            raise MappingRejected(found)
        return found

    def _prepare(self, code: str, unit: str | None) -> PreparedRule:
        rule = self.spec.indicators.get(code)
        if rule is None:
            raise MappingRejected(f"unknown indicator code {code!r}: not in mapping {self.version}")
        if unit is not None and not units.same(unit, rule.unit):
            try:
                units.factor(unit, rule.unit)
            except units.UnitMismatch as exc:
                raise MappingRejected(
                    f"unit mismatch for {code}: source says {unit!r}, mapping expects {rule.unit!r} ({exc})"
                ) from None
        factor = units.factor(unit or rule.unit, rule.national_unit)
        return PreparedRule(
            self.spec.regime,
            rule.form,
            rule.national_code,
            rule.national_name,
            rule.national_unit,
            None if factor == ONE else factor,
        )

    def place(self, code: str | None, period_end: date) -> tuple[str, str | None]:
        """The unit code to report (and the pre-reform code it was converted from), or ``MappingRejected``."""
        found = self._places.get((code, period_end))
        if found is None:
            try:
                found = self.admin.resolve(
                    (code or self.spec.province_code).strip(), self.spec.province_code, on=period_end
                )
            except MappingRejected as exc:
                found = str(exc)
            _remember(self._places, (code, period_end), found)
        if isinstance(found, str):
            raise MappingRejected(found)
        return found

    def breakdown(self, disaggregation: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """Source dimension values in national codes, or ``MappingRejected``."""
        if not disaggregation:
            return ()
        found = self._breakdowns.get(disaggregation)
        if found is None:
            try:
                found = self._breakdown(disaggregation)
            except MappingRejected as exc:
                found = str(exc)
            _remember(self._breakdowns, disaggregation, found)
        if isinstance(found, str):
            raise MappingRejected(found)
        return found

    def _breakdown(self, disaggregation: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        out = []
        for dimension, value in disaggregation:
            table = self.spec.disaggregations.get(dimension)
            if table is None:
                raise MappingRejected(f"dimension {dimension!r} is not in mapping {self.version}")
            if value not in table:
                raise MappingRejected(f"unknown value {value!r} for dimension {dimension}; known: {', '.join(table)}")
            out.append((dimension, table[value]))
        return tuple(out)


def _remember(table: dict[Any, Any], key: object, found: object) -> None:
    if len(table) >= CACHE_LIMIT:
        table.clear()
    table[key] = found


@cache
def load_mapping(path: Path) -> IndicatorMapping:
    try:
        raw = yaml_files.safe_load(path.read_text(encoding="utf-8"))
        spec = MappingFile.model_validate(raw)
    except OSError as exc:
        raise MappingError(f"cannot read mapping {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise MappingError(f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}{yaml_files.yaml_problem(exc)}") from exc
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise MappingError(f"{path}: {details}") from exc
    return IndicatorMapping(spec, path, admin_units(spec.admin_code_list))
