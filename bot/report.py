"""A backtest report as one SVG picture and one self-contained HTML page.

`write_report()` draws three stacked panels (equity curve, drawdown below zero, net P&L per
strategy) into `report.svg` and embeds that picture in `report.html` together with the
summary figures, a per-strategy table and the first trades. Everything is built as plain
strings: no plotting library, no scripts, no external fonts or links, and no clock, so the
same inputs give byte-identical files.

Figures shown in the HTML tables are the values of the summary dict (see
`bot.metrics.summarize`) formatted with 2 decimals for money (USD) and 1 for percents
(the 0..1 win rate is shown ×100), so they match summary.json digit for digit.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.metrics import ClosedTrade, EquityPoint, drawdown_series
from bot.model import ONE, Micros

MAX_POINTS = 2000  # polyline points per curve after downsampling
MAX_TRADE_ROWS = 500

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
_SECOND = 1000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_TIME_STEPS = (
    *(1, 2, 5, 10, 20, 50, 100, 200, 500),
    *(s * _SECOND for s in (1, 2, 5, 10, 15, 30)),
    *(m * _MINUTE for m in (1, 2, 5, 10, 15, 30)),
    *(h * _HOUR for h in (1, 2, 3, 6, 12)),
    *(d * _DAY for d in (1, 2, 7, 14, 30, 60, 90, 180, 365, 730, 1825, 3650)),
)


# ---------------------------------------------------------------------------
# data helpers


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


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _micros(usd: Any) -> Micros | None:
    v = _num(usd)
    return round(v * ONE) if v is not None else None


# ---------------------------------------------------------------------------
# number and time formatting


def fmt_money(value: Any) -> str:
    """A summary money figure as shown in the HTML: 2 decimals, '—' when missing."""
    v = _num(value)
    return "—" if v is None else f"{v:.2f}"


def fmt_pct(value: Any) -> str:
    """A summary percent figure (already in percent units): 1 decimal and a % sign."""
    v = _num(value)
    return "—" if v is None else f"{v:.1f}%"


def fmt_ratio_pct(value: Any) -> str:
    """A 0..1 ratio (the win rate) as a percent with 1 decimal."""
    v = _num(value)
    return "—" if v is None else f"{v * 100:.1f}%"


def _signed_pct(value: float) -> str:
    """'+4.6%', '-12.2%', and '0.0%' rather than '-0.0%' (percent units, 1 decimal)."""
    digits = f"{abs(value):.1f}"
    sign = "" if digits == "0.0" else "-" if value < 0 else "+"
    return f"{sign}{digits}%"


def _dollars(value: float, decimals: int = 2, plus: bool = False, group: bool = False) -> str:
    """'$12.50', '-$12.00', '+$3.10' (plus=True), '$1,200' (group=True) for the picture.

    Without `group` the digits are exactly f"{abs(value):.2f}", as in the HTML tables."""
    digits = f"{abs(value):,.{decimals}f}" if group else f"{abs(value):.{decimals}f}"
    sign = ""
    if value < 0 and digits.strip("0.,"):
        sign = "-"
    elif plus and value > 0 and digits.strip("0.,"):
        sign = "+"
    return f"{sign}${digits}"


def _decimals(values: Iterable[Micros], minimum: int = 2) -> int:
    """Fewest decimals (at least `minimum`) that show every micro amount exactly."""
    need = minimum
    for v in values:
        frac = f"{abs(v) % ONE:06d}".rstrip("0")
        need = max(need, len(frac))
    return need


def _fixed(micros: Micros, decimals: int) -> str:
    """Micros as a decimal with `decimals` places (exact when `_decimals` chose them)."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), ONE)
    return f"{sign}{whole}.{f'{frac:06d}'[:decimals]}"


