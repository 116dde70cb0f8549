"""HTTP connector for the national reporting system and ministry systems.

Sends: one packet per ``POST {url}`` (``application/json`` or ``application/xml`` per the
destination's ``format``), with ``Idempotency-Key`` (stable across retries and restarts) and
``X-MaGoiTin``. Expects: 2xx, optionally with a ``TRANG_THAI_BAO_CAO`` status packet in the body.
Config keys: ``destinations.<name>.{url, timeout, connect_timeout, max_concurrency, bearer_token}``.
Peer quirks: ``Retry-After`` may be seconds or an HTTP date; some peers answer 200 with an empty body
and acknowledge later by callback.

Classification (what the delivery layer must do): connect errors, timeouts, resets, 408, 425, 429
and 5xx are transient; 401 and 403 are credential problems; every other 4xx rejects the packet.
"""

from __future__ import annotations

import base64
import binascii
import ssl
import threading
import time
from collections.abc import Callable

import httpx

from adapters.http import parse_retry_after
from gateway.auth.ratelimit import Pacer
from gateway.connectors.auth import build_auth
from gateway.connectors.base import OutgoingPacket, Receipt
from gateway.errors import (
    CredentialsError,
    GatewayError,
    RejectedDeliveryError,
    SignatureInvalid,
    TransientDeliveryError,
)
from gateway.packets import model as m
from gateway.packets import safe
from gateway.packets.validate import read_packet
from gateway.settings import DestinationSettings

RETRYABLE_STATUS = frozenset({408, 425, 429})
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


def _reason(response: httpx.Response) -> str:
    text = response.text[:500]
    ctype = response.headers.get("content-type", "")
    if "json" in ctype:
        try:
            data = response.json()
        except ValueError:
            return text
        if isinstance(data, dict):
            for key in ("detail", "title", "LyDo", "message"):
                if isinstance(data.get(key), str):
                    return str(data[key])[:500]
    return text


def _tls_context(settings: DestinationSettings) -> ssl.SSLContext:
    """Server certificates checked against the system CAs or ``tls.ca_bundle``; with ``client_cert`` and
    ``client_key``, our certificate is presented too (mutual TLS)."""
    tls = settings.tls
    context = ssl.create_default_context(cafile=str(tls.ca_bundle) if tls.ca_bundle else None)
    if tls.client_cert and tls.client_key:
        context.load_cert_chain(str(tls.client_cert), str(tls.client_key))
    return context


