"""``gateway mapping check``: every problem in a mapping file, with its line.

Finds: YAML errors, fields the format does not define, duplicate keys (YAML itself would keep the
last one silently), forms that are not declared, units the gateway does not know, incompatible
units (no exact conversion), and conflicting rules (two provincial indicators feeding one national
indicator of one form in different units). The format's JSON Schema is
``mappings/schema/indicator-mapping.schema.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mappings import units, yaml_files
from mappings.indicators import MappingFile


@dataclass(frozen=True)
class Finding:
    line: int
    message: str

    def render(self, path: Path) -> str:
        return f"{path}:{self.line}: {self.message}"


class _LineLoader(yaml.SafeLoader):
    """Keeps each key's line and reports duplicate keys instead of silently keeping the last."""

    findings: list[Finding]


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            loader.findings.append(Finding(line, f"duplicate key {key!r} (first at line {seen[key]})"))
        seen[key] = line
    mapping = loader.construct_mapping(node, deep=deep)
    mapping["__lines__"] = seen
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "__lines__"}
    return value


def check_file(path: Path) -> list[Finding]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [Finding(0, f"cannot read: {exc.strerror}")]
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        return [Finding(line, f"not UTF-8 (byte {exc.start}); save the file as UTF-8")]
    loader = _LineLoader(text)
    loader.findings = []
    try:
        raw = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [Finding(mark.line + 1 if mark else 0, yaml_files.yaml_problem(exc).split(": ", 1)[1])]
    finally:
        loader.dispose()
    findings = list(loader.findings)
    if not isinstance(raw, dict):
        return findings + [Finding(1, "a mapping file is a YAML mapping")]
    lines = raw.get("__lines__", {})
    indicators = raw.get("indicators") or {}
    forms = set((raw.get("forms") or {}).keys()) - {"__lines__"}
    targets: dict[tuple[str, str], tuple[str, str, int]] = {}
    for code, rule in indicators.items():
        if code == "__lines__" or not isinstance(rule, dict):
            continue
        line = indicators.get("__lines__", {}).get(code, lines.get("indicators", 0))
        rline = rule.get("__lines__", {})
        if rule.get("form") not in forms:
            findings.append(Finding(rline.get("form", line), f"{code}: form {rule.get('form')!r} is not declared"))
        for key in ("unit", "national_unit"):
            unit = rule.get(key)
            if isinstance(unit, str) and not units.known(unit):
                findings.append(
                    Finding(rline.get(key, line), f"{code}: unknown unit {unit!r} (not in mappings/units.yaml)")
                )
        try:
            if isinstance(rule.get("unit"), str) and isinstance(rule.get("national_unit"), str):
                units.factor(rule["unit"], rule["national_unit"])
        except units.UnitMismatch as exc:
            if "unknown unit" not in str(exc):
                findings.append(Finding(rline.get("national_unit", line), f"{code}: {exc}"))
        target = (str(rule.get("national_code")), str(rule.get("form")))
        if target in targets and targets[target][1] != rule.get("national_unit"):
            other, other_unit, other_line = targets[target]
            findings.append(
                Finding(
                    line,
                    f"{code} and {other} (line {other_line}) both feed {target[0]} in form "
                    f"{target[1]} but in different units ({rule.get('national_unit')!r} vs "
                    f"{other_unit!r})",
                )
            )
        targets.setdefault(target, (code, str(rule.get("national_unit")), line))
    try:
        MappingFile.model_validate(_strip(raw))
    except ValidationError as exc:
        for error in exc.errors():
            loc = [str(p) for p in error["loc"]]
            line = lines.get(loc[0], 0) if loc else 0
            if len(loc) >= 2 and loc[0] == "indicators":
                line = indicators.get("__lines__", {}).get(loc[1], line)
            findings.append(Finding(line, f"{'.'.join(loc)}: {error['msg']}"))
    return sorted(set(findings), key=lambda f: (f.line, f.message))
