"""Small server-side SVG charts for the dashboard and reports.

Plain SVG with presentation attributes (fill, stroke), never `style=`: the
Content-Security-Policy forbids inline styles and scripts, and nothing is
fetched from elsewhere. Every label is escaped.
"""

from __future__ import annotations

import math
from typing import Any

from markupsafe import Markup, escape

# Okabe-Ito colours: told apart with every common colour-vision deficiency.
INFLOW = "#0072b2"
DECISIONS = "#d55e00"
PATH_COLOURS = {"auto": "#009e73", "check": "#e69f00", "human": "#0072b2"}
AXIS = "#5c6577"
GRID = "#dde1e8"


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    # Every text part of `body` and `label` was escaped by its caller; the rest is numbers.
    return Markup(  # nosec B704
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>{"".join(body)}</svg>')


def _text(x: float, y: float, text: Any, anchor: str = "start", size: int = 12) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{AXIS}" '
            f'text-anchor="{anchor}">{escape(str(text))}</text>')


def flow_chart(hours: list[dict[str, Any]], label: str = "Inflow and decisions per hour"
               ) -> Markup:
    """Paired bars per hour: items in (blue) and items decided (green)."""
    width, height, left, bottom, top = 520, 180, 38, 24, 22
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max([1] + [max(h["inflow"], h["decisions"]) for h in hours])
    slot = plot_w / max(1, len(hours))
    bar = max(1.0, slot / 2 - 1)
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" '
            f'stroke="{AXIS}" stroke-width="1"/>',
            f'<line x1="{left}" y1="{top}" x2="{width - 8}" y2="{top}" stroke="{GRID}" '
            f'stroke-width="1"/>',
            _text(left - 4, top + 4, peak, "end"), _text(left - 4, top + plot_h, 0, "end")]
    for i, h in enumerate(hours):
        x = left + i * slot
        for j, (key, colour) in enumerate((("inflow", INFLOW), ("decisions", DECISIONS))):
            value = h[key]
            bar_h = plot_h * value / peak
            body.append(
                f'<rect x="{x + j * bar:.1f}" y="{top + plot_h - bar_h:.1f}" width="{bar:.1f}" '
                f'height="{bar_h:.1f}" fill="{colour}" class="bar-{key}" '
                f'data-value="{value}"><title>{escape(h["start"].strftime("%H:00"))} '
                f'{key}: {value}</title></rect>')
        if i % 6 == 0:
            body.append(_text(x, height - 6, h["start"].strftime("%H:00") + " UTC"
                              if i == 0 else h["start"].strftime("%H:00")))
    body.append(f'<rect x="{left}" y="3" width="12" height="12" fill="{INFLOW}"/>')
    body.append(_text(left + 16, 14, "inflow"))
    body.append(f'<rect x="{left + 70}" y="3" width="12" height="12" fill="{DECISIONS}"/>')
    body.append(_text(left + 86, 14, "decisions"))
    return _svg(width, height, body, label)


def split_bar(split: dict[str, int], label: str = "Routing split") -> Markup:
    """One stacked horizontal bar: auto / check / human shares."""
    width, height = 320, 38
    total = sum(split.values())
    body = [f'<rect x="0" y="0" width="{width}" height="18" fill="{GRID}"/>']
    x = 0.0
    for path in ("auto", "check", "human"):
        count = split.get(path, 0)
        w = width * count / total if total else 0
        if w:
            body.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="18" '
                        f'fill="{PATH_COLOURS[path]}" class="split-{path}"><title>{path}: {count} '
                        f'({count / total:.0%})</title></rect>')
        x += w
    legend = "  ".join(f"{p} {split.get(p, 0)}" for p in ("auto", "check", "human"))
    body.append(_text(0, 34, legend))
    return _svg(width, height, body, label)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); (0, 1) with no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (
        1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def calibration_chart(table: list[dict[str, Any]],
                      label: str = "Stated confidence vs human approval rate") -> Markup:
    """Approval rate per confidence bucket against the diagonal of perfect calibration."""
    size, pad = 260, 32
    plot = size - 2 * pad

    def px(v: float) -> float:
        return pad + v * plot

    def py(v: float) -> float:
        return pad + (1 - v) * plot

    body = [f'<rect x="{pad}" y="{pad}" width="{plot}" height="{plot}" fill="none" '
            f'stroke="{GRID}"/>',
            f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="{AXIS}" '
            f'stroke-dasharray="4 3"/>',
            _text(size / 2, size - 6, "stated confidence", "middle"),
            _text(pad, pad - 8, "approved by humans", "start"),
            _text(px(0), py(0) + 12, "0", "middle"), _text(px(1), py(0) + 12, "1", "middle"),
            _text(px(0) - 4, py(1) + 4, "1", "end")]
    points = [(row["mean_confidence"], row["approval_rate"], row) for row in table
              if row["approval_rate"] is not None and row["mean_confidence"] is not None]
    if len(points) > 1:
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, _row in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{INFLOW}" '
                    f'stroke-width="1.5"/>')
    for x, y, row in points:
        low, high = wilson_interval(row["approved"], row["human_decided"])
        # The 95% interval as a whisker: few decisions, a long one.
        body.append(f'<line x1="{px(x):.1f}" y1="{py(low):.1f}" x2="{px(x):.1f}" '
                    f'y2="{py(high):.1f}" stroke="{INFLOW}" stroke-width="1" '
                    f'class="calibration-interval"/>')
        body.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{INFLOW}" '
                    f'class="calibration-point"><title>{row["low"]}-{row["high"]}: '
                    f'{row["approved"]}/{row["human_decided"]} approved '
                    f'({y:.0%}; 95% interval {low:.0%}-{high:.0%})</title></circle>')
        body.append(_text(px(x) + 5, py(y) - 5, row["human_decided"], size=10))
    return _svg(size, size, body, label)
