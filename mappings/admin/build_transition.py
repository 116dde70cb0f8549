"""Build ``transition-2025-07-01.csv``: every pre-reform commune (63 provinces, 10,040 communes) to the
commune(s) that replaced it on 1 July 2025 (34 provinces, 3,321 communes; Decision 19/2025/QĐ-TTg).

Source: the open dataset shipped in the ``vietnamadminunits`` wheel (its SQLite dataset and its
2025 converter tables). That package pulls geometry libraries we do not need, so this script reads
the data straight from the wheel (``pip download --no-deps vietnamadminunits==1.0.4``) and writes our
own dated table; the gateway never imports it. Decision recorded in docs/decisions/0004.

    python mappings/admin/build_transition.py path/to/vietnamadminunits-1.0.4-py3-none-any.whl
"""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "transition-2025-07-01.csv"
FIELDS = [
    "old_province",
    "old_district",
    "old_ward",
    "old_name",
    "new_province",
    "new_ward",
    "new_name",
    "kind",
    "default",
    "dataset_new_ward",
]


def build(wheel: Path, out: Path = OUT) -> int:
    with zipfile.ZipFile(wheel) as z, tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "dataset.db"
        db_path.write_bytes(z.read("vietnamadminunits/data/dataset.db"))
        converter = json.loads(z.read("vietnamadminunits/data/converter_2025.json"))
        db = sqlite3.connect(db_path)
        old = {
            f"{p}_{d}_{w}": (pc, dc, wc, name)
            for p, d, w, pc, dc, wc, name in db.execute(
                "SELECT provinceKey, districtKey, wardKey, provinceCode, districtCode, wardCode, "
                "province || ' / ' || district || ' / ' || ward FROM admin_units_legacy"
            )
        }
        dataset_new = {
            (p, w): (pc, wc, name)
            for p, w, pc, wc, name in db.execute(
                "SELECT provinceKey, wardKey, provinceCode, wardCode, ward FROM admin_units"
            )
        }
        db.close()
    # The two maintained datasets disagree on some new codes; our current list (vietnam-provinces,
    # the one the gateway validates against) wins, matched by province and name; the dataset's own
    # code is kept in ``dataset_new_ward`` so the disagreement stays visible.
    from vietnam_provinces import Ward

    current = {(f"{int(w.province_code):02d}", w.name): f"{int(w.code):05d}" for w in Ward.iter_all()}
    new = {key: (pc, current.get((pc, name), wc), name, wc) for key, (pc, wc, name) in dataset_new.items()}
    rows = []
    for province, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward, old_keys in wards.items():
            target = new.get((province, ward))
            for key in old_keys:
                if target and key in old:
                    rows.append([*old[key], *target[:3], "merged", "true", target[3]])
    for province, olds in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for key, targets in olds.items():
            for t in targets:
                target = new.get((province, t["newWardKey"]))
                if target and key in old:
                    rows.append(
                        [*old[key], *target[:3], "split", "true" if t["isDefaultNewWard"] else "false", target[3]]
                    )
    rows.sort(key=lambda r: (r[2], r[5]))
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(FIELDS)
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    print(build(Path(sys.argv[1])), "rows written to", OUT)
