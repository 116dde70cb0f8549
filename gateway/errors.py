"""The gateway's error tree, classified by what the caller must do.

::

    GatewayError
    ├── ConfigurationError      refuse to start; the message names the setting
    ├── InputError              bad input: quarantine it, name the place (file, row, XPath)
    │   ├── UnsafeInputError    hostile or oversized input rejected before parsing finishes
    │   ├── PacketInvalid       a packet broke the wire profile; carries every error found
    │   └── SignatureInvalid    a signature does not prove what it claims (``code`` says which check)
    │       └── SignatureUnknown    revocation could not be checked; policy decides, never "valid"
    ├── DeliveryError           raised by connectors
    │   ├── TransientDeliveryError   retry later (timeouts, resets, 408/425/429/5xx)
    │   ├── CredentialsError         stop sending to that destination; an operator must act (401/403)
    │   └── RejectedDeliveryError    the receiver refused this packet (other 4xx); do not retry
    ├── NotFound                the record asked for does not exist
    ├── Conflict                the record is not in a state that allows this (409)
    ├── NotAcceptable           the client accepts no representation we have (406)
    └── AccessDenied            the API refuses the caller
        ├── Unauthenticated     no or bad credentials (401)
        ├── Forbidden           authenticated, not allowed (403; audited)
        └── RateLimited         too many requests (429 with Retry-After)

Foreign exceptions (httpx, lxml, openpyxl, SQLAlchemy) are translated at the boundary that sees them
and chained with ``raise ... from exc``. The API maps this tree to RFC 9457 problem+json in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigurationError(GatewayError):
    """The configuration cannot work; the process must not start."""


class InputError(GatewayError):
    """Input that cannot become an observation or a packet. ``location`` says where."""

    def __init__(self, message: str, *, location: str = "") -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.reason = message
        self.location = location


class UnsafeInputError(InputError):
    """Input refused for safety (XML bombs, external entities, size, depth)."""


@dataclass(frozen=True)
class Violation:
    """One problem found in a packet: where (JSON pointer or XPath) and what."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location or '/'}: {self.message}"


class PacketInvalid(InputError):
    """A packet does not conform to the active wire profile. Holds *every* violation found."""

    def __init__(self, violations: list[Violation], *, source: str = "") -> None:
        self.violations = violations
        head = "; ".join(str(v) for v in violations[:5])
        more = f" (+{len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__(f"{len(violations)} error(s): {head}{more}", location=source)


class SignatureInvalid(InputError):
    """A signed packet or document failed verification. ``code`` is a stable, distinct reason
    (``tampered``, ``untrusted``, ``expired``, ``revoked``, ``weak_algorithm``, ``wrapping``, ...)."""

    def __init__(self, code: str, message: str, *, location: str = "") -> None:
        super().__init__(f"signature {code}: {message}", location=location)
        self.code = code


class SignatureUnknown(SignatureInvalid):
    """The signature is intact but the signer's revocation status could not be established."""


class SigningUnavailable(ConfigurationError):
    """A destination requires signed packets (``destinations.<name>.sign``, on by default) and no
    signing key is configured: nothing is sealed nor stored for it, rather than unsigned bytes that
    the receiver refuses and every retry and replay would send again."""


class TimestampUnavailable(GatewayError):
    """The time-stamping authority could not be reached or refused: transient, nothing is stored,
    the caller tries again later (the scheduler at its next tick, the API answers 503)."""


class DeliveryError(GatewayError):
    """A delivery attempt failed. ``status`` is the HTTP status when there was a response."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """Worth retrying: the receiver or the network may recover."""


class CredentialsError(DeliveryError):
    """The receiver refused our credentials; retrying cannot help until an operator acts."""


class RejectedDeliveryError(DeliveryError):
    """The receiver refused this packet; the reason is in the message."""


class NotFound(GatewayError):
    """The record does not exist."""


class Conflict(GatewayError):
    """The record exists but its state does not allow the action."""


class NotAcceptable(GatewayError):
    """The client accepts neither JSON nor XML."""


class AccessDenied(GatewayError):
    """The API refuses the caller."""


class Unauthenticated(AccessDenied):
    """No credentials, or credentials that do not prove who the caller is."""


class Forbidden(AccessDenied):
    """Authenticated, but this principal may not do this."""


class RateLimited(AccessDenied):
    def __init__(self, message: str, *, retry_after: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
