"""Fault plans for the simulators: named profiles plus explicit knobs.

A plan is applied per request. ``script`` gives exact behaviour for the first requests (so a test can
say "503, then 429 with Retry-After 1, then accept"); after it, random faults are drawn from a seeded
generator, so a run is reproducible.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Literal

Fault = Literal["ok", "503", "500", "429", "timeout", "reset", "slow", "return", "reject", "400", "403"]


@dataclass(frozen=True)
class FaultPlan:
    script: tuple[Fault, ...] = ()
    p_503: float = 0.0
    p_500: float = 0.0
    p_429: float = 0.0
    p_timeout: float = 0.0
    p_reset: float = 0.0
    p_return: float = 0.0
    retry_after: float = 1.0
    hang_seconds: float = 3.0
    slow_seconds: float = 0.5
    ack: Literal["sync", "async"] = "sync"  # async: 202 now, status later by callback and/or polling
    callback_url: str | None = None  # where async status packets are POSTed (our /v1/intake/status)
    callback_token: str | None = None  # bearer token for the callback (a gateway client with role receiver)
    ack_delay: float = 0.2  # seconds before an async status is sent ("late" acknowledgements: raise it)
    duplicate_ack: bool = False  # send every async status twice
    return_reason: str = "Số liệu chưa khớp với báo cáo kỳ trước, đề nghị kiểm tra lại"
    reject_reason: str = "Báo cáo không thuộc chế độ báo cáo được giao, không tiếp nhận"  # fault "reject": TU_CHOI
    # What the receiver keeps of what it acknowledged (exposed at DATA_PATH, for reconciliation):
    # "keep" the packet as received, "lose" it, keep it with the first value or unit altered, or with
    # its first figure recorded twice, or "garble" it (a copy that is not a report packet: its figures
    # a string), as a broken receiver would serve it.
    keep: Literal["keep", "lose", "alter_value", "alter_unit", "duplicate", "garble"] = "keep"
    down: bool = False
    down_windows: tuple[tuple[float, float], ...] = ()  # planned downtime: (start, end) as Unix times
    seed: int = 125


PROFILES: dict[str, FaultPlan] = {
    "none": FaultPlan(),
    # The demo's "mild" weather: one 429 with Retry-After, one timeout, a few 503s.
    "mild": FaultPlan(
        script=("ok", "503", "ok", "429", "ok", "timeout"), p_503=0.08, retry_after=1.0, hang_seconds=2.5
    ),
    "heavy": FaultPlan(
        script=("503", "429", "timeout", "500"),
        p_503=0.15,
        p_500=0.05,
        p_429=0.05,
        p_timeout=0.01,
        retry_after=1.0,
        hang_seconds=2.5,
    ),
}


def plan(name: str, **overrides: object) -> FaultPlan:
    try:
        base = PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown fault profile {name!r}; known: {', '.join(PROFILES)}") from None
    return replace(base, **overrides)  # type: ignore[arg-type]


@dataclass
class FaultState:
    plan: FaultPlan
    position: int = 0
    rng: random.Random = field(default_factory=random.Random)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.rng.seed(self.plan.seed)

    def next(self) -> Fault:
        with self.lock:
            now = time.time()
            if self.plan.down or any(start <= now < end for start, end in self.plan.down_windows):
                return "503"
            i = self.position
            self.position += 1
            if i < len(self.plan.script):
                return self.plan.script[i]
            r = self.rng.random()
            p = self.plan
            for fault, prob in (
                ("503", p.p_503),
                ("500", p.p_500),
                ("429", p.p_429),
                ("timeout", p.p_timeout),
                ("reset", p.p_reset),
                ("return", p.p_return),
            ):
                if r < prob:
                    return fault  # type: ignore[return-value]
                r -= prob
            return "ok"

    def replace_plan(self, new: FaultPlan) -> None:
        with self.lock:
            self.plan = new
            self.position = 0
            self.rng.seed(new.seed)
