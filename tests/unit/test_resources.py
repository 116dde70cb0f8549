"""Shipped data is found through importlib.resources, and an operator's copy takes precedence.

The wheel itself is checked by ops/ci/wheel.sh (built, installed in a clean venv outside the tree on
Python 3.11 and 3.13, demo run there); these tests pin down the search path the code uses.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import resources
from gateway.calendar import default_calendar
from gateway.calendar.regimes import all_regimes, load_regime
from gateway.errors import ConfigurationError
from gateway.packets.profile import load_profile
from gateway.settings import load_settings


@pytest.fixture(autouse=True)
def _bundled_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    resources.reset()
    yield
    resources.reset()


def test_every_kind_resolves_to_a_folder_of_the_installed_packages() -> None:
    for kind in resources.KINDS:
        folder = resources.bundled(kind)
        assert folder.is_dir(), (kind, folder)
    assert (resources.bundled("admin") / "transition-2025-07-01.csv").is_file()
    assert (resources.bundled("examples") / "lao-cai-ktxh-2026.xlsx").is_file()
    assert (resources.bundled("profiles") / "qcvn125-gw-0" / "profile.json").is_file()


def _profile_copy(target: Path, profile_id: str) -> None:
    source = resources.bundled("profiles") / "qcvn125-gw-0"
    folder = target / profile_id.replace("/", "-")
    shutil.copytree(source, folder)
    raw = json.loads((folder / "profile.json").read_text(encoding="utf-8"))
    raw["id"] = profile_id
    raw["title"] = "an operator's profile"
    (folder / "profile.json").write_text(json.dumps(raw), encoding="utf-8")


def test_a_profile_in_the_data_dir_is_found_and_the_shipped_ones_still_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    with pytest.raises(
        ConfigurationError, match=r"unknown packet profile 'province/1'.*known profiles: \['qcvn125-gw-0'\]"
    ):
        load_profile("province/1")
    _profile_copy(tmp_path / "profiles", "province/1")
    load_settings()
    assert load_profile("province/1").title == "an operator's profile"
    assert load_profile("qcvn125-gw/0").directory.parent == resources.bundled("profiles")


def test_a_configured_regimes_dir_overrides_a_shipped_regime_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = load_regime("KTXH-THANG")
    mine = tmp_path / "my-regimes"
    mine.mkdir()
    text = (resources.bundled("regimes") / "KTXH-THANG.yaml").read_text(encoding="utf-8")
    assert f'name: "{shipped.name}"' in text
    (mine / "KTXH-THANG.yaml").write_text(text.replace(f'name: "{shipped.name}"', "name: Tỉnh tự định nghĩa"), "utf-8")
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_RESOURCES__REGIMES_DIR", str(mine))
    load_settings()
    assert load_regime("KTXH-THANG").name == "Tỉnh tự định nghĩa"
    assert {r.code for r in all_regimes()} == {"KTXH-THANG", "KTXH-QUY"}  # the other shipped regime is kept
    with pytest.raises(
        ConfigurationError, match=r"unknown regime 'NOPE'.*my-regimes.*known: \['KTXH-QUY', 'KTXH-THANG'\]"
    ):
        load_regime("NOPE")


def test_a_configured_folder_that_does_not_exist_is_an_error_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_RESOURCES__PROFILES_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match=r"resources.profiles_dir: .*missing is not a folder"):
        load_settings()


def test_holiday_overrides_in_the_data_dir_replace_the_shipped_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    monday = date(2027, 3, 8)
    assert default_calendar().is_working_day(monday)
    (tmp_path / "calendar").mkdir()
    (tmp_path / "calendar" / "overrides.yaml").write_text("days_off:\n  - date: 2027-03-08\n", encoding="utf-8")
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    load_settings()
    assert not default_calendar().is_working_day(monday)


def test_templates_and_outlines_in_configured_folders_are_found_before_the_shipped_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[resources] templates_dir`` and ``outlines_dir`` were read from the configuration but the
    template and outline loaders looked only beside their own source files (found by review)."""
    from adapters.template_spec import resolve
    from gateway.reports.narrative import load_outline

    shipped_template = resolve("bieu01-ktxh.yaml")
    assert shipped_template.parent == resources.bundled("templates")
    with pytest.raises(ConfigurationError, match=r"unknown outline 'DC-TINH'"):
        load_outline("DC-TINH")

    templates, outlines = tmp_path / "my-templates", tmp_path / "my-outlines"
    templates.mkdir()
    outlines.mkdir()
    (templates / "bieu01-ktxh.yaml").write_text(shipped_template.read_text(encoding="utf-8"), "utf-8")
    shipped_outline = (resources.bundled("outlines") / "DC-KTXH-THANG.yaml").read_text(encoding="utf-8")
    (outlines / "DC-TINH.yaml").write_text(shipped_outline.replace("DC-KTXH-THANG", "DC-TINH"), "utf-8")
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_RESOURCES__TEMPLATES_DIR", str(templates))
    monkeypatch.setenv("GATEWAY_RESOURCES__OUTLINES_DIR", str(outlines))
    load_settings()
    load_outline.cache_clear()
    assert resolve("bieu01-ktxh.yaml") == templates / "bieu01-ktxh.yaml"
    assert resolve("ds-du-an-dau-tu.yaml").parent == resources.bundled("templates")  # others still shipped
    assert load_outline("DC-TINH").code == "DC-TINH"
    assert load_outline("DC-KTXH-THANG").code == "DC-KTXH-THANG"
