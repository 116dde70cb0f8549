"""The dashboard's message catalogue: Vietnamese by default (the provincial regulations require a
Vietnamese interface), English on request. Messages live in ``messages/<lang>.yaml``; templates only
ever say ``t("key")``, so a translation is a file, not an edit of every template.

Codes the gateway stores (delivery states, receiver statuses ``DA_TIEP_NHAN``..., attempt outcomes,
packet types, audit actions) are shown through ``t.code(kind, value)``: ``kind_value`` in the
catalogue, or the code itself when it is new. Reasons are English sentences written by the gateway
(``unknown indicator code 'T9901': not in mapping ...``); ``messages/reasons.yaml`` turns the known
shapes into Vietnamese with their details kept, and an unknown reason is shown as written. Numbers,
dates and percentages go through Babel (``gateway.dashboard.formatting``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

from gateway.dashboard import formatting
from mappings import yaml_files

LANGUAGES = ("vi", "en")
DEFAULT = "vi"
MESSAGES = Path(__file__).parent / "messages"
CODE_GROUPS = ("state", "ack", "outcome")


@cache
def catalogue(lang: str) -> dict[str, str]:
    data = yaml_files.safe_load((MESSAGES / f"{lang}.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


@dataclass(frozen=True)
class ReasonShape:
    pattern: re.Pattern[str]
    texts: dict[str, str]


@cache
def reason_shapes() -> tuple[ReasonShape, ...]:
    """The reasons the gateway writes, as patterns with their translations (first match wins)."""
    data = yaml_files.safe_load((MESSAGES / "reasons.yaml").read_text(encoding="utf-8"))
    return tuple(
        ReasonShape(re.compile(item["pattern"], re.DOTALL), {k: str(v) for k, v in item.items() if k != "pattern"})
        for item in data
    )


class Translator:
    def __init__(self, lang: str):
        self.lang = lang if lang in LANGUAGES else DEFAULT
        self.messages = catalogue(self.lang)

    def __call__(self, key: str, **values: object) -> str:
        text = self.messages.get(key)
        if text is None:  # a missing key shows itself rather than an empty cell
            return f"[{key}]"
        if not values:
            return text
        shown = {k: self.num(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in values.items()}
        return text.format(**shown)

    def has(self, key: str) -> bool:
        return key in self.messages

    def code(self, kind: str, value: object) -> str:
        """A stored code in words (``ack``, ``DA_TIEP_NHAN`` -> "Đã tiếp nhận"); unknown codes as they are."""
        if value is None or value == "":
            return ""
        return self.messages.get(f"{kind}_{value}", str(value))

    def subject(self, text: object) -> str:
        """What an audit event is about (``delivery:12`` -> "lần gửi 12"): its kind in this language
        and its id as stored; a kind the catalogue does not name is shown as written."""
        kind, sep, ident = str(text or "").partition(":")
        template = self.messages.get(f"subject_{kind}") if sep else None
        return template.format(id=ident) if template else str(text or "")

    def reason(self, text: object) -> str:
        """A reason the gateway wrote, in this language when its shape is known."""
        if text is None or text == "":
            return ""
        sentence = str(text)
        for shape in reason_shapes():
            found = shape.pattern.fullmatch(sentence)
            if found is None:
                continue
            template = shape.texts.get(self.lang)
            if template is None:
                return sentence
            return template.format(**{k: self._part(k, v or "") for k, v in found.groupdict().items()})
        return sentence

    def _part(self, name: str, value: str) -> str:
        if name == "inner":
            return self.reason(value)
        if name in CODE_GROUPS:
            return self.code(name, value)
        return value

    # Babel formatting, in this language
    def num(self, value: object) -> str:
        return formatting.number(value, self.lang)

    def pct(self, part: float | int, whole: float | int) -> str:
        return formatting.percent(part, whole, self.lang)

    def when(self, value: datetime | None) -> str:
        return formatting.when(value, self.lang)

    def day(self, value: date | None) -> str:
        return formatting.day(value, self.lang)

    def age(self, value: timedelta | None) -> str:
        return formatting.age(value, self.lang)
