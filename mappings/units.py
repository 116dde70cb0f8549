"""Units of measure and exact conversions between them (decimal factors, never floats)."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

# unit -> (dimension, factor to the dimension's base unit)
UNITS: dict[str, tuple[str, Decimal]] = {
    "đồng": ("money_vnd", Decimal(1)),
    "nghìn đồng": ("money_vnd", Decimal(1_000)),
    "triệu đồng": ("money_vnd", Decimal(1_000_000)),
    "tỷ đồng": ("money_vnd", Decimal(1_000_000_000)),
    "USD": ("money_usd", Decimal(1)),
    "nghìn USD": ("money_usd", Decimal(1_000)),
    "triệu USD": ("money_usd", Decimal(1_000_000)),
    "người": ("persons", Decimal(1)),
    "nghìn người": ("persons", Decimal(1_000)),
    "lượt người": ("visits", Decimal(1)),
    "nghìn lượt người": ("visits", Decimal(1_000)),
    "m2": ("area", Decimal("0.0001")),
    "ha": ("area", Decimal(1)),
    "km2": ("area", Decimal(100)),
    "kg": ("mass", Decimal("0.001")),
    "tấn": ("mass", Decimal(1)),
    "nghìn tấn": ("mass", Decimal(1_000)),
    "%": ("ratio_percent", Decimal(1)),
    "người/km2": ("density", Decimal(1)),
    "hộ": ("households", Decimal(1)),
    "doanh nghiệp": ("enterprises", Decimal(1)),
    "vụ": ("incidents", Decimal(1)),
    "ca": ("cases", Decimal(1)),
    "thuê bao": ("subscriptions", Decimal(1)),
    "học sinh": ("pupils", Decimal(1)),
    "dự án": ("projects", Decimal(1)),
    "hồ sơ": ("files", Decimal(1)),
    "con": ("heads", Decimal(1)),
    "nghìn con": ("heads", Decimal(1_000)),
}


class UnitMismatch(ValueError):
    pass


def normalise(unit: str) -> str:
    return " ".join(unicodedata.normalize("NFC", unit).split())


def factor(source: str, target: str) -> Decimal:
    """Exact factor so that ``value_in_source * factor == value_in_target``; refuses incompatible units."""
    s, t = normalise(source), normalise(target)
    if s == t:
        return Decimal(1)
    try:
        s_dim, s_f = UNITS[s]
        t_dim, t_f = UNITS[t]
    except KeyError as exc:
        raise UnitMismatch(f"unknown unit {exc.args[0]!r}") from None
    if s_dim != t_dim:
        raise UnitMismatch(f"cannot convert {s!r} ({s_dim}) to {t!r} ({t_dim})")
    return s_f / t_f
