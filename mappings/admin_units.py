"""Administrative-unit codes, always with the code list they belong to.

After 1 July 2025 (Decision 19/2025/QĐ-TTg) there are 34 provinces and 3,321 communes, and most new
commune codes reuse an old code for a different territory, so a code is meaningless without its list.
The current list comes from the maintained ``vietnam-provinces`` package (``QD19-2025``). The old list
and the old-to-new transition table arrive with the administrative-reform work (issue 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

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