class HttpConnector:
    """One destination over HTTP/1.1 keep-alive with bounded timeouts, a concurrency cap, an optional
    rate limit, pluggable authentication (one re-authentication on 401) and optional mTLS."""

    def __init__(
        self,
        name: str,
        settings: DestinationSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        read: Callable[[bytes, str], m.Envelope] | None = None,
    ):
        self.name = name
        # How answers become packets: the gateway passes its verifying reader (signatures checked
        # against the trust store); by default, schema validation only.
        self._read = read or (lambda data, source: read_packet(data, source=source))
        self.settings = settings
        timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout, pool=settings.timeout)
        limits = httpx.Limits(
            max_connections=settings.max_concurrency, max_keepalive_connections=settings.max_concurrency
        )
        self._client = httpx.Client(
            timeout=timeout, limits=limits, transport=transport, trust_env=False, verify=_tls_context(settings)
        )
        self.auth = build_auth(settings.auth)
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self._rate = Pacer(settings.rate_limit) if settings.rate_limit else None

    def _headers(self, packet: OutgoingPacket) -> dict[str, str]:
        return {
            "Content-Type": packet.content_type,
            "Idempotency-Key": packet.idempotency_key,
            "X-MaGoiTin": packet.packet_id,
            "Accept": "application/json, application/xml",
        }

    def _paced(self) -> None:
        """Wait for the destination's ``rate_limit``; every request to the receiver takes its turn (a
        feed poll, a status poll or a copy request counts against the receiver's budget like a packet)."""
        if self._rate is not None and not self._rate.acquire(self.settings.timeout):
            raise TransientDeliveryError(f"{self.name}: local rate limit of {self.settings.rate_limit}/s reached")

    def send(self, packet: OutgoingPacket) -> Receipt:
        self._paced()
        if not self._slots.acquire(timeout=self.settings.timeout):
            raise TransientDeliveryError(f"{self.name}: all {self.settings.max_concurrency} connection slots busy")
        try:
            response = self._post(packet)
            if response.status_code == 401:
                self.auth.invalidate()  # one re-authentication, then a 401 is an operator's problem
                response = self._post(packet)
            return self._classify(response, packet)
        finally:
            self._slots.release()

    def _post(self, packet: OutgoingPacket) -> httpx.Response:
        headers = {**self._headers(packet), **self.auth.headers(self._client)}
        started = time.monotonic()
        limit = self.settings.total_timeout
        try:
            request = self._client.build_request("POST", self.settings.url, content=packet.payload, headers=headers)
            response = self._client.send(request, stream=True)
            try:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if time.monotonic() - started > limit or len(body) > MAX_RESPONSE_BYTES:
                        raise TransientDeliveryError(
                            f"{self.name}: answer took longer than {limit:.0f} s or exceeded {MAX_RESPONSE_BYTES} bytes"
                        )
            finally:
                response.close()
            response._content = bytes(body)  # the body, read under our bounds
            return response
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"{self.name}: timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"{self.name}: transport error ({type(exc).__name__})") from exc

    def _classify(self, response: httpx.Response, packet: OutgoingPacket) -> Receipt:
        status = response.status_code
        if 200 <= status < 300:
            return self._receipt(response, packet)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        reason = _reason(response)
        if status in RETRYABLE_STATUS or status >= 500:
            raise TransientDeliveryError(
                f"{self.name}: HTTP {status}: {reason}", status=status, retry_after=retry_after
            )
        if status in (401, 403):
            what = "credentials refused after re-authenticating" if status == 401 else "access forbidden"
            raise CredentialsError(f"{self.name}: HTTP {status}: {what}: {reason}", status=status)
        raise RejectedDeliveryError(f"{self.name}: HTTP {status}: {reason}", status=status)

    def _receipt(self, response: httpx.Response, packet: OutgoingPacket) -> Receipt:
        if not response.content:
            return Receipt(response.status_code)
        try:
            status = self._read(response.content, f"{self.name} response to {packet.packet_id}")
        except SignatureInvalid as exc:
            return Receipt(response.status_code, note=f"status packet refused: {exc}", signature_error=exc)
        except GatewayError as exc:
            return Receipt(response.status_code, note=f"unreadable status packet: {exc}")
        if status.packet_type is not m.PacketType.TRANG_THAI_BAO_CAO:
            return Receipt(response.status_code, note=f"response is a {status.packet_type.value}, not a status")
        assert isinstance(status.body, m.StatusReport)
        if str(status.body.original_packet_id) != packet.packet_id:
            return Receipt(response.status_code, note="status packet answers another MaGoiTin")
        return Receipt(response.status_code, status=status)

    def poll_status(self, packet_id: str) -> m.Envelope | None:
        """Fetch the latest status packet for ``packet_id`` (receivers that can only be polled)."""
        if not self.settings.status_url:
            return None
        url = self.settings.status_url.format(packet_id=packet_id)
        self._paced()
        try:
            response = self._client.get(url, headers={"Accept": "application/json", **self.auth.headers(self._client)})
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"{self.name}: status poll failed ({type(exc).__name__})") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TransientDeliveryError(f"{self.name}: status poll answered HTTP {response.status_code}")
        return self._read(response.content, f"{self.name} status of {packet_id}")

    def fetch_feed(self, cursor: str | None) -> tuple[list[bytes], str | None]:
        """Packets the receiver publishes for us after ``cursor`` (``poll_url``): ``GET poll_url?cursor=C``
        answers ``{"items": [{"data": base64, "content_type": ...}], "next": C'}``. Raises
        ``TransientDeliveryError`` when the feed cannot be read; the cursor then stays where it was."""
        if not self.settings.poll_url:
            return [], cursor
        self._paced()
        try:
            response = self._client.get(
                self.settings.poll_url,
                params={"cursor": cursor} if cursor else {},
                headers={"Accept": "application/json", **self.auth.headers(self._client)},
            )
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"{self.name}: feed poll failed ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise TransientDeliveryError(f"{self.name}: feed poll answered HTTP {response.status_code}")
        try:
            doc = safe.parse_json(response.content, f"{self.name} feed")
            items = doc["items"] if isinstance(doc, dict) and isinstance(doc.get("items"), list) else None
            following = doc.get("next") if isinstance(doc, dict) else None
            if items is None or not (following is None or isinstance(following, str)):
                raise ValueError("expected {items: [...], next: cursor}")
            packets = [base64.b64decode(str(item["data"]), validate=True) for item in items]
        except (GatewayError, ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise TransientDeliveryError(f"{self.name}: the feed is not in the expected shape ({exc})") from exc
        return packets, following if following is not None else cursor

    def fetch_copy(self, packet_id: str) -> bytes | None:
        """The receiver's copy of a packet it took in (``data_url``), for reconciliation; None when the
        receiver says it has none (404). Raises ``TransientDeliveryError`` when it cannot be asked."""
        if not self.settings.data_url:
            raise TransientDeliveryError(f"{self.name}: no data_url configured; the receiver's copy is not exposed")
        url = self.settings.data_url.format(packet_id=packet_id)
        self._paced()
        try:
            response = self._client.get(url, headers={"Accept": "application/json", **self.auth.headers(self._client)})
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"{self.name}: copy request failed ({type(exc).__name__})") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TransientDeliveryError(f"{self.name}: copy request answered HTTP {response.status_code}")
        return response.content

    def close(self) -> None:
        self._client.close()
