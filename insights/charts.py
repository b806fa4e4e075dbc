"""Daily series drawn on the server as SVG: no script, no CDN, no inline style (colours are classes)."""

import datetime

from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


def _n(value: float) -> str:
    return f"{value:.1f}"


def _scale(values: list[int]) -> int:
    top = max([1, *values])
    step = 10 ** max(len(str(top)) - 1, 0)
    return ((top + step - 1) // step) * step


def chart(
    *, title: str, dates: list[datetime.date], series: list[tuple[str, str, list[int]]], kind: str = "bars"
) -> SafeString:
    """``series``: (label, css class, values). Bars side by side per day, or lines."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _scale([v for _, _, values in series for v in values])
    n = max(len(dates), 1)
    slot = plot_w / n

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = []
    # Grid and y labels: 0, half, top.
    for value in (0, top // 2, top):
        parts.append(
            format_html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                _n(y(value)),
                _n(y(value)),
                LEFT - 6,
                _n(y(value) + 4),
                f"{value:,}".replace(",", "\u202f"),
            )
        )
    # X labels: first, middle and last day.
    for index in sorted({0, (n - 1) // 2, n - 1}):
        if index < len(dates):
            parts.append(
                format_html(
                    '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                    _n(LEFT + slot * (index + 0.5)),
                    HEIGHT - 8,
                    date_format(dates[index], "SHORT_DATE_FORMAT"),
                )
            )
    if kind == "bars":
        width = max(slot / (len(series) + 1), 1)
        for s_index, (label, css, values) in enumerate(series):
            for d_index, value in enumerate(values):
                x = LEFT + slot * d_index + width * (s_index + 0.5)
                parts.append(
                    format_html(
                        '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}: {} ({})</title></rect>',
                        css,
                        _n(x),
                        _n(y(value)),
                        _n(width),
                        _n(TOP + plot_h - y(value)),
                        date_format(dates[d_index], "DATE_FORMAT"),
                        value,
                        label,
                    )
                )
    else:
        for label, css, values in series:
            points = " ".join(f"{LEFT + slot * (i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(values))
            parts.append(
                format_html('<polyline class="{}" points="{}"><title>{}</title></polyline>', css, points, label)
            )
    legend = format_html_join(
        "",
        '<span class="legend-item"><span class="swatch {}"></span>{}</span>',
        ((css, label) for label, css, _ in series),
    )
    svg = format_html(
        '<svg class="insights-chart" viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        title,
        mark_safe("".join(parts)),  # noqa: S308 - every part above is format_html output
    )
    return format_html(
        '<figure class="insights-figure"><figcaption>{}</figcaption>{}<div class="legend">{}</div></figure>',
        title,
        svg,
        legend,
    )
