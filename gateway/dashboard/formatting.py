"""Numbers, dates and percentages as each language writes them, with Babel's CLDR data rather than
hand-made separators: ``vi_VN`` writes 7.105 and 1.234,5, English 7,105 and 1,234.5.

Values in the gateway are decimal strings (what a province sent, exactly); they are formatted without
rounding (``decimal_quantization=False``), so the dashboard never shows a figure the sender did not send.
Times are shown in Asia/Ho_Chi_Minh whatever the server's zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.numbers import format_decimal, format_percent

from gateway.clock import VN_TZ, as_utc

LOCALES = {"vi": "vi_VN", "en": "en"}
# Vietnamese officials write day/month/year with a 24-hour clock; English keeps CLDR's medium form.
DATETIME = {"vi": "dd/MM/yyyy HH:mm:ss", "en": "medium"}
DATE = {"vi": "dd/MM/yyyy", "en": "medium"}


@cache
def locale(lang: str) -> Locale:
    return Locale.parse(LOCALES.get(lang, LOCALES["vi"]))


def number(value: object, lang: str) -> str:
    """An integer or a decimal string in the language's digits grouping; text that is not a number
    (a code, an empty cell) is shown as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(value)
    try:
        amount = value if isinstance(value, int | Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        return str(value)
    if isinstance(amount, Decimal) and not amount.is_finite():
        return str(value)
    return format_decimal(amount, locale=locale(lang), decimal_quantization=False, group_separator=True)


def percent(part: float | int, whole: float | int, lang: str, digits: int = 1) -> str:
    """``part`` of ``whole`` as a percentage (``0 %`` of nothing)."""
    ratio = (part / whole) if whole else 0
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + " %"
    if lang == "en":
        pattern = pattern.replace(" %", "%")
    return format_percent(ratio, format=pattern, locale=locale(lang))


def when(value: datetime | None, lang: str) -> str:
    if value is None:
        return ""
    local = as_utc(value).astimezone(VN_TZ)
    return _format_datetime(local, DATETIME.get(lang, DATETIME["vi"]), tzinfo=VN_TZ, locale=locale(lang))


def day(value: date | None, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = as_utc(value).astimezone(VN_TZ).date()
    return _format_date(value, DATE.get(lang, DATE["vi"]), locale=locale(lang))


def age(value: timedelta | None, lang: str) -> str:
    """A waiting time in the largest unit that keeps it readable (90 s, 45 min, 5 h, 3 d)."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    units = {"vi": ("giây", "phút", "giờ", "ngày"), "en": ("s", "min", "h", "d")}[lang if lang == "en" else "vi"]
    if seconds < 120:
        return f"{number(seconds, lang)} {units[0]}"
    if seconds < 7200:
        return f"{number(seconds // 60, lang)} {units[1]}"
    if seconds < 172800:
        return f"{number(seconds // 3600, lang)} {units[2]}"
    return f"{number(seconds // 86400, lang)} {units[3]}"
