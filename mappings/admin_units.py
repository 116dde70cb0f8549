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
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from importlib.resources import files
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
    valid_until: date | None = None  # the pre-reform list ends on 30 June 2025
    districts: frozenset[str] = frozenset()

    def resolve(self, code: str, province: str, *, on: date) -> tuple[str, str | None]:
        """The unit code to report for a period ending ``on``, and the old code it was converted from.

        A pre-reform code used for a post-reform period is converted through the dated transition:
        a merged commune becomes its new commune (values are then summed by the caller); a divided
        commune, a district (abolished) or an unknown code is rejected with the reason."""
        from mappings.indicators import MappingRejected

        if self.valid_until is None or on <= self.valid_until:
            self.check(code, province, on=on)
            return code, None
        if code in self.districts:
            raise MappingRejected(f"district {code!r} was abolished on 1 July 2025; its communes report directly")
        t = transition()
        if code == province:
            new_provinces = {
                s.province for c, (p, _) in self.communes.items() if p == province for s in t.successors(c)
            }
            if len(new_provinces) != 1:
                raise MappingRejected(f"province {code!r} was split or merged into {sorted(new_provinces)}")
            return new_provinces.pop(), code
        successors = t.successors(code)
        if not successors:
            raise MappingRejected(f"unit code {code!r} is not a commune of the pre-reform list")
        if any(s.split for s in successors):
            default = next((s.code for s in successors if s.default), successors[0].code)
            raise MappingRejected(
                f"commune {code!r} was divided among {', '.join(s.code for s in successors)} (mostly {default}) on "
                "1 July 2025: an operator must decide how to attribute its value"
            )
        return successors[0].code, code

    def check(self, code: str, province: str, *, on: date) -> None:
        from mappings.indicators import MappingRejected

        if self.valid_until is not None and code in self.districts:
            return
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
    if code_list == "PRE-2025":
        return _pre_reform()
    if code_list != "QD19-2025":
        raise UnknownAdminUnit(f"unknown administrative code list {code_list!r}; known: QD19-2025, PRE-2025")
    provinces, communes = _current_list()
    return AdminUnits(code_list, REFORM_DATE, provinces, communes)


def _current_list() -> tuple[frozenset[str], dict[str, tuple[str, str]]]:
    """The QD19-2025 provinces and communes, read from the JSON file ``vietnam-provinces`` ships
    beside its code (``NESTED_DIVISIONS_JSON_PATH``), without importing the package: its Python form
    is a 3,321-member ``IntEnum`` and as many objects built at import, about a tenth of a second of
    every ingest's start-up (issue 19); the JSON is the same data (tested equal) and reads in a
    fiftieth of that. The package's objects are the fallback should a release stop shipping the file."""
    import importlib.util
    import json

    spec = importlib.util.find_spec("vietnam_provinces")  # finds the package; does not import it
    if spec is not None and spec.origin is not None:
        data = Path(spec.origin).parent / "data" / "nested-divisions.json"
        try:
            divisions = json.loads(data.read_bytes())
        except FileNotFoundError:
            pass
        else:
            return (
                frozenset(f"{int(p['code']):02d}" for p in divisions),
                {f"{int(w['code']):05d}": (f"{int(p['code']):02d}", w["name"]) for p in divisions for w in p["wards"]},
            )
    return _current_list_from_objects()


def _current_list_from_objects() -> tuple[frozenset[str], dict[str, tuple[str, str]]]:
    from vietnam_provinces import Province, Ward

    provinces = frozenset(f"{int(p.code):02d}" for p in Province.iter_all())
    communes = {f"{int(w.code):05d}": (f"{int(w.province_code):02d}", w.name) for w in Ward.iter_all()}
    return provinces, communes


TRANSITION_FILE = Path(str(files("mappings").joinpath("admin", "transition-2025-07-01.csv")))


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


def _pre_reform() -> AdminUnits:
    """The 63-province list (communes and districts) as the transition table knows it."""
    import csv

    communes: dict[str, tuple[str, str]] = {}
    districts: set[str] = set()
    provinces: set[str] = set()
    with TRANSITION_FILE.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            communes[row["old_ward"]] = (row["old_province"], row["old_name"].rsplit(" / ", 1)[-1])
            districts.add(row["old_district"])
            provinces.add(row["old_province"])
    return AdminUnits(
        "PRE-2025",
        date(1900, 1, 1),
        frozenset(provinces),
        communes,
        valid_until=REFORM_DATE - timedelta(days=1),
        districts=frozenset(districts),
    )
