"""The 2025 administrative reform as a dated code mapping: merges summed, divided communes flagged,
old and new codes never confused (most new codes reuse an old code for a different territory)."""

from __future__ import annotations

from decimal import Decimal

from mappings.admin_units import REFORM_DATE, admin_units, transition


def test_the_table_covers_the_old_list_and_reaches_the_new_one() -> None:
    t = transition()
    assert t.effective == REFORM_DATE
    assert len(t.successors_of) >= 10_030  # of 10,040 pre-reform communes
    reached = {s.code for successors in t.successors_of.values() for s in successors}
    new = admin_units("QD19-2025").communes
    assert len(reached) >= 3_300
    # The two maintained datasets disagree on some new codes; ours wins by province and name, and
    # what still does not match is a handful, visible here rather than silently wrong.
    assert len(reached - set(new)) <= 5, sorted(reached - set(new))


def test_codes_are_reused_for_different_territories() -> None:
    t = transition()
    reused = [code for code in admin_units("QD19-2025").communes if code in t.successors_of]
    assert len(reused) > 3_000  # the same code before and after the reform ...
    assert t.successors("00004")[0].code == "00004"  # old Trúc Bạch ward lies in the new Ba Đình ward
    assert t.successors("00001")[0].code != "00001"  # ... but old Phúc Xá is now part of Hồng Hà (00097)


def test_merged_communes_are_summed_into_their_new_commune() -> None:
    # Lào Cai city's wards Duyên Hải, Lào Cai and Cốc Lếu became Phường Lào Cai (02647).
    result = transition().reaggregate({"02635": Decimal("10.5"), "02641": Decimal("20"), "02644": Decimal("1.25")})
    assert result.totals == {"02647": Decimal("31.75")}
    assert result.sources == {"02647": ["02635", "02641", "02644"]}
    assert result.split == {} and result.unknown == []


def test_divided_communes_are_flagged_not_guessed() -> None:
    t = transition()
    divided = next(code for code, successors in sorted(t.successors_of.items()) if len(successors) > 1)
    result = t.reaggregate({divided: Decimal(100), "99999": Decimal(1)})
    assert divided in result.split and result.totals == {}
    assert sum(s.default for s in result.split[divided]) == 1  # where most of it went, for the operator
    assert result.unknown == ["99999"]
