"""ASGI middleware: request size limits and ETags (plain ASGI, no per-request task switching).

- Query strings longer than ``max_query_bytes`` get 414; bodies longer than ``max_body_bytes`` get
  413, whether declared by ``Content-Length`` or discovered while streaming a chunked body.
- Every successful ``GET`` carries a strong ``ETag`` (SHA-256 of the body); a matching
  ``If-None-Match`` gets ``304 Not Modified`` with no body, so pollers pay for changes only.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM = b"application/problem+json"


async def _problem(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_query_bytes: int):
        self.app = app
        self.max_body = max_body_bytes
        self.max_query = max_query_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > self.max_query:
            await _problem(send, 414, "URI Too Long", f"query string over {self.max_query} bytes")
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await _problem(send, 413, "Content Too Large", f"request body over {self.max_body} bytes")
            return
        seen = 0
        started = False
        too_large = False

        async def counted() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    too_large = True
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if too_large:
                # The route's own answer to the cut body: FastAPI's body parser turns the exception into
                # "400 There was an error parsing the body" (found by probing the API from outside).
                # The 413 goes out instead, once, and the route's answer is dropped.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _problem(send, 413, "Content Too Large", f"request body over {self.max_body} bytes")
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _problem(send, 413, "Content Too Large", f"request body over {self.max_body} bytes")


def etag_of(body: bytes) -> str:
    """The strong ETag of a response body (what ``ETagMiddleware`` adds when the route set none)."""
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


class ETagMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                if message["status"] != 200:
                    await send(message)
                return
            if start.get("status") != 200:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            given = [v for k, v in start.get("headers", []) if k.lower() == b"etag"]
            # A route that serves immutable bytes (a stored packet) sets the ETag it computed once.
            etag = given[0] if given else etag_of(body).encode()
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"etag"]
            asked = dict(scope.get("headers", [])).get(b"if-none-match", b"")
            # Weak comparison (RFC 9110 13.1.2), as If-None-Match asks: W/"x" matches "x".
            tags = [tag.strip().removeprefix(b"W/") for tag in asked.split(b",")]
            if etag.removeprefix(b"W/") in tags or asked.strip() == b"*":
                kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")]
                await send({"type": "http.response.start", "status": 304, "headers": [*kept, (b"etag", etag)]})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": [*headers, (b"etag", etag)]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered)
