"""Generate the bundled sample data: Lào Cai's monthly socio-economic reports, November 2025 to October 2026.

The province, its communes and their codes are the real post-1-July-2025 ones (from the maintained
``vietnam-provinces`` package, code list QD19-2025); the figures are synthetic but plausible, and
deterministic (seeded), so the committed workbook is reproducible:

    python examples/generate_samples.py            # writes examples/lao-cai-ktxh-2026.xlsx

The workbook follows the layout provinces use for "Biểu 01/KTXH": title rows with merged cells, a
header row of commune names, a row of commune codes, then one indicator per row (STT, code, name,
unit, province total, one column per commune). It holds, on purpose, what real files hold: blank
cells (a commune that did not report), one non-numeric cell and one indicator the mapping does not
know, so the demo shows quarantine working.
"""

from __future__ import annotations

import random
import sys
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

PROVINCE_CODE = "15"
PROVINCE_NAME = "Tỉnh Lào Cai"
# A year of monthly reports: November 2025 to October 2026, the twelve months closed by November 2026
# (all after the 1 July 2025 reform, so the post-reform commune codes apply throughout).
PERIODS = [(2025, 11), (2025, 12)] + [(2026, m) for m in range(1, 11)]
COMMUNES = 20

# code, name, unit, per-commune base, decimals
INDICATORS: list[tuple[str, str, str, float, int]] = [
    ("T0201", "Dân số trung bình", "người", 8500, 0),
    ("T0203", "Mật độ dân số", "người/km2", 95, 1),
    ("T0301", "Số lao động được tạo việc làm mới", "người", 40, 0),
    ("T0302", "Số người được đào tạo nghề", "người", 25, 0),
    ("T0401", "Chỉ số sản xuất công nghiệp so với cùng kỳ", "%", 108, 2),
    ("T0501", "Tổng mức bán lẻ hàng hóa và doanh thu dịch vụ tiêu dùng", "triệu đồng", 42000, 1),
    ("T0502", "Doanh thu dịch vụ lưu trú và ăn uống", "triệu đồng", 6500, 1),
    ("T0601", "Vốn đầu tư thực hiện từ nguồn ngân sách nhà nước", "triệu đồng", 15000, 1),
    ("T0602", "Số dự án đầu tư được cấp chủ trương", "dự án", 1, 0),
    ("T0701", "Thu ngân sách nhà nước trên địa bàn", "triệu đồng", 9000, 1),
    ("T0702", "Chi ngân sách địa phương", "triệu đồng", 11000, 1),
    ("T0801", "Kim ngạch xuất khẩu", "nghìn USD", 1200, 1),
    ("T0802", "Kim ngạch nhập khẩu", "nghìn USD", 900, 1),
    ("T0901", "Số doanh nghiệp thành lập mới", "doanh nghiệp", 2, 0),
    ("T0902", "Số doanh nghiệp quay trở lại hoạt động", "doanh nghiệp", 1, 0),
    ("T1001", "Diện tích gieo trồng lúa", "ha", 320, 1),
    ("T1002", "Sản lượng lương thực có hạt", "tấn", 1100, 1),
    ("T1003", "Tổng đàn lợn", "con", 6200, 0),
    ("T1004", "Diện tích rừng trồng mới", "ha", 35, 1),
    ("T1005", "Tỷ lệ che phủ rừng", "%", 60, 2),
    ("T1101", "Số lượt khách du lịch", "lượt người", 21000, 0),
    ("T1102", "Doanh thu du lịch", "triệu đồng", 48000, 1),
    ("T1201", "Số hộ nghèo", "hộ", 260, 0),
    ("T1202", "Số hộ cận nghèo", "hộ", 180, 0),
    ("T1301", "Số học sinh phổ thông", "học sinh", 1700, 0),
    ("T1401", "Tỷ lệ dân số tham gia bảo hiểm y tế", "%", 95, 2),
    ("T1402", "Số ca mắc sốt xuất huyết", "ca", 2, 0),
    ("T1501", "Số thuê bao internet băng rộng cố định", "thuê bao", 1900, 0),
    ("T1601", "Số hồ sơ thủ tục hành chính giải quyết trực tuyến", "hồ sơ", 950, 0),
    ("T1701", "Số vụ tai nạn giao thông", "vụ", 1, 0),
    ("T1702", "Số người chết do tai nạn giao thông", "người", 1, 0),
    ("T1801", "Số vụ cháy, nổ", "vụ", 1, 0),
]
UNMAPPED = ("T9901", "Số sáng kiến cải cách hành chính (chỉ tiêu riêng của tỉnh)", "hồ sơ", 3, 0)


def communes() -> list[tuple[str, str]]:
    from vietnam_provinces import Ward

    rows = sorted((f"{int(w.code):05d}", w.name) for w in Ward.iter_all() if int(w.province_code) == int(PROVINCE_CODE))
    return rows[:COMMUNES]


