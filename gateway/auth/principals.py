"""Who is calling, and what they may do: roles, permissions and a ministry's data grants.

One table (``PERMISSIONS``) says which roles hold which permission; every route names exactly one
permission, so the authorisation matrix is data that a test walks, not conditions scattered in code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Permission(StrEnum):
    PULL = "pull"  # reports, packets, series, catalogues (ministries: within their grants)
    OPS_READ = "ops:read"  # queues, deliveries, quarantine, scheduler, audit
    OPS_WRITE = "ops:write"  # replay, cancel, quarantine replay
    INTAKE = "intake"  # post status packets
    METRICS = "metrics"  # Prometheus scrape
    APPROVE = "approve"  # approve or reject reports before they are signed and sent
    APPROVALS = "approvals:read"  # see the reports awaiting approval, their figures and reconciliation
    REGIMES = "regimes:decide"  # accept or decline a regime, form or outline received (regime inbox)


PERMISSIONS: dict[Permission, frozenset[str]] = {
    Permission.PULL: frozenset({"admin", "operator", "auditor", "ministry"}),
    Permission.OPS_READ: frozenset({"admin", "operator", "auditor"}),
    Permission.OPS_WRITE: frozenset({"admin", "operator"}),
    Permission.INTAKE: frozenset({"admin", "receiver"}),
    Permission.METRICS: frozenset({"admin", "operator", "auditor", "metrics"}),
    Permission.APPROVE: frozenset({"approver"}),
    Permission.APPROVALS: frozenset({"admin", "operator", "auditor", "approver"}),
    Permission.REGIMES: frozenset({"admin"}),
}


@dataclass(frozen=True)
class Grants:
    """A ministry's data scope: the regimes and indicator codes it may pull (``*`` = all)."""

    regimes: frozenset[str] = frozenset()
    indicators: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, raw: dict[str, Iterable[str]] | None) -> Grants:
        raw = raw or {}
        return cls(frozenset(raw.get("regimes", ())), frozenset(raw.get("indicators", ())))

    def to_json(self) -> dict[str, list[str]]:
        return {"regimes": sorted(self.regimes), "indicators": sorted(self.indicators)}

    def regime(self, code: str | None) -> bool:
        return "*" in self.regimes or (code is not None and code in self.regimes)

    def indicator(self, code: str) -> bool:
        return "*" in self.indicators or code in self.indicators

    @property
    def empty(self) -> bool:
        return not self.regimes and not self.indicators


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user (``user:NAME``) or a machine client (``client:ID``)."""

    kind: str  # "user" or "client"
    name: str
    role: str
    grants: Grants = field(default_factory=Grants)
    unit: str | None = None
    """Receivers: the unit (``MaDinhDanh``) the client speaks for; its status packets must come from it."""

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def scoped(self) -> bool:
        """True when data must be filtered by grants (ministry clients)."""
        return self.role == "ministry"

    def may(self, permission: Permission) -> bool:
        if self.role not in PERMISSIONS[permission]:
            return False
        return not (self.scoped and self.grants.empty)
