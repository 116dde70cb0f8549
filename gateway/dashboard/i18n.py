"""The dashboard's message catalogue: Vietnamese by default (the provincial regulations require a
Vietnamese interface), English on request. Messages live in ``messages/<lang>.yaml``; templates only
ever say ``t("key")``, so a translation is a file, not an edit of every template."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

LANGUAGES = ("vi", "en")
DEFAULT = "vi"
MESSAGES = Path(__file__).parent / "messages"


@cache
def catalogue(lang: str) -> dict[str, str]:
    data = yaml.safe_load((MESSAGES / f"{lang}.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


class Translator:
    def __init__(self, lang: str):
        self.lang = lang if lang in LANGUAGES else DEFAULT
        self.messages = catalogue(self.lang)

    def __call__(self, key: str, **values: object) -> str:
        text = self.messages.get(key)
        if text is None:  # a missing key shows itself rather than an empty cell
            return f"[{key}]"
        return text.format(**values) if values else text
