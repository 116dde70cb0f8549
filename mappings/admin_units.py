"""Administrative-unit codes, always with the code list they belong to.

After 1 July 2025 (Decision 19/2025/QĐ-TTg) there are 34 provinces and 3,321 communes, and most new
commune codes reuse an old code for a different territory, so a code is meaningless without its list.
The current list comes from the maintained ``vietnam-provinces`` package (``QD19-2025``). The
old-to-new transition (``admin/transition-2025-07-01.csv``) is built from the ``vietnamadminunits``
open dataset by ``admin/build_transition.py``: merges are summed, divided communes are flagged for an
operator's decision, never split by guesswork.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

REFORM_DATE = date(2025, 7, 1)


class UnknownAdminUnit(ValueError):
    pass


@dataclass(frozen=True)
class AdminUnits:
    code_list: str
    valid_from: date
    provinces: frozenset[str]
    communes: dict[str, tuple[str, str]]  # commune code -> (province code, name)

    def check(self, code: str, province: str, *, on: date) -> None:
        from mappings.indicators import MappingRejected

        if on < self.valid_from:
            raise MappingRejected(
                f"unit code {code!r} uses code list {self.code_list}, valid from "
                f"{self.valid_from}; the period ends {on}, before it"
            )
        if code == province:
            return
        found = self.communes.get(code)
        if found is None:
            raise MappingRejected(
                f"unit code {code!r} is not a commune in code list {self.code_list} (an old district or commune code?)"
            )
        if found[0] != province:
            raise MappingRejected(f"commune {code!r} ({found[1]}) belongs to province {found[0]}, not {province}")

    def name(self, code: str) -> str | None:
        found = self.communes.get(code)
        return found[1] if found else None


@cache
def admin_units(code_list: str) -> AdminUnits:
    if code_list != "QD19-2025":
        raise UnknownAdminUnit(f"unknown administrative code list {code_list!r}; known: QD19-2025")
    from vietnam_provinces import Province, Ward

    provinces = frozenset(f"{int(p.code):02d}" for p in Province.iter_all())
    communes = {f"{int(w.code):05d}": (f"{int(w.province_code):02d}", w.name) for w in Ward.iter_all()}
    return AdminUnits(code_list, REFORM_DATE, provinces, communes)


TRANSITION_FILE = Path(__file__).resolve().parent / "admin" / "transition-2025-07-01.csv"


@dataclass(frozen=True)
class Successor:
    """A post-reform commune that took over (part of) a pre-reform one."""

    code: str
    province: str
    name: str
    split: bool  # the old commune was divided among several new ones
    default: bool  # for a split: where most of it went (an operator may still decide otherwise)


@dataclass
class Reaggregation:
    totals: dict[str, Decimal]  # new commune code -> summed value (many-to-one merges)
    sources: dict[str, list[str]]  # new commune code -> the old codes summed into it
    split: dict[str, list[Successor]]  # old codes divided among several new communes: an operator decides
    unknown: list[str]  # old codes the transition table does not know


@dataclass(frozen=True)
class Transition:
    """Old (63 provinces, 10,040 communes) to new (34 provinces, 3,321 communes) on 1 July 2025.

    Most new codes reuse an old code for a different territory, so old and new codes are never mixed:
    a value is converted only when its period ends before ``effective``."""

    effective: date
    successors_of: dict[str, tuple[Successor, ...]]

    def successors(self, old_code: str) -> tuple[Successor, ...]:
        return self.successors_of.get(old_code, ())

    def reaggregate(self, values: dict[str, Decimal]) -> Reaggregation:
        """Sum old communes into the new ones that absorbed them; divided communes are not guessed."""
        result = Reaggregation({}, {}, {}, [])
        for old_code, value in sorted(values.items()):
            successors = self.successors(old_code)
            if not successors:
                result.unknown.append(old_code)
            elif any(s.split for s in successors):
                result.split[old_code] = list(successors)
            else:
                target = successors[0].code
                result.totals[target] = result.totals.get(target, Decimal(0)) + value
                result.sources.setdefault(target, []).append(old_code)
        return result


@cache
def transition(path: Path = TRANSITION_FILE) -> Transition:
    import csv

    successors: dict[str, list[Successor]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            successors.setdefault(row["old_ward"], []).append(
                Successor(
                    row["new_ward"],
                    row["new_province"],
                    row["new_name"],
                    row["kind"] == "split",
                    row["default"] == "true",
                )
            )
    return Transition(REFORM_DATE, {k: tuple(v) for k, v in successors.items()})
