"""Hypothesis strategies for valid packets of every type, derived from the canonical model.

Scalars come from each field's spec (type, pattern, bounds); the few cross-field rules of the profile
(period consistency, a reason for returns, attachment hashes, one deadline form, unique figures) are
satisfied by construction, so every generated packet is valid and round trips must be exact.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from gateway import calendar
from gateway.packets import model as m
from gateway.packets import rules
from gateway.packets.profile import FieldSpec, Profile, Scalar, fields_of

VIETNAMESE = (
    "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ"
    "AÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬBCDĐEÈÉẺẼẸÊỀẾỂỄỆGHIÌÍỈĨỊKLMNOÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢPQRSTUÙÚỦŨỤƯỪỨỬỮỰVXYỲÝỶỸỴ"
    "0123456789 ,.;:-()/%&<>\"'"
)
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."

text_values = st.text(alphabet=VIETNAMESE, min_size=1, max_size=40).map(lambda s: unicodedata.normalize("NFC", s))
code_values = st.text(alphabet=CODE_ALPHABET, min_size=1, max_size=16)
decimal_values = st.decimals(
    allow_nan=False, allow_infinity=False, places=4, min_value=-(10**15), max_value=10**15
).map(m.decimal_text)
# A figure's GiaTri: a plain decimal, or text of a VAN_BAN column that is no number in another
# notation and has no white space at either end (rules.numbers_in_other_notation, the schemas).
figure_text = text_values.filter(lambda t: t == t.strip(" \t\n\r") and not rules.NUMBER_LIKE.fullmatch(t))
figure_values = st.one_of(decimal_values, figure_text)
offsets = st.sampled_from([timezone(timedelta(hours=7)), UTC, timezone(timedelta(hours=-5, minutes=-30))])
aware_datetimes = st.builds(
    lambda dt, tz: dt.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    offsets,
)


def scalar_strategy(s: Scalar, name: str) -> st.SearchStrategy[Any]:
    if s.type == "enum":
        return st.sampled_from(s.enum)
    if s.type == "integer":
        return st.integers(
            min_value=s.minimum if s.minimum is not None else 0,
            max_value=s.maximum if s.maximum is not None else 10_000,
        )
    if s.type == "date":
        return st.dates(min_value=datetime(1990, 1, 1).date(), max_value=datetime(2100, 1, 1).date())
    if s.type == "datetime":
        return aware_datetimes
    if s.type == "uuid":
        return st.uuids()
    if s.pattern == m.DECIMAL_PATTERN:
        return decimal_values
    if name == "value" and s.min_length == 1 and s.max_length == 4000:  # Figure.value
        return figure_values
    if name in (
        "code",
        "value_code",
        "dimension",
        "regime_code",
        "form_code",
        "indicator_code",
        "row_code",
        "column_code",
        "kpi_code",
        "group_code",
        "section_code",
        "outline_code",
        "media_type",
        "algorithm",
    ) or (s.max_length == 100):
        return code_values
    return text_values


def period_strategy() -> st.SearchStrategy[m.Period]:
    fixed = st.tuples(st.sampled_from(["THANG", "QUY", "6THANG", "9THANG", "NAM"]), st.integers(2000, 2090)).flatmap(
        lambda t: st.integers(1, {"THANG": 12, "QUY": 4, "6THANG": 2, "9THANG": 1, "NAM": 1}[t[0]]).map(
            lambda n: calendar.period(t[0], n, t[1])
        )
    )
    adhoc = st.tuples(st.dates(date(1990, 1, 1), date(2100, 1, 1)), st.integers(0, 400), st.integers(1, 50)).map(
        lambda t: m.Period(
            period_type=m.PeriodType.DOT_XUAT, number=t[2], year=t[0].year, start=t[0], end=t[0] + timedelta(days=t[1])
        )
    )
    return st.one_of(fixed, adhoc)


def attachment_strategy() -> st.SearchStrategy[m.Attachment]:
    return st.builds(
        lambda data, name: m.Attachment(
            file_name=name,
            media_type="application/pdf",
            data=base64.b64encode(data).decode(),
            sha256=hashlib.sha256(data).hexdigest(),
        ),
        st.binary(max_size=64),
        text_values,
    )


def field_strategy(spec: FieldSpec) -> st.SearchStrategy[Any]:
    if spec.kind == "object":
        assert spec.model is not None
        inner = model_strategy(spec.model)
    elif spec.kind == "list_object":
        assert spec.model is not None
        inner = st.lists(model_strategy(spec.model), min_size=spec.min_items, max_size=3)
    elif spec.kind == "list_scalar":
        assert spec.scalar is not None
        inner = st.lists(scalar_strategy(spec.scalar, spec.name), min_size=spec.min_items, max_size=3)
    else:
        assert spec.scalar is not None
        inner = scalar_strategy(spec.scalar, spec.name)
    if not spec.required and spec.kind != "list_object" and spec.kind != "list_scalar":
        return st.none() | inner
    return inner


def model_strategy(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    if model is m.Period:
        return period_strategy()
    if model is m.Attachment:
        return attachment_strategy()
    fields = {spec.name: field_strategy(spec) for spec in fields_of(model) if spec.kind != "body"}
    return st.fixed_dictionaries(fields).map(lambda d: _repair(model, d))


def _repair(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """Satisfy the cross-field rules a schema cannot express."""
    if model is m.StatusReport and data["status"] in ("TRA_LAI", "TU_CHOI", "YEU_CAU_DINH_CHINH"):
        data["reason"] = data["reason"] or "Số liệu chưa khớp"
    if model is m.Deadline and (data["day_of_month"] is None) == (data["days_after_cutoff"] is None):
        data["days_after_cutoff"] = None
        data["day_of_month"] = data["day_of_month"] or 20
    if model is m.Validfor and data["end"] is not None and data["end"] < data["start"]:
        data["end"] = data["start"]
    if model is m.PeriodEntry:
        data["period_key"] = data["period"].key
    if model is m.ReportFigures:
        data["figures"] = [
            f.model_copy(update={"indicator_code": f"{f.indicator_code}{i}"}) for i, f in enumerate(data["figures"])
        ]
    return model.model_validate(data)


def envelope_strategy(packet_type: m.PacketType, profile: Profile) -> st.SearchStrategy[m.Envelope]:
    body = m.BODY_TYPES[packet_type]
    return st.builds(
        lambda pid, created, sender, receiver, b: m.Envelope(
            packet_id=pid,
            packet_type=packet_type,
            profile=profile.id,
            created_at=created,
            sender=sender,
            receiver=receiver,
            body=b,
        ),
        st.uuids(),
        aware_datetimes,
        model_strategy(m.Unit),
        model_strategy(m.Unit),
        model_strategy(body),
    )


__all__ = ["Decimal", "envelope_strategy"]
