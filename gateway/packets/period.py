"""The reporting period of the canonical model (``KyBaoCao``: type, number, year, data window) and
the base of every canonical model, re-exported by ``gateway.packets.model``.

Apart so that the calendar and the regimes, which every ingest consults, do not build the fifty
other packet models (issue 19: command start-up).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class PeriodType(StrEnum):
    NGAY = "NGAY"
    TUAN = "TUAN"
    THANG = "THANG"
    QUY = "QUY"
    SAU_THANG = "6THANG"
    CHIN_THANG = "9THANG"
    NAM = "NAM"
    DOT_XUAT = "DOT_XUAT"


class Part(BaseModel):
    """Base of every canonical model: closed (unknown fields are errors) and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Period(Part):
    period_type: PeriodType
    number: int = Field(ge=1, le=366)
    year: int = Field(ge=1900, le=2999)
    start: date
    end: date

    @property
    def key(self) -> str:
        """The ``MaKy`` form: ``{Nam}-{LoaiKy}-{SoKy}``, e.g. ``2026-THANG-10``."""
        return f"{self.year}-{self.period_type.value}-{self.number}"
