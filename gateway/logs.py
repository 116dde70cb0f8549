"""Structured logs: one JSON object per line, with the delivery's context on every line of its life,
and secrets redacted by construction.

- ``log_context(packet_id=..., delivery_id=..., destination=..., correlation_id=...)`` puts those
  fields on every record logged inside it (contextvars, so threads and tasks do not mix them).
- Every secret the gateway holds (client secrets, bearer tokens, fetched access tokens, the
  reversible ``lgspaccesstoken`` header, key passphrases) is registered with ``register_secret``
  when it is loaded or received; the redacting filter replaces any of them, and anything that looks
  like an ``Authorization`` or ``lgspaccesstoken`` header value, with ``[REDACTED]`` before a record
  is formatted, whoever logged it.
- The API's server (uvicorn) logs through the same handler: ``configure`` takes its loggers over, and
  ``UVICORN`` is what ``uvicorn.run``/``uvicorn.Config`` are given so that they leave them alone. An
  access line carries ``client``, ``method``, ``path`` and ``status`` as fields.
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


_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_NAMED = re.compile(
    r"(?i)([\"']?(?:access_?token|refresh_?token|id_?token|client_?secret|consumer_?(?:key|secret)|secret_?key|"
    r"access_?key|api_?key|x-api-key|password|passphrase|secret|token)[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s\"',;&}]{4,})"
)
# base64 of JSON beginning {"AccessKey" or {"SecretKey": an LGSP credential header
_LGSP_B64 = re.compile(r"\beyJ(?:BY2Nlc3NLZXki|TZWNyZXRLZXki)[A-Za-z0-9+/=]{8,}")


def redact(text: str) -> str:
    """``text`` without any secret the gateway holds, nor anything shaped like one: an Authorization or
    lgspaccesstoken header's value, a JWT, a base64 LGSP credential, ``token=...``/``"secret": "..."``."""
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _LGSP_B64.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    return _NAMED.sub(lambda m: m.group(1) + REDACTED if m.group(2) != REDACTED else m.group(0), text)


def redact_value(value: Any) -> Any:
    """``redact`` applied to every string inside a JSON-like value (audit details)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    current = _CONTEXT.get() or {}
    token = _CONTEXT.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


UVICORN: dict[str, Any] = {"log_config": None, "log_level": None}
"""Options for ``uvicorn.run``/``uvicorn.Config``: no logging configuration of its own (its default one
installs plain-text handlers on its loggers, so ``gateway serve`` wrote plain lines among the JSON
ones), and no level of its own (``log.level`` decides, as for every other logger)."""
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
ACCESS_LOGGER = "uvicorn.access"


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of a uvicorn access line (``'%s - "%s %s HTTP/%s" %d'`` with client, method, path,
    HTTP version, status), so that a log search can filter on them; the path scrubbed like a message."""
    args = record.args
    if record.name != ACCESS_LOGGER or not isinstance(args, tuple) or len(args) != 5:
        return {}
    client, method, path, _version, status = args
    return {"client": client, "method": method, "path": redact(str(path)), "status": status}


class RedactingFilter(logging.Filter):
    """Formats the message once, scrubbed; exception text is scrubbed too."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _access_fields(record)
        if fields:
            record.gateway_fields = fields
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
        entry.update(getattr(record, "gateway_fields", {}))
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
    for name in UVICORN_LOGGERS:  # whatever configured them before: through our handler, at our level
        server = logging.getLogger(name)
        server.handlers.clear()
        server.propagate = True
        server.setLevel(logging.NOTSET)
    # pyHanko logs every failed path check with a traceback at WARNING; the gateway reports the same
    # outcome as a clear SignatureInvalid, so only its errors are worth a line.
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.ERROR)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").addFilter(_ALEMBIC_CHATTER)
    return handler


QUIET_LIBRARIES = ("pyhanko", "pyhanko_certvalidator")


class _AlembicChatter(logging.Filter):
    """Alembic's "Context impl SQLiteImpl." and "Will assume ... DDL." at every look at the schema:
    ``/readyz`` looks at each probe, so ``gateway serve`` wrote two such lines every few seconds. Its
    "Running upgrade 0001 -> 0002" lines stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


_ALEMBIC_CHATTER = _AlembicChatter()
