"""Large provincial sources for tests that need an ingest to take a while (written directly in the
long CSV format an export has, not through the readers under test)."""

from __future__ import annotations

import csv
from pathlib import Path

INDICATORS = [
    ("T0201", "Dân số trung bình", "người"),
    ("T0301", "Số lao động được tạo việc làm mới", "người"),
    ("T0501", "Tổng mức bán lẻ hàng hóa và doanh thu dịch vụ tiêu dùng", "triệu đồng"),
    ("T1101", "Số lượt khách du lịch", "lượt người"),
]
COMMUNES = ["02647", "02674", "02680", "02683", "02686", "02695", "02701", "02707", "02725", "02728"]


def write_long_csv(path: Path, rows: int, *, first_year: int = 2026) -> Path:
    """``rows`` values, month after month from January ``first_year``: 40 per month (4 indicators x
    10 communes of Lào Cai), values made up but deterministic."""
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["ma_chi_tieu", "ten_chi_tieu", "don_vi_tinh", "ky", "ma_dvhc", "gia_tri"])
        n = 0
        month = 0
        while n < rows:
            year, number = first_year + month // 12, month % 12 + 1
            for code, name, unit in INDICATORS:
                for commune in COMMUNES:
                    if n == rows:
                        break
                    out.writerow([code, name, unit, f"{year}-THANG-{number}", commune, (n * 7919) % 100_000])
                    n += 1
            month += 1
    return path


def reports_in(rows: int) -> int:
    """How many reports (form x month) a ``write_long_csv`` source of ``rows`` values makes: T0201
    and T0301 are form BM02-XH, T0501 and T1101 form BM01-KT; 40 values per month."""
    months, rest = divmod(rows, 40)
    return 2 * months + (0 if rest == 0 else 1 if rest <= 20 else 2)
