"""Small line charts as inline SVG, drawn on the server: no JavaScript, no CDN; one dataset and one metric
each (a title, labelled axes, readable time ticks), described for screen readers."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from sharing.ops.data import Series

SMALL_W, SMALL_H = 320, 200
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


def _time_ticks(t0: float, t1: float, count: int = 4) -> list[float]:
    if t1 <= t0:
        return [t0]
    return [t0 + (t1 - t0) * i / (count - 1) for i in range(count)]


def _time_label(t: float, span: float) -> tuple[str, str]:
    """(time, date) of a tick: the date line only where the span crosses days."""
    at = datetime.fromtimestamp(t, UTC)
    return (at.strftime("%H:%M:%S") if span < 600 else at.strftime("%H:%M")), at.strftime("%d/%m")


def small_chart(title: str, y_label: str, x_label: str, series: Series, empty: str = "no runs yet") -> str:
    """One SVG for one dataset and one metric: a title, a labelled y axis with ticks, four time ticks
    (UTC; the date under each where the span is over a day) and an x label."""
    label = f"{title}: {series.name}"
    parts = [f'<svg class="chart" viewBox="0 0 {SMALL_W} {SMALL_H}" role="img" aria-label="{escape(label)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
             f'<text x="{SMALL_W / 2:.0f}" y="15" text-anchor="middle" font-size="13" font-weight="700">'
             f'{escape(title)}</text>']
    left, right, top, bottom = 50, 14, 26, 50
    plot_w, plot_h = SMALL_W - left - right, SMALL_H - top - bottom
    if not series.points:
        parts.append(f'<text x="{SMALL_W / 2}" y="{SMALL_H / 2}" text-anchor="middle" font-size="12">'
                     f'{escape(empty)}</text></svg>')
        return "".join(parts)
    times = [p[0].timestamp() for p in series.points]
    t0, t1 = min(times), max(times)
    ticks = _ticks(max(p[1] for p in series.points))
    peak = ticks[-1] or 1.0

    def x(t: float) -> float:
        return left + (plot_w * (t - t0) / (t1 - t0) if t1 > t0 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / peak)

    for tick in ticks:
        parts.append(f'<line x1="{left}" x2="{SMALL_W - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#ddd"/><text x="{left - 5}" y="{y(tick) + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{_fmt(tick)}</text>')
    parts.append(f'<text x="11" y="{top + plot_h / 2:.0f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 11 {top + plot_h / 2:.0f})">{escape(y_label)}</text>')
    span = t1 - t0
    for i, t in enumerate(_time_ticks(t0, t1)):
        anchor = "start" if i == 0 and t1 > t0 else ("end" if t == t1 and t1 > t0 else "middle")
        clock, day = _time_label(t, span)
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" '
                     f'stroke="#888"/><text x="{x(t):.1f}" y="{top + plot_h + 16}" font-size="11" '
                     f'text-anchor="{anchor}">{clock}</text>')
        if span >= 86400 or i == 0:
            parts.append(f'<text x="{x(t):.1f}" y="{top + plot_h + 28}" font-size="10" fill="#4a5560" '
                         f'text-anchor="{anchor}">{day}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{SMALL_H - 6}" font-size="11" text-anchor="middle">'
                 f'{escape(x_label)}</text>')
    coords = [(x(t.timestamp()), y(v)) for t, v in series.points]
    if len(coords) > 1:
        path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[0]}" stroke-width="2"/>')
    parts.extend(_marker(0, cx, cy, COLOURS[0]) for cx, cy in coords)
    parts.append("</svg>")
    return "".join(parts)
