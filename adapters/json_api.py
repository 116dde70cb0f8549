"""The provincial reporting system's JSON API, over httpx.

Reads: ``GET {url}`` returning ``{"items": [records...], "next": URL-or-null}`` (cursor pagination;
a ``page`` parameter works too: ``next`` may be a full URL or a query string), one value per record
(``adapters.long_format``). Auth: a bearer token or an API-key header. Retries: connect errors,
timeouts, 429 and 5xx with exponential backoff and full jitter (tenacity), honouring Retry-After;
other statuses end the read with one ``ReadProblem`` naming the page.
Config: ``JsonApiLayout`` (url, bearer_token or api_key + api_key_header, timeout, max_attempts,
max_pages, max_retry_after). A ``Retry-After`` over ``max_retry_after``, an answer of the wrong shape,
a ``next`` that is not a URL, or stopping at ``max_pages`` with more to read each end the read with one
``ReadProblem`` naming the page, so nothing stops silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from adapters.base import ReadItem, ReadProblem, SourceRef
from adapters.http import parse_retry_after
from adapters.long_format import LongFormat


class _Transient(Exception):
    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


_BACKOFF = wait_random_exponential(multiplier=0.2, max=5)


class _WaitTooLong(Exception):
    """The API asked for a pause longer than ``max_retry_after``: end the read, replay later."""


@dataclass(frozen=True)
class JsonApiLayout:
    url: str
    bearer_token: str | None = None
    api_key: str | None = None
    api_key_header: str = "X-API-Key"
    timeout: float = 30.0
    max_attempts: int = 5
    max_pages: int = 100_000
    max_retry_after: float = 60.0  # a longer Retry-After ends the read with a problem to replay later
    fields: LongFormat = field(default_factory=lambda: LongFormat(record_id="id"))


class JsonApiReader:
    name = "json-api"

    def __init__(self, layout: JsonApiLayout, *, transport: httpx.BaseTransport | None = None) -> None:
        self.layout = layout
        self.source = layout.url
        self._transport = transport

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.layout.bearer_token:
            headers["Authorization"] = f"Bearer {self.layout.bearer_token}"
        if self.layout.api_key:
            headers[self.layout.api_key_header] = self.layout.api_key
        return headers

    def _wait(self, state: RetryCallState) -> float:
        """Backoff with full jitter, or the server's ``Retry-After`` when it asks for longer."""
        backoff = float(_BACKOFF(state))
        failure = state.outcome.exception() if state.outcome is not None else None
        asked = failure.retry_after if isinstance(failure, _Transient) else None
        if asked is not None and asked > self.layout.max_retry_after:
            raise _WaitTooLong(f"the API asked to retry after {asked:.0f} s")
        return max(backoff, asked or 0.0)

    def _page(self, client: httpx.Client, url: str) -> httpx.Response:
        for attempt in Retrying(
            stop=stop_after_attempt(self.layout.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        ):
            with attempt:
                try:
                    response = client.get(url)
                except httpx.TransportError as exc:
                    raise _Transient(f"{type(exc).__name__}") from exc
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Transient(
                        f"HTTP {response.status_code}", parse_retry_after(response.headers.get("retry-after"))
                    )
                return response
        raise AssertionError("unreachable")  # pragma: no cover - Retrying re-raises

    def read(self) -> Iterator[ReadItem]:
        lay = self.layout
        url: str | None = lay.url
        page = 0
        with httpx.Client(
            headers=self._headers(), timeout=lay.timeout, transport=self._transport, trust_env=False
        ) as client:
            while url and page < lay.max_pages:
                page += 1
                ref = SourceRef(lay.url, record=f"page {page}")
                try:
                    response = self._page(client, url)
                except _Transient as exc:
                    yield ReadProblem(ref, f"gave up after {lay.max_attempts} attempts ({exc}); replay later")
                    return
                except _WaitTooLong as exc:
                    yield ReadProblem(ref, f"{exc} (over {lay.max_retry_after:.0f} s); replay later")
                    return
                if response.status_code != 200:
                    yield ReadProblem(ref, f"HTTP {response.status_code}: {response.text[:200]}")
                    return
                try:
                    body: Any = response.json()
                    items = body["items"]
                except (ValueError, KeyError, TypeError):
                    items = None
                if not isinstance(items, list):
                    yield ReadProblem(ref, 'answer is not {"items": [...], "next": ...}')
                    return
                for n, record in enumerate(items, start=1):
                    if not isinstance(record, dict):
                        yield ReadProblem(SourceRef(lay.url, record=f"page {page} item {n}"), "item is not an object")
                        continue
                    rid = str(record.get(lay.fields.record_id or "", f"page {page} item {n}"))
                    yield lay.fields.item(record, SourceRef(lay.url, record=rid))
                nxt = body.get("next")
                try:
                    url = urljoin(url, nxt) if isinstance(nxt, str) and nxt else None
                except ValueError as exc:
                    yield ReadProblem(ref, f"next page link {nxt!r} is not a URL ({exc}); the rest is not read")
                    return
            if url:
                yield ReadProblem(
                    SourceRef(lay.url, record=f"page {page}"),
                    f"stopped after {lay.max_pages} pages (max_pages) with more to read at {url}",
                )
