"""Structured logs: one JSON object per line, with the delivery's context on every line of its life,
and secrets redacted by construction.

- ``log_context(packet_id=..., delivery_id=..., destination=..., correlation_id=...)`` puts those
  fields on every record logged inside it (contextvars, so threads and tasks do not mix them).
- Every secret the gateway holds (client secrets, bearer tokens, fetched access tokens, the
  reversible ``lgspaccesstoken`` header, key passphrases) is registered with ``register_secret``
  when it is loaded or received; the redacting filter replaces any of them, and anything that looks
  like an ``Authorization`` or ``lgspaccesstoken`` header value, with ``[REDACTED]`` before a record
  is formatted, whoever logged it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("gateway_log_context", default=None)
_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_HEADER = re.compile(r"(?i)(authorization\s*[:=]\s*(?:bearer|basic)\s+|lgspaccesstoken\s*[:=]\s*)([^\s,;'\"}]+)")
REDACTED = "[REDACTED]"


def register_secret(value: str | None) -> None:
    """Never let ``value`` reach a log line (values shorter than 4 characters are not worth masking)."""
    if value and len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _HEADER.sub(lambda m: m.group(1) + REDACTED, text)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    current = _CONTEXT.get() or {}
    token = _CONTEXT.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class RedactingFilter(logging.Filter):
    """Formats the message once, scrubbed; exception text is scrubbed too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None
        context = _CONTEXT.get()
        if context:
            record.gateway_context = dict(context)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "gateway_context", {}))
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "INFO", fmt: str = "json", stream: TextIO | None = None) -> logging.Handler:
    """Install one handler on the root logger (replacing ours from an earlier call)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    handler.set_name("gateway")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "gateway":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # pyHanko logs every failed path check with a traceback at WARNING; the gateway reports the same
    # outcome as a clear SignatureInvalid, so only its errors are worth a line.
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.ERROR)
    return handler


QUIET_LIBRARIES = ("pyhanko", "pyhanko_certvalidator")