def _dt(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms // 1000, tz=UTC).replace(microsecond=(ts_ms % 1000) * 1000)


def _stamp(ts_ms: int, seconds: bool = True) -> str:
    return _dt(ts_ms).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _exit_stamp(entry_ms: int, exit_ms: int) -> str:
    """The exit time, without its date when that is the entry's date."""
    full = _stamp(exit_ms)
    return full[11:] if full[:10] == _stamp(entry_ms)[:10] else full


def _duration(ms: int) -> str:
    if ms < 0:
        return "—"
    s = ms // 1000
    if s < 60:
        return f"{s}s" if s or ms == 0 else f"{ms}ms"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h {m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d {h:02d}h"


def _nice_ticks(lo: float, hi: float, target: int = 5) -> tuple[list[float], int]:
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
        dt = _dt(t)
        day = f"{_MONTHS[dt.month - 1]} {dt.day}"
        if step >= _DAY:
            out.append((day, str(dt.year) if prev is None or prev.year != dt.year else ""))
        else:
            if step < _SECOND:
                main = dt.strftime("%H:%M:%S.") + f"{t % 1000:03d}"
            elif step < _MINUTE:
                main = dt.strftime("%H:%M:%S")
            else:
                main = dt.strftime("%H:%M")
            out.append((main, day if prev is None or prev.date() != dt.date() else ""))
        prev = dt
    return out


# ---------------------------------------------------------------------------
# SVG building


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _f(x: float) -> str:
    """A coordinate with one decimal, '12' rather than '12.0'."""
    text = f"{x:.1f}"
    return "0" if text == "-0.0" else text.removesuffix(".0")


def _el(tag: str, content: str | None = None, /, **attrs: object) -> str:
    """One SVG element; attribute names use _ for - (font_size → font-size)."""
    parts = [tag]
    for key, value in attrs.items():
        if value is None:
            continue
        shown = _f(value) if isinstance(value, float) else value
        parts.append(f'{key.rstrip("_").replace("_", "-")}="{_esc(shown)}"')
    head = " ".join(parts)
    return f"<{head}/>" if content is None else f"<{head}>{_esc(content)}</{tag}>"


def _text(x: float, y: float, text: str, **attrs: object) -> str:
    attrs.setdefault("font_size", 11)
    attrs.setdefault("fill", MUTED)
    return _el("text", text, x=float(x), y=float(y), **attrs)


def _halo_text(x: float, y: float, text: str, **attrs: object) -> str:
    """Text with a white outline, readable on top of lines and areas."""
    halo = {"stroke": "#ffffff", "stroke_width": 3, "stroke_linejoin": "round"}
    return _text(x, y, text, paint_order="stroke", **halo, **attrs)


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, **attrs: object) -> str:
    return _el("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), stroke=stroke, **attrs)


@dataclass(frozen=True, slots=True)
class _Frame:
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


def _screen(frame: _Frame, points: Sequence[tuple[int, int]]) -> list[tuple[str, str]]:
    """Pixel coordinates of (ts_ms, micros) points, dropping exact repeats."""
    out: list[tuple[str, str]] = []
    for x, y in points:
        xy = (_f(frame.sx(x)), _f(frame.sy(y / ONE)))
        if not out or out[-1] != xy:
            out.append(xy)
    return out


def _curve(xy: Sequence[tuple[str, str]], base_y: float, colour: str, opacity: float) -> list[str]:
    """A polyline with the area between it and `base_y` filled."""
    line = " ".join(f"{x},{y}" for x, y in xy)
    base = _f(base_y)
    area = f"{xy[0][0]},{base} {line} {xy[-1][0]},{base}"
    return [
        _el("polygon", points=area, fill=colour, fill_opacity=opacity, stroke="none"),
        _el(
            "polyline",
            points=line,
            fill="none",
            stroke=colour,
            stroke_width=1.5,
            stroke_linejoin="round",
        ),
    ]


def _panel_title(y: float, title: str, note: str = "") -> list[str]:
    out = [_text(16, y, title, font_size=14, font_weight="bold", fill=INK)]
    if note:
        out.append(_text(WIDTH - MARGIN_RIGHT, y, note, font_size=12, text_anchor="end"))
    return out


def _message(top: float, height: float, headline: str, detail: str = "") -> list[str]:
    """A framed placeholder saying why a panel has nothing to draw."""
    mid = top + height / 2
    out = [
        _el(
            "rect",
            x=16,
            y=float(top),
            width=WIDTH - 16 - MARGIN_RIGHT,
            height=float(height),
            rx=6,
            fill=PANEL_BG,
            stroke=GRID,
        ),
        _text(
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
        out.append(_text(WIDTH / 2, mid + 18, detail, font_size=12, text_anchor="middle"))
    return out


def _y_axis(frame: _Frame, ticks: Sequence[float], decimals: int) -> list[str]:
    out: list[str] = []
    for v in ticks:
        y = frame.sy(v)
        out.append(_line(frame.left, y, frame.right, y, GRID))
        label = _dollars(v, decimals, group=True)
        out.append(_text(frame.left - 8, y + 4, label, text_anchor="end"))
    return out


def _x_axis(frame: _Frame, axis: _TimeAxis) -> list[str]:
    out: list[str] = []
    for t, (main, sub) in zip(axis.ticks, axis.labels, strict=True):
        x = frame.sx(t)
        out.append(_line(x, frame.top, x, frame.bottom, GRID))
        out.append(_line(x, frame.bottom, x, frame.bottom + 4, AXIS))
        out.append(_text(x, frame.bottom + 16, main, text_anchor="middle"))
        if sub:
            out.append(_text(x, frame.bottom + 30, sub, text_anchor="middle", fill=INK))
    out.append(_line(frame.left, frame.bottom, frame.right, frame.bottom, AXIS))
    return out


@dataclass(frozen=True, slots=True)
class _TimeAxis:
    t0: int
    t1: int
    ticks: list[int]
    labels: list[tuple[str, str]]


def _time_axis(t_first: int, t_last: int, plot_width: float) -> _TimeAxis:
    t0, t1 = t_first, t_last
    if t1 <= t0:  # one instant: show the hour around it
        t0, t1 = t0 - 30 * _MINUTE, t0 + 30 * _MINUTE
    step, ticks = _time_ticks(t0, t1, max(2, int(plot_width // 105)))
    return _TimeAxis(t0, t1, ticks, _time_labels(ticks, step))


def _drawdown_ticks(deepest: Micros) -> tuple[list[float], int]:
    """Ticks from below the deepest drawdown (room for its label) up to zero."""
    return _nice_ticks(deepest / ONE * 1.2, 0.0, target=4)


def _value_ticks(lo: float, hi: float) -> tuple[list[float], int]:
    if hi - lo < 0.01:  # flat (to the cent): show a band around the value
        pad = max(abs(hi) * 0.01, 1.0)
        lo, hi = lo - pad, hi + pad
    return _nice_ticks(lo, hi)


# ---------------------------------------------------------------------------
# panels; each returns its SVG fragments and the height it used

HEADER_H = 30
EQUITY_PLOT_H = 250
DRAWDOWN_PLOT_H = 140
AXIS_H = 40
GAP = 24
ROW_H = 42


@dataclass(frozen=True, slots=True)
class _Context:
    summary: Mapping[str, Any]
    equity: Sequence[EquityPoint]  # in time order
    start: Micros | None  # starting balance
    no_trades: bool
    left: float  # left edge of the time plots
    axis: _TimeAxis | None  # None without equity points


def _equity_panel(top: float, ctx: _Context) -> tuple[list[str], float]:
    final = _num(ctx.summary.get("final_equity"))
    ret = _num(ctx.summary.get("return_pct"))
    values = [p.equity for p in ctx.equity]
    flat = bool(values) and min(values) == max(values) and ctx.start in (None, values[0])
    drawn = ctx.axis is not None and bool(values) and not (ctx.no_trades and flat)
    notes = []
    if ctx.start is not None:
        notes.append(f"start {_dollars(ctx.start / ONE)}{' (dashed)' if drawn else ''}")
    if final is not None:
        notes.append(f"final {_dollars(final)}")
    if ret is not None:
        notes.append(f"return {_signed_pct(ret)}")
    out = _panel_title(top + 14, "Equity", " · ".join(notes))
    body_top = top + HEADER_H
    height = HEADER_H + EQUITY_PLOT_H + AXIS_H
    if ctx.axis is None or not values:
        out += _message(body_top, EQUITY_PLOT_H, "No equity data", "the run recorded no equity")
        return out, height
    if not drawn:
        detail = f"equity stayed at {_dollars(values[0] / ONE)} for the whole run"
        out += _message(body_top, EQUITY_PLOT_H, "No trades", detail)
        return out, height

    bounds = values if ctx.start is None else [*values, ctx.start]
    ticks, decimals = _value_ticks(min(bounds) / ONE, max(bounds) / ONE)
    frame = _Frame(
        ctx.left,
        body_top,
        WIDTH - MARGIN_RIGHT - ctx.left,
        EQUITY_PLOT_H,
        ctx.axis.t0,
        ctx.axis.t1,
        ticks[0],
        ticks[-1],
    )
    out += _y_axis(frame, ticks, decimals)
    out += _x_axis(frame, ctx.axis)
    if ctx.start is not None:
        y = frame.sy(ctx.start / ONE)
        out.append(_line(frame.left, y, frame.right, y, AXIS, stroke_dasharray="4 4"))
    xy = _screen(frame, downsample([(p.ts_ms, p.equity) for p in ctx.equity]))
    if len(xy) > 1:
        out += _curve(xy, frame.bottom, BLUE, 0.08)
    out.append(_el("circle", cx=xy[-1][0], cy=xy[-1][1], r=3.5, fill=BLUE))
    if len(xy) == 1:
        x, y = frame.sx(ctx.equity[-1].ts_ms), frame.sy(values[-1] / ONE)
        out.append(_halo_text(x + 8, y - 8, _dollars(values[-1] / ONE), fill=BLUE))
    return out, height


def _drawdown_panel(top: float, ctx: _Context) -> tuple[list[str], float]:
    dd_usd = _num(ctx.summary.get("max_drawdown"))
    dd_pct = _num(ctx.summary.get("max_drawdown_pct"))
    notes = []
    if dd_usd is not None:
        notes.append(f"max drawdown {_dollars(-dd_usd)}")
    if dd_pct is not None:
        notes.append(f"max {_signed_pct(-dd_pct)} from a peak")
    out = _panel_title(top + 14, "Drawdown from running peak", " · ".join(notes))
    body_top = top + HEADER_H
    height = HEADER_H + DRAWDOWN_PLOT_H + AXIS_H
    series = drawdown_series(ctx.equity, peak=ctx.start)
    if ctx.axis is None or not series:
        out += _message(body_top, DRAWDOWN_PLOT_H, "No equity data")
        return out, height
    deepest = min(series, key=lambda p: p[1])
    if deepest[1] == 0:
        headline = "No trades" if ctx.no_trades else "No drawdown"
        out += _message(body_top, DRAWDOWN_PLOT_H, headline, "equity never fell below its running peak")
        return out, height

    ticks, decimals = _drawdown_ticks(deepest[1])
    frame = _Frame(
        ctx.left,
        body_top,
        WIDTH - MARGIN_RIGHT - ctx.left,
        DRAWDOWN_PLOT_H,
        ctx.axis.t0,
        ctx.axis.t1,
        ticks[0],
        0.0,
    )
    out += _y_axis(frame, ticks, decimals)
    out += _x_axis(frame, ctx.axis)
    zero = frame.sy(0.0)
    xy = _screen(frame, downsample(series))
    if len(xy) > 1:
        out += _curve(xy, zero, RED, 0.22)
    out.append(_line(frame.left, zero, frame.right, zero, INK))
    x, y = frame.sx(deepest[0]), frame.sy(deepest[1] / ONE)
    out.append(_el("circle", cx=x, cy=y, r=3.5, fill=RED))
    # below the deepest point nothing else is drawn, and the axis leaves room for the label
    anchor = "middle"
    if x < frame.left + 60:
        anchor = "start"
    elif x > frame.right - 60:
        anchor = "end"
    label = _dollars(deepest[1] / ONE)
    out.append(_halo_text(x, y + 16, label, text_anchor=anchor, fill=RED, font_weight="bold"))
    return out, height


def _strategy_rows(summary: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Per-strategy rows, best net P&L first, ties by name."""
    table = summary.get("per_strategy") or {}
    rows = [(str(name), stats) for name, stats in table.items() if isinstance(stats, Mapping)]
    return sorted(rows, key=lambda r: (-(_num(r[1].get("net_pnl")) or 0.0), r[0]))


def _bar_detail(stats: Mapping[str, Any]) -> str:
    n = stats.get("trades")
    return f"{n} trade{'' if n == 1 else 's'} · {fmt_ratio_pct(stats.get('win_rate'))} won"


def _strategy_panel(top: float, ctx: _Context) -> tuple[list[str], float]:
    rows = _strategy_rows(ctx.summary)
    out = _panel_title(top + 14, "Net P&L by strategy", "after fees")
    body_top = top + HEADER_H
    if not rows:
        out += _message(body_top, 110, "No trades", "no strategy closed a trade in this run")
        return out, HEADER_H + 110

    names = [name if len(name) <= 32 else name[:31] + "…" for name, _ in rows]
    details = [_bar_detail(stats) for _, stats in rows]
    widest = max(max(map(len, names)) * 8.0, max(map(len, details)) * CHAR_W)
    name_right = 16 + min(280.0, max(110.0, widest + 14))
    nets = [_num(stats.get("net_pnl")) or 0.0 for _, stats in rows]
    lo, hi = min(0.0, *nets), max(0.0, *nets)
    if hi - lo < 1e-9:
        hi = 1.0
    label_w = max(len(_dollars(v, plus=True)) for v in nets) * CHAR_W + 16
    pad_l = label_w if lo < 0 else 12.0
    pad_r = label_w if hi > 0 else 12.0
    plot_h = len(rows) * ROW_H
    frame = _Frame(
        name_right + pad_l,
        body_top,
        WIDTH - MARGIN_RIGHT - name_right - pad_l - pad_r,
        plot_h,
        lo,
        hi,
        0.0,
        1.0,
    )
    ticks, decimals = _nice_ticks(lo, hi, target=5)
    for t in ticks:
        if lo - 1e-9 <= t <= hi + 1e-9:
            x = frame.sx(t)
            out.append(_line(x, body_top, x, frame.bottom, GRID))
            label = _dollars(t, decimals, group=True)
            out.append(_text(x, frame.bottom + 16, label, text_anchor="middle"))
    zero_x = frame.sx(0.0)
    for i, (name, shown, detail, net) in enumerate(
        zip([name for name, _ in rows], names, details, nets, strict=True)
    ):
        mid = body_top + i * ROW_H + ROW_H / 2
        out.append(_text(name_right - 12, mid - 2, shown, font_size=13, fill=INK, text_anchor="end"))
        out.append(_text(name_right - 12, mid + 13, detail, text_anchor="end"))
        x = frame.sx(net)
        colour = GREEN if net > 0 else RED if net < 0 else AXIS
        tip = _el("title", f"{name}: net {fmt_money(net)} USD, {detail}")
        bar = _el(
            "rect",
            x=min(x, zero_x),
            y=mid - 11,
            width=max(abs(x - zero_x), 1.0),
            height=22.0,
            rx=2,
            fill=colour,
        )
        out.append(f"<g>{tip}{bar}</g>")
        label = _dollars(net, plus=True)
        if net < 0:
            out.append(
                _text(
                    x - 6,
                    mid + 4,
                    label,
                    font_size=12,
                    font_weight="bold",
                    fill=RED,
                    text_anchor="end",
                )
            )
        else:
            out.append(
                _text(
                    max(x, zero_x) + 6,
                    mid + 4,
                    label,
                    font_size=12,
                    font_weight="bold",
                    fill=GREEN if net > 0 else MUTED,
                )
            )
    out.append(_line(zero_x, body_top - 4, zero_x, frame.bottom, INK))
    return out, HEADER_H + plot_h + 24


def _period(summary: Mapping[str, Any], equity: Sequence[EquityPoint]) -> str:
    start, end = summary.get("start_ms"), summary.get("end_ms")
    if not isinstance(start, int) or not isinstance(end, int):
        if not equity:
            return ""
        start, end = equity[0].ts_ms, equity[-1].ts_ms
    seconds = end - start < _HOUR
    return f"{_stamp(start, seconds)} → {_stamp(end, seconds)} UTC"


def _subtitle(summary: Mapping[str, Any], equity: Sequence[EquityPoint]) -> str:
    parts = [_period(summary, equity)]
    n = summary.get("trades") or 0
    parts.append(f"{n} trade{'' if n == 1 else 's'}" if n else "no trades")
    net_pnl = _num(summary.get("net_pnl"))
    if n and net_pnl is not None:
        parts.append(f"net {_dollars(net_pnl, plus=True)}")
    return " · ".join(p for p in parts if p)


def _left_margin(equity: Sequence[EquityPoint], start: Micros | None) -> float:
    """One left edge for both time panels, wide enough for their longest dollar label."""
    labels: list[str] = []
    if equity:
        values = [p.equity for p in equity] + ([start] if start is not None else [])
        ticks, dec = _value_ticks(min(values) / ONE, max(values) / ONE)
        labels += [_dollars(t, dec, group=True) for t in ticks]
        deepest = min(v for _, v in drawdown_series(equity, peak=start))
        if deepest < 0:
            ticks, dec = _drawdown_ticks(deepest)
            labels += [_dollars(t, dec, group=True) for t in ticks]
    return 16 + max([44.0] + [len(s) * CHAR_W + 10 for s in labels])


def render_svg(summary: Mapping[str, Any], equity: Sequence[EquityPoint], title: str) -> str:
    """The report picture as an SVG document (see the module docstring)."""
    ordered = sorted(equity, key=lambda p: p.ts_ms)
    start = _micros(summary.get("starting_balance"))
    left = _left_margin(ordered, start)
    axis = None
    if ordered:
        axis = _time_axis(ordered[0].ts_ms, ordered[-1].ts_ms, WIDTH - MARGIN_RIGHT - left)
    ctx = _Context(summary, ordered, start, not summary.get("trades"), left, axis)

    groups: list[tuple[str, list[str]]] = []
    y = 78.0
    for gid, panel in (
        ("panel-equity", _equity_panel),
        ("panel-drawdown", _drawdown_panel),
        ("panel-strategies", _strategy_panel),
    ):
        frag, h = panel(y, ctx)
        groups.append((gid, frag))
        y += h + GAP
    height = round(y)

    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="{_esc(FONT)}" role="img">',
        _el("title", title),
        _el("rect", x=0, y=0, width=WIDTH, height=height, fill="#ffffff"),
        _text(16, 32, title, font_size=20, font_weight="bold", fill=INK),
        _text(16, 54, _subtitle(summary, ordered), font_size=13),
    ]
    for gid, frag in groups:
        lines.append(f'<g id="{gid}" class="panel">')
        lines += frag
        lines.append("</g>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# HTML

_CSS = """
*{box-sizing:border-box}
body{margin:0;padding:24px;background:#f3f4f6;color:#1f2328;
 font:14px/1.45 "DejaVu Sans","Segoe UI","Helvetica Neue",Helvetica,Arial,sans-serif}
main{max-width:1280px;margin:0 auto}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:16px;margin:0 0 10px}
.sub{color:#656d76;margin:0 0 18px}
.notice{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:10px 14px;
 margin:0 0 18px;font-weight:bold}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:14px 16px;
 margin:0 0 18px}
figure.card{padding:6px}
figure svg{display:block;width:100%;height:auto}
.cols{display:grid;grid-template-columns:minmax(300px,2fr) 3fr;gap:18px;align-items:start}
@media (max-width:900px){.cols{grid-template-columns:1fr}}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:left;white-space:nowrap}
th{color:#656d76;font-weight:600;font-size:12px}
td.num,th.num{text-align:right}
tr.group td{padding-top:12px;color:#656d76;font-size:12px;font-weight:600;border-bottom:none;
 white-space:normal}
.pos{color:#1a7f37}.neg{color:#cf222e}.muted{color:#656d76}
.scroll{overflow-x:auto}
.trades{font-size:12px}
.trades th,.trades td{padding:3px 6px}
.trades td.id{max-width:9em;overflow:hidden;text-overflow:ellipsis}
.note{color:#656d76;margin:10px 0 0}
.note.top{margin:-6px 0 8px;font-size:12px}
footer{color:#656d76;font-size:12px;line-height:1.6}
"""


NUM_CLASS = ' class="num"'


def _cls(value: Any) -> str:
    v = _num(value)
    return "num pos" if v is not None and v > 0 else "num neg" if v is not None and v < 0 else "num"


def _summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str] | str]:
    """(label, shown value, css class) rows with group headings as plain strings."""
    s = summary
    rows: list[tuple[str, str, str] | str] = [
        "Result",
        ("Net P&L (USD)", fmt_money(s.get("net_pnl")), _cls(s.get("net_pnl"))),
        ("Return", fmt_pct(s.get("return_pct")), _cls(s.get("return_pct"))),
        ("Starting balance (USD)", fmt_money(s.get("starting_balance")), "num"),
        ("Final equity (USD)", fmt_money(s.get("final_equity")), "num"),
        ("Gross P&L (USD)", fmt_money(s.get("gross_pnl")), _cls(s.get("gross_pnl"))),
        ("Fees (USD)", fmt_money(s.get("fees")), "num"),
        "Risk",
        ("Max drawdown (USD)", fmt_money(s.get("max_drawdown")), "num"),
        ("Max drawdown", fmt_pct(s.get("max_drawdown_pct")), "num"),
    ]
    exposure = s.get("exposure")
    if isinstance(exposure, Mapping):
        rows.append(("Max capital deployed (USD)", fmt_money(exposure.get("max")), "num"))
        rows.append(("Mean capital deployed (USD)", fmt_money(exposure.get("mean")), "num"))
    rows += [
        "Trades",
        ("Trades", str(s.get("trades", 0)), "num"),
        ("Wins", str(s.get("wins", 0)), "num"),
        ("Losses", str(s.get("losses", 0)), "num"),
        *([("Breakeven", str(s.get("breakeven")), "num")] if "breakeven" in s else []),
        ("Win rate", fmt_ratio_pct(s.get("win_rate")), "num"),
        ("Average trade (USD)", fmt_money(s.get("avg_trade_pnl")), _cls(s.get("avg_trade_pnl"))),
        ("Best trade (USD)", fmt_money(s.get("best_trade")), _cls(s.get("best_trade"))),
        ("Worst trade (USD)", fmt_money(s.get("worst_trade")), _cls(s.get("worst_trade"))),
    ]
    slippage = s.get("slippage")
    if isinstance(slippage, Mapping):
        n = slippage.get("trades", 0)
        rows += [
            f"Exit slippage ({n} exits with a known intended price)",
            ("Total slippage (USD)", fmt_money(slippage.get("sum")), "num"),
            ("Mean per exit (USD)", fmt_money(slippage.get("mean")), "num"),
        ]
        if "adverse" in slippage:
            rows.append(("Net cost vs intended (USD)", fmt_money(slippage.get("adverse")), "num"))
    return rows


def _summary_table(summary: Mapping[str, Any]) -> str:
    out = ['<table class="kv">']
    for row in _summary_rows(summary):
        if isinstance(row, str):
            out.append(f'<tr class="group"><td colspan="2">{_esc(row)}</td></tr>')
        else:
            label, value, cls = row
            out.append(f'<tr><th scope="row">{_esc(label)}</th><td class="{cls}">{_esc(value)}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


def _strategy_table(summary: Mapping[str, Any]) -> str:
    rows = _strategy_rows(summary)
    if not rows:
        return '<p class="muted">No trades.</p>'
    head = ("Strategy", "Trades", "Wins", "Win rate", "Gross (USD)", "Fees (USD)", "Net (USD)")
    out = ["<table>", "<thead><tr>"]
    out += [f"<th{'' if i == 0 else NUM_CLASS}>{_esc(h)}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for name, st in rows:
        cells = [
            f"<td>{_esc(name)}</td>",
            f'<td class="num">{_esc(st.get("trades", 0))}</td>',
            f'<td class="num">{_esc(st.get("wins", 0))}</td>',
            f'<td class="num">{_esc(fmt_ratio_pct(st.get("win_rate")))}</td>',
            f'<td class="{_cls(st.get("gross_pnl"))}">{_esc(fmt_money(st.get("gross_pnl")))}</td>',
            f'<td class="num">{_esc(fmt_money(st.get("fees")))}</td>',
            f'<td class="{_cls(st.get("net_pnl"))}">{_esc(fmt_money(st.get("net_pnl")))}</td>',
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _trades_table(trades: Sequence[ClosedTrade], total: int) -> str:
    if not trades:
        return '<p class="muted">No trades.</p>'
    head = (
        ("#", True),
        ("Trade", False),
        ("Strategy", False),
        ("Market", False),
        ("Side", False),
        ("Entry (UTC)", False),
        ("Exit (UTC)", False),
        ("Held", True),
        ("Shares", True),
        ("Entry px", True),
        ("Exit px", True),
        ("Intended", True),
        ("Gross", True),
        ("Fees", True),
        ("Net", True),
        ("Reason", False),
    )
    out = ['<div class="scroll"><table class="trades">', "<thead><tr>"]
    out += [f"<th{NUM_CLASS if num else ''}>{_esc(h)}</th>" for h, num in head]
    out.append("</tr></thead><tbody>")
    rows = trades[:MAX_TRADE_ROWS]
    # one number of decimals per column, as few as show every value in it exactly
    dec_shares = _decimals(t.shares for t in rows)
    dec_price = _decimals(
        [t.entry_price for t in rows]
        + [t.exit_price for t in rows]
        + [t.intended_exit_price for t in rows if t.intended_exit_price is not None]
    )
    dec_gross = _decimals(t.gross_pnl for t in rows)
    dec_fees = _decimals(t.fees for t in rows)
    dec_net = _decimals(t.net_pnl for t in rows)
    for i, t in enumerate(rows, start=1):
        intended = "—"
        if t.intended_exit_price is not None:
            intended = _fixed(t.intended_exit_price, dec_price)
        cells = [
            f'<td class="num muted">{i}</td>',
            f'<td class="id" title="{_esc(t.trade_id)}">{_esc(t.trade_id)}</td>',
            f"<td>{_esc(t.strategy)}</td>",
            f'<td class="id" title="{_esc(t.market_id)}">{_esc(t.market_id)}</td>',
            f"<td>{_esc(t.outcome)}</td>",
            f"<td>{_esc(_stamp(t.entry_ms))}</td>",
            f"<td>{_esc(_exit_stamp(t.entry_ms, t.exit_ms))}</td>",
            f'<td class="num">{_esc(_duration(t.exit_ms - t.entry_ms))}</td>',
            f'<td class="num">{_fixed(t.shares, dec_shares)}</td>',
            f'<td class="num">{_fixed(t.entry_price, dec_price)}</td>',
            f'<td class="num">{_fixed(t.exit_price, dec_price)}</td>',
            f'<td class="num">{intended}</td>',
            f'<td class="{_cls(t.gross_pnl)}">{_fixed(t.gross_pnl, dec_gross)}</td>',
            f'<td class="num">{_fixed(t.fees, dec_fees)}</td>',
            f'<td class="{_cls(t.net_pnl)}">{_fixed(t.net_pnl, dec_net)}</td>',
            f"<td>{_esc(t.exit_reason)}</td>",
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    shown = min(len(trades), MAX_TRADE_ROWS)
    if total > shown:
        out.append(
            f'<p class="note">Showing the first {shown} of {total} trades; '
            f"{total - shown} more are not listed here.</p>"
        )
    return "\n".join(out)


def render_html(
    summary: Mapping[str, Any],
    svg: str,
    trades: Sequence[ClosedTrade],
    title: str,
) -> str:
    """The HTML page embedding `svg` (an SVG document from `render_svg`, whose heading
    serves as the page's visible title)."""
    inline = svg.split("?>", 1)[1].lstrip() if svg.startswith("<?xml") else svg
    inline = inline.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)
    n = summary.get("trades") or 0
    total = max(len(trades), n if isinstance(n, int) else 0)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f'<h1 class="sr">{_esc(title)}</h1>',
    ]
    if not n:
        parts.append('<p class="notice">No trades: this run closed no trades.</p>')
    parts += [
        f'<figure class="card">{inline}</figure>',
        '<div class="cols">',
        f'<section class="card"><h2>Summary</h2>\n{_summary_table(summary)}\n</section>',
        f'<section class="card"><h2>Per strategy</h2>\n{_strategy_table(summary)}\n</section>',
        "</div>",
        '<section class="card"><h2>Trades</h2>',
        '<p class="note top">Prices per share (intended: the exit price aimed for); gross, '
        "fees and net in USD; times UTC.</p>",
        _trades_table(trades, total),
        "</section>",
        "<footer>Money in USD, times in UTC. Win rate: share of trades with a net P&amp;L "
        "(after fees) above zero. Drawdown: fall of equity from its running peak, the peak "
        "starting at the starting balance. Exit slippage: |exit fill − intended exit price| "
        "× shares; net cost counts fills below the intended price as cost.</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(
    out_dir: Path,
    summary: dict[str, Any],
    equity: Sequence[EquityPoint],
    trades: Sequence[ClosedTrade],
    title: str,
) -> dict[str, Path]:
    """Write `report.svg` and `report.html` into `out_dir` (created if needed) and return
    their paths as {"svg": ..., "html": ...}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    svg = render_svg(summary, equity, title)
    page = render_html(summary, svg, trades, title)
    paths = {"svg": out_dir / "report.svg", "html": out_dir / "report.html"}
    paths["svg"].write_bytes(svg.encode("utf-8"))
    paths["html"].write_bytes(page.encode("utf-8"))
    return paths
