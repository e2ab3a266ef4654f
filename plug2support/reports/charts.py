"""The reports' charts, drawn on the server as inline SVG (no script, no build step). Each is
`role="img"` with a label that says what it shows; the page puts its table a click away.
Colours are CSS custom properties, so the dark theme recolours them."""

from __future__ import annotations

from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _joined(parts: list[SafeString]) -> SafeString:
    """Pieces each built by format_html (so already escaped), as one."""
    return format_html_join("", "{}", ((part,) for part in parts))


def _nice(top: int) -> int:
    """A round axis maximum at or above `top` (1, 2, 5 × 10ⁿ)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= top:
                return step * factor
        step *= 10


def bars(daily: list[tuple[date, int, int]], label: str) -> SafeString:
    """Created and resolved per day, side by side."""
    width, height, left, bottom = 720, 220, 36, 28
    plot_w, plot_h = width - left - 8, height - bottom - 12
    top = _nice(max([1] + [max(c, r) for _, c, r in daily]))
    slot = plot_w / max(len(daily), 1)
    bar = max(min(slot * 0.38, 18), 1.5)
    parts = []
    for tick in (0, top // 2, top) if top > 1 else (0, top):
        y = 12 + plot_h - plot_h * tick / top
        parts.append(format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
            '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>',
            left, width - 8, round(y, 1), round(y, 1), left - 6, round(y + 4, 1), tick))
    every = max(1, len(daily) // 8)
    for i, (day, created, resolved) in enumerate(daily):
        x = left + i * slot + slot / 2
        for value, offset, css in ((created, -bar, "created"), (resolved, 0, "resolved")):
            h = plot_h * value / top
            parts.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" class="{}"><title>{}: {} {}</title>'
                '</rect>', round(x + offset, 1), round(12 + plot_h - h, 1), round(bar, 1),
                round(h, 1), css, day.isoformat(), value, css))
        if i % every == 0:
            parts.append(format_html('<text x="{}" y="{}" class="axis" text-anchor="middle">{}'
                                     '</text>', round(x, 1), height - 8, day.strftime("%d %b")))
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'preserveAspectRatio="xMidYMid meet">{}</svg>', width, height, label,
        _joined(parts))


def heat_map(heat: list[list[int]], label: str) -> SafeString:
    """Conversations created by weekday × hour, darker for more."""
    cell, left, top_pad = 18, 34, 16
    width, height = left + 24 * cell + 4, top_pad + 7 * cell + 4
    peak = max([1] + [value for row in heat for value in row])
    parts = [format_html('<text x="{}" y="12" class="axis" text-anchor="middle">{}</text>',
                         left + hour * cell + cell / 2, f"{hour:02d}")
             for hour in range(0, 24, 3)]
    parts.append(format_html('<text x="{}" y="12" class="axis" text-anchor="end">{}</text>',
                             width - 2, "23"))
    for day, row in enumerate(heat):
        parts.append(format_html('<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>',
                                 left - 6, top_pad + day * cell + cell * 0.65, WEEKDAYS[day]))
        for hour, value in enumerate(row):
            level = 0 if not value else 1 + round(4 * value / peak - 0.5)
            parts.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" rx="2" class="heat h{}">'
                '<title>{} {}:00: {}</title></rect>', left + hour * cell + 1,
                top_pad + day * cell + 1, cell - 2, cell - 2, min(level, 5), WEEKDAYS[day],
                f"{hour:02d}", value))
    return format_html('<svg class="chart heat-map" viewBox="0 0 {} {}" role="img" '
                       'aria-label="{}">{}</svg>', width, height, label,
                       _joined(parts))


def score_bars(scores: list[int], label: str) -> SafeString:
    """How many ratings of each score, 1 to 5, as horizontal bars."""
    peak = max([1] + scores)
    rows = format_html_join("", (
        '<text x="0" y="{}" class="axis">{}</text>'
        '<rect x="28" y="{}" width="{}" height="16" rx="3" class="score s{}"/>'
        '<text x="{}" y="{}" class="axis">{}</text>'), (
        (i * 24 + 14, i + 1, i * 24 + 2, round(260 * value / peak, 1), i + 1,
         round(34 + 260 * value / peak, 1), i * 24 + 14, value)
        for i, value in enumerate(scores)))
    return format_html('<svg class="chart scores" viewBox="0 0 340 122" role="img" '
                       'aria-label="{}">{}</svg>', label, rows)