def figure(rng: random.Random, base: float, decimals: int, month: int) -> float | int:
    seasonal = 1 + 0.04 * ((month % 12) - 6) / 6
    value = Decimal(str(base * seasonal * rng.uniform(0.6, 1.4))).quantize(Decimal(1).scaleb(-decimals))
    return int(value) if decimals == 0 else float(value)


def build(path: Path) -> Path:
    rng = random.Random(20261122)
    units = communes()
    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for year, month in PERIODS:
        ws = wb.create_sheet(f"T{month:02d}-{year}")
        last_col = 5 + len(units)
        ws.cell(1, 1, "ỦY BAN NHÂN DÂN TỈNH LÀO CAI").font = bold
        ws.cell(2, 1, "Biểu 01/KTXH: MỘT SỐ CHỈ TIÊU KINH TẾ - XÃ HỘI CHỦ YẾU").font = bold
        ws.cell(3, 1, f"Tháng {month} năm {year}")
        ws.cell(4, 1, "(Số liệu do các xã, phường tổng hợp; đơn vị tính ghi theo từng chỉ tiêu)")
        for r in range(1, 5):
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=min(last_col, 12))
            ws.cell(r, 1).alignment = Alignment(horizontal="center")
        headers = ["STT", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Toàn tỉnh"] + [n for _, n in units]
        for c, h in enumerate(headers, start=1):
            cell = ws.cell(6, c, h)
            cell.font, cell.fill = bold, fill
        codes = ["", "", "", "", PROVINCE_CODE] + [code for code, _ in units]
        for c, code in enumerate(codes, start=1):
            ws.cell(7, c, code or None)
        rows = list(INDICATORS) + ([UNMAPPED] if (year, month) == PERIODS[-1] else [])
        for i, (code, name, unit, base, decimals) in enumerate(rows, start=1):
            r = 7 + i
            ws.cell(r, 1, i)
            ws.cell(r, 2, code)
            ws.cell(r, 3, name)
            ws.cell(r, 4, unit)
            per_commune = []
            for j, (_commune, _) in enumerate(units):
                if (i * 7 + j * 3 + month) % 97 == 0:
                    continue  # this commune did not report this figure: a blank cell
                value = figure(rng, base, decimals, month)
                per_commune.append(value)
                ws.cell(r, 6 + j, value)
            if unit == "%" or unit == "người/km2":
                total: float | int = round(sum(per_commune) / max(len(per_commune), 1), decimals)
            else:
                total = round(sum(per_commune), decimals) if decimals else int(sum(per_commune))
            ws.cell(r, 5, total)
        if (year, month) == (2026, 8):
            ws.cell(8 + 3, 6 + 4, "chưa có số liệu")  # a non-numeric value, as real workbooks have
        ws.freeze_panes = "F8"
        ws.column_dimensions["C"].width = 48
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def records(rng: random.Random) -> list[list[str]]:
    """The same kind of figures, one value per row, as older systems export them."""
    rows = []
    for year, month in PERIODS:
        for code, name, unit, base, decimals in INDICATORS:
            for commune, _ in communes():
                rows.append(
                    [code, name, unit, f"{year}-THANG-{month}", commune, str(figure(rng, base, decimals, month))]
                )
    return rows


def build_exports(directory: Path) -> list[Path]:
    """CSV (UTF-8), CSV with TCVN3 text as old Windows-1258 systems wrote it, and a JSON API fixture."""
    import csv
    import io
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from adapters.legacy_text import encode_legacy

    rows = records(random.Random(20261123))
    header = ["ma_chi_tieu", "ten_chi_tieu", "don_vi_tinh", "ky", "ma_dvhc", "gia_tri"]
    out = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    utf8 = directory / "lao-cai-ktxh-2026.csv"
    utf8.write_text(buffer.getvalue(), encoding="utf-8")
    legacy = directory / "lao-cai-ktxh-2026-tcvn3.csv"
    legacy.write_bytes(encode_legacy(buffer.getvalue(), "tcvn3").encode("latin-1"))
    api = directory / "provincial-api"
    api.mkdir(exist_ok=True)
    page_size = 1000
    items = [dict(zip(header, r, strict=True)) | {"id": f"LC-{i:06d}"} for i, r in enumerate(rows)]
    pages = [items[i : i + page_size] for i in range(0, len(items), page_size)]
    for n, chunk in enumerate(pages, start=1):
        page = api / f"page-{n:03d}.json"
        nxt = f"page-{n + 1:03d}.json" if n < len(pages) else None
        page.write_text(
            json.dumps({"items": chunk, "next": nxt}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        out.append(page)
    return [utf8, legacy, *out]


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "lao-cai-ktxh-2026.xlsx"
    print(build(target))
    for path in build_exports(here):
        print(path)
