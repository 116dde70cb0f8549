"""A regime the Government sends becomes a draft an admin accepts; the province's own ``lead_days`` is
kept in it. When the new deadline leaves less room than that, the draft breaks a rule of regimes (a
push date inside the data window): it is refused as input, naming the file, never a 500 (the rule
raised a configuration error the inbox did not expect). The draft is written here by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import InputError
from gateway.regimes_inbox import _check_draft

DRAFT = """code: "KTXH-THANG"
name: "Báo cáo tình hình kinh tế - xã hội hằng tháng"
regime_type: "DINH_KY"
frequency: "THANG"
cutoff: {{start_day: 15, end_day: 14}}
deadline: {{day_of_month: 18}}
destinations: ["national"]
forms: ["BM01-KT", "BM02-XH"]
lead_days: {lead}
start: 2026-01-01
"""


def test_a_draft_whose_kept_lead_time_reaches_into_the_window_is_refused_as_input(tmp_path: Path) -> None:
    target = tmp_path / "regimes" / "KTXH-THANG.yaml"
    _check_draft("regime", DRAFT.format(lead=2), target)  # the 16th: after the window, fine
    with pytest.raises(InputError, match="lead_days") as refused:
        _check_draft("regime", DRAFT.format(lead=10), target)  # the 8th: inside the window ending the 14th
    assert str(target) in str(refused.value)
