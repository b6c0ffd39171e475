"""SVG drawing for the report picture: elements, a plot frame, axes with round ticks, curves.

Everything is a plain string with coordinates rounded to one decimal; `downsample` keeps a
curve to at most MAX_POINTS points without losing a peak or a trough.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.model import ONE, Micros
from bot.report.formatting import DAY, HOUR, MINUTE, SECOND, dollars, esc, utc_datetime

MAX_POINTS = 2000  # polyline points per curve after downsampling

WIDTH = 1000
MARGIN_RIGHT = 36
FONT = "DejaVu Sans, Segoe UI, Helvetica Neue, Helvetica, Arial, sans-serif"
CHAR_W = 6.8  # rough width of one character at 11-12 px, for layout only

INK = "#1f2328"
MUTED = "#656d76"
GRID = "#eaeef2"
AXIS = "#8c959f"
BLUE = "#2563a8"
RED = "#c93c37"
GREEN = "#2e8540"
PANEL_BG = "#f6f8fa"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TIME_STEPS = (
    *(1, 2, 5, 10, 20, 50, 100, 200, 500),
    *(s * SECOND for s in (1, 2, 5, 10, 15, 30)),
    *(m * MINUTE for m in (1, 2, 5, 10, 15, 30)),
    *(h * HOUR for h in (1, 2, 3, 6, 12)),
    *(d * DAY for d in (1, 2, 7, 14, 30, 60, 90, 180, 365, 730, 1825, 3650)),
)


def downsample(points: Sequence[tuple[int, int]], max_points: int = MAX_POINTS) -> list[tuple[int, int]]:
    """At most `max_points` of `points` ((x, y) in x order) for drawing a polyline.

    The first and last points are kept; the rest is cut into equal buckets by index and
    each bucket contributes its lowest and its highest point, in their original order, so
    no peak or trough (no drawdown) disappears from the picture.
    """
    n = len(points)
    if n <= max_points:
        return list(points)
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    buckets = (max_points - 2) // 2
    inner = n - 2
    out = [points[0]]
    for b in range(buckets):
        lo = 1 + b * inner // buckets
        hi = 1 + (b + 1) * inner // buckets
        if lo >= hi:
            continue
        i_min = min(range(lo, hi), key=lambda i: points[i][1])
        i_max = max(range(lo, hi), key=lambda i: points[i][1])
        for i in sorted({i_min, i_max}):
            out.append(points[i])
    out.append(points[-1])
    return out


def nice_ticks(lo: float, hi: float, target: int = 5) -> tuple[list[float], int]:
    """Round tick values covering [lo, hi] (lo < hi) and the decimals their labels need."""
    raw = (hi - lo) / target
    exp = math.floor(math.log10(raw))
    frac = raw / 10**exp
    mult = 1 if frac <= 1 else 2 if frac <= 2 else 5 if frac <= 5 else 10
    if mult == 10:
        mult, exp = 1, exp + 1
    step = mult * 10.0**exp
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    ticks = [k * step for k in range(first, last + 1)]
    return ticks, max(0, -exp)


def _time_ticks(t0: int, t1: int, max_ticks: int) -> tuple[int, list[int]]:
    """A UTC-aligned tick step and the ticks within [t0, t1]."""
    step = _TIME_STEPS[-1]
    for candidate in _TIME_STEPS:
        if t1 // candidate - (-(-t0 // candidate)) + 1 <= max_ticks:
            step = candidate
            break
    first = -(-t0 // step) * step
    return step, list(range(first, t1 + 1, step))


def _time_labels(ticks: Sequence[int], step: int) -> list[tuple[str, str]]:
    """(main line, second line) per tick: time of day with the date under the first tick and
    wherever the day changes; for steps of a day or more the date with the year."""
    out: list[tuple[str, str]] = []
    prev: datetime | None = None
    for t in ticks:
        dt = utc_datetime(t)
        day = f"{_MONTHS[dt.month - 1]} {dt.day}"
        if step >= DAY:
            out.append((day, str(dt.year) if prev is None or prev.year != dt.year else ""))
        else:
            if step < SECOND:
                main = dt.strftime("%H:%M:%S.") + f"{t % 1000:03d}"
            elif step < MINUTE:
                main = dt.strftime("%H:%M:%S")
            else:
                main = dt.strftime("%H:%M")
            out.append((main, day if prev is None or prev.date() != dt.date() else ""))
        prev = dt
    return out


def coord(x: float) -> str:
    """A coordinate with one decimal, '12' rather than '12.0'."""
    shown = f"{x:.1f}"
    return "0" if shown == "-0.0" else shown.removesuffix(".0")


def el(tag: str, content: str | None = None, /, **attrs: object) -> str:
    """One SVG element; attribute names use _ for - (font_size → font-size)."""
    parts = [tag]
    for key, value in attrs.items():
        if value is None:
            continue
        shown = coord(value) if isinstance(value, float) else value
        parts.append(f'{key.rstrip("_").replace("_", "-")}="{esc(shown)}"')
    head = " ".join(parts)
    return f"<{head}/>" if content is None else f"<{head}>{esc(content)}</{tag}>"


def text_at(x: float, y: float, text: str, **attrs: object) -> str:
    attrs.setdefault("font_size", 11)
    attrs.setdefault("fill", MUTED)
    return el("text", text, x=float(x), y=float(y), **attrs)


def halo_text(x: float, y: float, text: str, **attrs: object) -> str:
    """Text with a white outline, readable on top of lines and areas."""
    halo = {"stroke": "#ffffff", "stroke_width": 3, "stroke_linejoin": "round"}
    return text_at(x, y, text, paint_order="stroke", **halo, **attrs)


def line(x1: float, y1: float, x2: float, y2: float, stroke: str, **attrs: object) -> str:
    return el("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), stroke=stroke, **attrs)


@dataclass(frozen=True, slots=True)
class Frame:
    """A plot rectangle in pixels and the data ranges it shows."""

    left: float
    top: float
    width: float
    height: float
    x0: float
    x1: float
    y0: float
    y1: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def sx(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.width

    def sy(self, y: float) -> float:
        return self.bottom - (y - self.y0) / (self.y1 - self.y0) * self.height


def screen(frame: Frame, points: Sequence[tuple[int, int]]) -> list[tuple[str, str]]:
    """Pixel coordinates of (ts_ms, micros) points, dropping exact repeats."""
    out: list[tuple[str, str]] = []
    for x, y in points:
        xy = (coord(frame.sx(x)), coord(frame.sy(y / ONE)))
        if not out or out[-1] != xy:
            out.append(xy)
    return out


def curve(xy: Sequence[tuple[str, str]], base_y: float, colour: str, opacity: float) -> list[str]:
    """A polyline with the area between it and `base_y` filled."""
    path = " ".join(f"{x},{y}" for x, y in xy)
    base = coord(base_y)
    area = f"{xy[0][0]},{base} {path} {xy[-1][0]},{base}"
    return [
        el("polygon", points=area, fill=colour, fill_opacity=opacity, stroke="none"),
        el(
            "polyline",
            points=path,
            fill="none",
            stroke=colour,
            stroke_width=1.5,
            stroke_linejoin="round",
        ),
    ]


def panel_title(y: float, title: str, note: str = "") -> list[str]:
    out = [text_at(16, y, title, font_size=14, font_weight="bold", fill=INK)]
    if note:
        out.append(text_at(WIDTH - MARGIN_RIGHT, y, note, font_size=12, text_anchor="end"))
    return out


def message(top: float, height: float, headline: str, detail: str = "") -> list[str]:
    """A framed placeholder saying why a panel has nothing to draw."""
    mid = top + height / 2
    out = [
        el(
            "rect",
            x=16,
            y=float(top),
            width=WIDTH - 16 - MARGIN_RIGHT,
            height=float(height),
            rx=6,
            fill=PANEL_BG,
            stroke=GRID,
        ),
        text_at(
            WIDTH / 2,
            mid + (-4 if detail else 6),
            headline,
            font_size=18,
            font_weight="bold",
            fill=MUTED,
            text_anchor="middle",
        ),
    ]
    if detail:
        out.append(text_at(WIDTH / 2, mid + 18, detail, font_size=12, text_anchor="middle"))
    return out


def y_axis(frame: Frame, ticks: Sequence[float], decimals: int) -> list[str]:
    out: list[str] = []
    for v in ticks:
        y = frame.sy(v)
        out.append(line(frame.left, y, frame.right, y, GRID))
        label = dollars(v, decimals, group=True)
        out.append(text_at(frame.left - 8, y + 4, label, text_anchor="end"))
    return out


def x_axis(frame: Frame, axis: TimeAxis) -> list[str]:
    out: list[str] = []
    for t, (main, sub) in zip(axis.ticks, axis.labels, strict=True):
        x = frame.sx(t)
        out.append(line(x, frame.top, x, frame.bottom, GRID))
        out.append(line(x, frame.bottom, x, frame.bottom + 4, AXIS))
        out.append(text_at(x, frame.bottom + 16, main, text_anchor="middle"))
        if sub:
            out.append(text_at(x, frame.bottom + 30, sub, text_anchor="middle", fill=INK))
    out.append(line(frame.left, frame.bottom, frame.right, frame.bottom, AXIS))
    return out


@dataclass(frozen=True, slots=True)
class TimeAxis:
    t0: int
    t1: int
    ticks: list[int]
    labels: list[tuple[str, str]]


def time_axis(t_first: int, t_last: int, plot_width: float) -> TimeAxis:
    t0, t1 = t_first, t_last
    if t1 <= t0:  # one instant: show the hour around it
        t0, t1 = t0 - 30 * MINUTE, t0 + 30 * MINUTE
    step, ticks = _time_ticks(t0, t1, max(2, int(plot_width // 105)))
    return TimeAxis(t0, t1, ticks, _time_labels(ticks, step))


def drawdown_ticks(deepest: Micros) -> tuple[list[float], int]:
    """Ticks from below the deepest drawdown (room for its label) up to zero."""
    return nice_ticks(deepest / ONE * 1.2, 0.0, target=4)


def value_ticks(lo: float, hi: float) -> tuple[list[float], int]:
    if hi - lo < 0.01:  # flat (to the cent): show a band around the value
        pad = max(abs(hi) * 0.01, 1.0)
        lo, hi = lo - pad, hi + pad
    return nice_ticks(lo, hi)
