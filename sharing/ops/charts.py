"""Line charts as inline SVG, drawn on the server: no JavaScript, no CDN, readable without colour
(each series also has its own marker shape and a legend entry), and described for screen readers."""

from __future__ import annotations

from datetime import datetime
from html import escape

from sharing.ops.data import Series

WIDTH, HEIGHT = 460, 210
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 58
# Colour-blind-safe (Okabe-Ito), dark enough for contrast on white.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8a6d00", "#56B4E9", "#000000")


def _ticks(top: float) -> list[float]:
    if top <= 0:
        return [0.0, 1.0]
    step = 10 ** len(str(int(top))) / 10 if top >= 1 else 0.1
    while top / step > 5:
        step *= 2
    return [i * step for i in range(int(top // step) + 2)]


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"


def _marker(shape: int, x: float, y: float, colour: str) -> str:
    if shape % 3 == 0:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'
    if shape % 3 == 1:
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}"/>'
    return (f'<path d="M{x:.1f} {y - 4.5:.1f} L{x + 4.5:.1f} {y + 3.5:.1f} L{x - 4.5:.1f} {y + 3.5:.1f} Z" '
            f'fill="{colour}"/>')


def line_chart(title: str, unit: str, series: list[Series]) -> str:
    """One SVG: a line (and markers) per series over time, axes with ticks, a legend below."""
    points = [p for s in series for p in s.points]
    label = f"{title}, per run, by dataset"
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>']
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    if not points:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no runs yet</text></svg>')
        return "".join(parts)
    times = [p[0].timestamp() for p in points]
    t0, t1 = min(times), max(times)
    ticks = _ticks(max(p[1] for p in points))
    top = ticks[-1] or 1.0

    def x(t: datetime) -> float:
        return LEFT + (plot_w * (t.timestamp() - t0) / (t1 - t0) if t1 > t0 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    for tick in ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{_fmt(tick)}</text>')
    parts.append(f'<text x="12" y="{TOP + plot_h / 2:.0f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {TOP + plot_h / 2:.0f})">{escape(unit)}</text>')
    first, last = min(p[0] for p in points), max(p[0] for p in points)
    shown = "%H:%M:%S" if (last - first).total_seconds() < 3600 else "%d/%m %H:%M"
    parts.append(f'<text x="{LEFT}" y="{TOP + plot_h + 16}" font-size="11">{first.strftime(shown)}</text>')
    if last != first:
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{TOP + plot_h + 16}" font-size="11" text-anchor="end">'
                     f'{last.strftime(shown)}</text>')
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        coords = [(x(t), y(v)) for t, v in s.points]
        if len(coords) > 1:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.extend(_marker(i, cx, cy, colour) for cx, cy in coords)
        lx = 14 + (i % 4) * 112
        ly = HEIGHT - 26 + (i // 4) * 15
        parts.append(_marker(i, lx, ly - 4, colour))
        parts.append(f'<text x="{lx + 8}" y="{ly}" font-size="11">{escape(s.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
