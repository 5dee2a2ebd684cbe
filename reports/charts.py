"""Charts as server-side SVG: the pages and the PDF reports use the same functions.

Each function returns SVG markup (no script, no external resource) with
``role="img"`` and a ``<title>``/``<desc>`` named by ``aria-labelledby``. The
page must still show the figures as text or a table next to the chart: a
picture alone fails WCAG 1.1.1 for those who cannot see it, and colour alone
fails 1.4.1. Every label comes from synced data and is escaped here.

Colours are U.S. Web Design System tokens with at least 3:1 contrast against
white (WCAG 1.4.11); segments are separated by white gaps, so neighbouring
colours need not contrast with each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

INK = "#1b1b1b"
GRID = "#a9aeb1"
FONT = "Source Sans Pro Web, Helvetica Neue, Helvetica, Roboto, Arial, sans-serif"

COMPLIANT = "#00752d"  # green-cool-60v, 5.9:1 on white
NON_COMPLIANT = "#b50909"  # red-60v, 7.0:1
ERROR = "#565c65"  # gray-cool-60, 6.7:1
NOT_ASSESSED = "#71767a"  # gray-50, 4.6:1

RISK_COLOURS = {
    "none": "#00752d",
    "low": "#005ea2",  # blue-60v, 6.7:1
    "medium": "#c05600",  # orange-50v, 4.6:1
    "high": "#b50909",
    "critical": "#5c1111",  # red-80, 13.6:1
}


@dataclass(frozen=True)
class Series:
    name: str
    colour: str


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open(chart_id: str, title: str, description: str, width: int, height: int) -> list[str]:
    safe_id = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="govdash-chart" role="img" '
        f'aria-labelledby="{safe_id}-title {safe_id}-desc" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" '
        f'font-family="{FONT}" font-size="13" fill="{INK}">',
        f'<title id="{safe_id}-title">{escape(title)}</title>',
        f'<desc id="{safe_id}-desc">{escape(description)}</desc>',
    ]


def _legend(series: Sequence[Series], x: float) -> list[str]:
    parts = []
    for item in series:
        parts.append(
            f'<rect x="{x}" y="4" width="14" height="14" fill="{escape(item.colour)}"/>'
            f'<text x="{x + 20}" y="16">{escape(item.name)}</text>'
        )
        x += 28 + 8 * len(item.name)
    return parts


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[tuple[str, float]],
    colour: str = "#005ea2",
    unit: str = "",
    max_value: float | None = None,
    width: int = 560,
) -> SafeString:
    """Horizontal bars, one per (label, value), the value written at the end."""
    row, label_w, value_w, top = 26, 190, 70, 8
    height = top * 2 + row * max(len(bars), 1)
    scale_max = max_value or _nice_max(max((v for _, v in bars), default=0))
    plot_w = width - label_w - value_w
    parts = _open(chart_id, title, description, width, height)
    if not bars:
        parts.append(f'<text x="0" y="{top + 17}">No data</text>')
    for i, (label, value) in enumerate(bars):
        y = top + i * row
        length = 0 if scale_max <= 0 else max(0.0, plot_w * value / scale_max)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(_short(label))}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" '
            f'fill="{escape(colour)}"/>'
        )
        parts.append(
            f'<text x="{label_w + length + 6:.1f}" y="{y + 17}">{_num(value)}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def stacked_bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    series: Sequence[Series],
    rows: Sequence[tuple[str, Sequence[int]]],
    width: int = 560,
) -> SafeString:
    """One 100 % bar per (label, counts-per-series), the total written at the end,
    with a legend: e.g. compliant / non-compliant / error per source."""
    row, label_w, value_w, legend_h = 26, 190, 80, 26
    height = legend_h + 8 + row * max(len(rows), 1)
    plot_w = width - label_w - value_w
    parts = _open(chart_id, title, description, width, height)
    parts += _legend(series, 0)
    if not rows:
        parts.append(f'<text x="0" y="{legend_h + 25}">No data</text>')
    for i, (label, counts) in enumerate(rows):
        y = legend_h + 4 + i * row
        total = sum(counts)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(_short(label))}</text>'
        )
        offset = 0.0
        for item, count in zip(series, counts, strict=False):
            if not total or not count:
                continue
            length = plot_w * count / total
            parts.append(
                f'<rect x="{label_w + offset:.1f}" y="{y + 4}" width="{length:.1f}" '
                f'height="{row - 8}" fill="{escape(item.colour)}" stroke="#fff" stroke-width="1"/>'
            )
            offset += length
        parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + 17}">{total:,}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def trend_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[tuple[Series, Sequence[int]]],
    width: int = 640,
    height: int = 240,
) -> SafeString:
    """A line per series over the labelled periods (e.g. weeks), with a y axis."""
    left, right, top, bottom = 48, 12, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((max(values, default=0) for _, values in series), default=0)
    scale_max = _nice_max(peak)
    parts = _open(chart_id, title, description, width, height)
    parts += _legend([item for item, _ in series], left)
    for tick in range(5):
        value = scale_max * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_num(value)}</text>'
        )
    count = len(labels)
    if not count:
        parts.append(f'<text x="{left + 8}" y="{top + plot_h / 2:.0f}">No data</text>')

    def x_of(i: int) -> float:
        return left + (plot_w / 2 if count == 1 else plot_w * i / (count - 1))

    every = max(1, math.ceil(count / 8))
    for i, label in enumerate(labels):
        if i % every == 0 or i == count - 1:
            parts.append(
                f'<text x="{x_of(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    for item, values in series:
        points = [
            (x_of(i), top + plot_h - plot_h * value / scale_max) for i, value in enumerate(values)
        ]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{escape(item.colour)}" '
                f'stroke-width="2.5"/>'
            )
        for px, py in points:
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{escape(item.colour)}"/>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def donut_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    segments: Sequence[tuple[str, int, str]],
    centre_label: str = "",
    size: int = 220,
) -> SafeString:
    """A ring of (label, count, colour) segments with a legend at the side."""
    legend_w = 200
    width, height = size + legend_w, max(size, 24 * len(segments) + 16)
    radius, stroke = size / 2 - 22, 34
    cx, cy = size / 2, size / 2
    circumference = 2 * math.pi * radius
    total = sum(count for _, count, _ in segments)
    parts = _open(chart_id, title, description, width, height)
    parts.append(
        f'<circle cx="{cx}" cy="{cy}" r="{radius:.2f}" fill="none" stroke="#dfe1e2" '
        f'stroke-width="{stroke}"/>'
    )
    offset = 0.0
    for _label, count, colour in segments:
        if not total or not count:
            continue
        length = circumference * count / total
        gap = 2 if count != total else 0
        parts.append(
            f'<circle cx="{cx}" cy="{cy}" r="{radius:.2f}" fill="none" '
            f'stroke="{escape(colour)}" stroke-width="{stroke}" '
            f'stroke-dasharray="{max(length - gap, 0.5):.2f} {circumference:.2f}" '
            f'stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {cx} {cy})"/>'
        )
        offset += length
    parts.append(
        f'<text x="{cx}" y="{cy + 2}" text-anchor="middle" font-size="22" font-weight="700">'
        f"{total:,}</text>"
    )
    if centre_label:
        parts.append(
            f'<text x="{cx}" y="{cy + 20}" text-anchor="middle">{escape(centre_label)}</text>'
        )
    for i, (label, count, colour) in enumerate(segments):
        y = 16 + i * 24
        parts.append(
            f'<rect x="{size + 8}" y="{y - 12}" width="14" height="14" fill="{escape(colour)}"/>'
            f'<text x="{size + 28}" y="{y}">{escape(label)}: {count:,}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
