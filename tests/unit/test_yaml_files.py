"""The project reads YAML with libyaml's C parser when PyYAML has it (``mappings.yaml_files``, issue 19:
the pure-Python loader was a measurable part of a command's start-up). The two loaders must read every
YAML file the project ships (mappings, layouts, regimes, calendars, catalogues, deployment files) to
the same data, and refuse the same broken text."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mappings import yaml_files

ROOT = Path(__file__).resolve().parents[2]


def shipped() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed]


def test_the_c_parser_is_what_the_project_uses() -> None:
    assert yaml.__with_libyaml__, "PyYAML without libyaml: every mapping is parsed in pure Python"
    assert yaml_files.SAFE_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("path", shipped(), ids=lambda p: str(p.relative_to(ROOT)))
def test_both_loaders_read_every_shipped_file_alike(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    documents = list(yaml.safe_load_all(text))
    assert documents == list(yaml.load_all(text, Loader=yaml_files.SAFE_LOADER))
    if len(documents) == 1:
        assert yaml_files.safe_load(text) == documents[0]


@pytest.mark.parametrize(
    "text",
    ["a: [1, 2", "a: b: c", "!!python/object:os.system {}", "a: &x 1\nb: *y", "\tkey: value"],
    ids=["unclosed", "nested-colon", "python-tag", "unknown-alias", "tab"],
)
def test_both_loaders_refuse_the_same_text(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):
        yaml_files.safe_load(text)


def test_values_keep_their_types_as_yaml_1_1_reads_them() -> None:
    text = "code: 015\nday: 2026-10-14\nyes_word: yes\nnumber: 1.50\nname: Lào Cai\n"
    assert yaml_files.safe_load(text) == yaml.safe_load(text)
