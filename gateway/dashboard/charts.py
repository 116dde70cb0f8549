"""Small server-side SVG charts: no JavaScript library, no CDN, readable without scripts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Bar:
    label: str
    ok: int
    failed: int


def stacked_bars(
    bars: list[Bar],
    *,
    title: str,
    ok_label: str,
    failed_label: str,
    height: int = 160,
    number: Callable[[int], str] = str,
) -> str:
    """Successes stacked under failures, one bar per bucket; labels every few bars."""
    width = max(320, 14 * len(bars) + 60)
    top = max((b.ok + b.failed for b in bars), default=0) or 1
    plot = height - 40
    step = (width - 50) / max(1, len(bars))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<text x="40" y="12" class="axis">{escape(number(top))}</text>',
        f'<line x1="40" y1="{plot + 10}" x2="{width - 5}" y2="{plot + 10}" class="axis-line"/>',
    ]
    every = max(1, len(bars) // 8)
    for i, bar in enumerate(bars):
        x = 45 + i * step
        ok_h = plot * bar.ok / top
        fail_h = plot * bar.failed / top
        bar_w = max(2.0, step * 0.7)
        parts.append(
            f'<rect x="{x:.1f}" y="{plot + 10 - ok_h:.1f}" width="{bar_w:.1f}" height="{ok_h:.1f}" class="ok">'
            f"<title>{escape(bar.label)}: {escape(number(bar.ok))} {escape(ok_label)}, "
            f"{escape(number(bar.failed))} {escape(failed_label)}</title></rect>"
        )
        if bar.failed:
            parts.append(
                f'<rect x="{x:.1f}" y="{plot + 10 - ok_h - fail_h:.1f}" width="{bar_w:.1f}" '
                f'height="{fail_h:.1f}" class="failed"><title>{escape(bar.label)}: {escape(number(bar.failed))} '
                f"{escape(failed_label)}</title></rect>"
            )
        if i % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 12}" class="axis">{escape(bar.label)}</text>')
    parts.append(
        f'<rect x="{width - 190}" y="2" width="10" height="10" class="ok"/>'
        f'<text x="{width - 176}" y="11" class="axis">{escape(ok_label)}</text>'
        f'<rect x="{width - 95}" y="2" width="10" height="10" class="failed"/>'
        f'<text x="{width - 81}" y="11" class="axis">{escape(failed_label)}</text></svg>'
    )
    return "".join(parts)


def hbars(items: list[tuple[str, int, str]], *, title: str, number: Callable[[int], str] = str) -> str:
    """Horizontal bars (label, count, css class): the reconciliation summary."""
    top = max((count for _, count, _ in items), default=0) or 1
    row = 22
    height = row * len(items) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 520 {height}" class="chart"><title>{escape(title)}</title>'
    ]
    for i, (label, count, css) in enumerate(items):
        y = 5 + i * row
        length = 300 * count / top
        parts.append(f'<text x="0" y="{y + 14}" class="axis">{escape(label)}</text>')
        parts.append(f'<rect x="170" y="{y}" width="{length:.1f}" height="16" class="{escape(css)}"/>')
        parts.append(f'<text x="{175 + length:.1f}" y="{y + 13}" class="axis">{escape(number(count))}</text>')
    parts.append("</svg>")
    return "".join(parts)
