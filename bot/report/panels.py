"""The report picture: three stacked panels (equity, drawdown, net P&L per strategy) as SVG.

Each panel draws itself below a given top edge and returns its SVG fragments and the height
it used; `render_svg` stacks them under a title and the run's period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.metrics import ClosedTrade, EquityPoint, drawdown_series
from bot.model import ONE, Micros
from bot.report.formatting import (
    HOUR,
    dollars,
    esc,
    fmt_money,
    fmt_ratio_pct,
    number,
    signed_pct,
    stamp,
    strategy_rows,
    usd_micros,
)
from bot.report.markers import markers
from bot.report.svg import (
    AXIS,
    BLUE,
    CHAR_W,
    FONT,
    GREEN,
    GRID,
    INK,
    MARGIN_RIGHT,
    MUTED,
    RED,
    WIDTH,
    Frame,
    TimeAxis,
    curve,
    downsample,
    drawdown_ticks,
    el,
    halo_text,
    line,
    message,
    nice_ticks,
    panel_title,
    screen,
    text_at,
    time_axis,
    value_ticks,
    x_axis,
    y_axis,
)

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
    axis: TimeAxis | None  # None without equity points
    trades: Sequence[ClosedTrade] = ()


def _equity_panel(top: float, ctx: _Context) -> tuple[list[str], float]:
    final = number(ctx.summary.get("final_equity"))
    ret = number(ctx.summary.get("return_pct"))
    values = [p.equity for p in ctx.equity]
    flat = bool(values) and min(values) == max(values) and ctx.start in (None, values[0])
    drawn = ctx.axis is not None and bool(values) and not (ctx.no_trades and flat)
    notes = []
    if ctx.start is not None:
        notes.append(f"start {dollars(ctx.start / ONE)}{' (dashed)' if drawn else ''}")
    if final is not None:
        notes.append(f"final {dollars(final)}")
    if ret is not None:
        notes.append(f"return {signed_pct(ret)}")
    out = panel_title(top + 14, "Equity", " · ".join(notes))
    body_top = top + HEADER_H
    height = HEADER_H + EQUITY_PLOT_H + AXIS_H
    if ctx.axis is None or not values:
        out += message(body_top, EQUITY_PLOT_H, "No equity data", "the run recorded no equity")
        return out, height
    if not drawn:
        detail = f"equity stayed at {dollars(values[0] / ONE)} for the whole run"
        out += message(body_top, EQUITY_PLOT_H, "No trades", detail)
        return out, height

    bounds = values if ctx.start is None else [*values, ctx.start]
    ticks, decimals = value_ticks(min(bounds) / ONE, max(bounds) / ONE)
    frame = Frame(
        ctx.left,
        body_top,
        WIDTH - MARGIN_RIGHT - ctx.left,
        EQUITY_PLOT_H,
        ctx.axis.t0,
        ctx.axis.t1,
        ticks[0],
        ticks[-1],
    )
    out += y_axis(frame, ticks, decimals)
    out += x_axis(frame, ctx.axis)
    if ctx.start is not None:
        y = frame.sy(ctx.start / ONE)
        out.append(line(frame.left, y, frame.right, y, AXIS, stroke_dasharray="4 4"))
    out += markers(frame, ctx.summary, ctx.trades)
    xy = screen(frame, downsample([(p.ts_ms, p.equity) for p in ctx.equity]))
    if len(xy) > 1:
        out += curve(xy, frame.bottom, BLUE, 0.08)
    out.append(el("circle", cx=xy[-1][0], cy=xy[-1][1], r=3.5, fill=BLUE))
    if len(xy) == 1:
        x, y = frame.sx(ctx.equity[-1].ts_ms), frame.sy(values[-1] / ONE)
        out.append(halo_text(x + 8, y - 8, dollars(values[-1] / ONE), fill=BLUE))
    return out, height


def _drawdown_panel(top: float, ctx: _Context) -> tuple[list[str], float]:
    dd_usd = number(ctx.summary.get("max_drawdown"))
    dd_pct = number(ctx.summary.get("max_drawdown_pct"))
    notes = []
    if dd_usd is not None:
        notes.append(f"max drawdown {dollars(-dd_usd)}")
    if dd_pct is not None:
        notes.append(f"max {signed_pct(-dd_pct)} from a peak")
    out = panel_title(top + 14, "Drawdown from running peak", " · ".join(notes))
    body_top = top + HEADER_H
    height = HEADER_H + DRAWDOWN_PLOT_H + AXIS_H
    series = drawdown_series(ctx.equity, peak=ctx.start)
    if ctx.axis is None or not series:
        out += message(body_top, DRAWDOWN_PLOT_H, "No equity data")
        return out, height
    deepest = min(series, key=lambda p: p[1])
    if deepest[1] == 0:
        headline = "No trades" if ctx.no_trades else "No drawdown"
        out += message(body_top, DRAWDOWN_PLOT_H, headline, "equity never fell below its running peak")
        return out, height

    ticks, decimals = drawdown_ticks(deepest[1])
    frame = Frame(
        ctx.left,
        body_top,
        WIDTH - MARGIN_RIGHT - ctx.left,
        DRAWDOWN_PLOT_H,
        ctx.axis.t0,
        ctx.axis.t1,
        ticks[0],
        0.0,
    )
    out += y_axis(frame, ticks, decimals)
    out += x_axis(frame, ctx.axis)
    zero = frame.sy(0.0)
    xy = screen(frame, downsample(series))
    if len(xy) > 1:
        out += curve(xy, zero, RED, 0.22)
    out.append(line(frame.left, zero, frame.right, zero, INK))
    x, y = frame.sx(deepest[0]), frame.sy(deepest[1] / ONE)
    out.append(el("circle", cx=x, cy=y, r=3.5, fill=RED))
    # below the deepest point nothing else is drawn, and the axis leaves room for the label
    anchor = "middle"
    if x < frame.left + 60:
        anchor = "start"
    elif x > frame.right - 60:
        anchor = "end"
    label = dollars(deepest[1] / ONE)
    out.append(halo_text(x, y + 16, label, text_anchor=anchor, fill=RED, font_weight="bold"))
    return out, height


def _bar_detail(stats: Mapping[str, Any]) -> str:
    n = stats.get("trades")
    return f"{n} trade{'' if n == 1 else 's'} · {fmt_ratio_pct(stats.get('win_rate'))} won"


def _strategy_panel(top: float, ctx: _Context) -> tuple[list[str], float]:
    rows = strategy_rows(ctx.summary)
    out = panel_title(top + 14, "Net P&L by strategy", "after fees")
    body_top = top + HEADER_H
    if not rows:
        out += message(body_top, 110, "No trades", "no strategy closed a trade in this run")
        return out, HEADER_H + 110

    names = [name if len(name) <= 32 else name[:31] + "…" for name, _ in rows]
    details = [_bar_detail(stats) for _, stats in rows]
    widest = max(max(map(len, names)) * 8.0, max(map(len, details)) * CHAR_W)
    name_right = 16 + min(280.0, max(110.0, widest + 14))
    nets = [number(stats.get("net_pnl")) or 0.0 for _, stats in rows]
    lo, hi = min(0.0, *nets), max(0.0, *nets)
    if hi - lo < 1e-9:
        hi = 1.0
    label_w = max(len(dollars(v, plus=True)) for v in nets) * CHAR_W + 16
    pad_l = label_w if lo < 0 else 12.0
    pad_r = label_w if hi > 0 else 12.0
    plot_h = len(rows) * ROW_H
    frame = Frame(
        name_right + pad_l,
        body_top,
        WIDTH - MARGIN_RIGHT - name_right - pad_l - pad_r,
        plot_h,
        lo,
        hi,
        0.0,
        1.0,
    )
    ticks, decimals = nice_ticks(lo, hi, target=5)
    for t in ticks:
        if lo - 1e-9 <= t <= hi + 1e-9:
            x = frame.sx(t)
            out.append(line(x, body_top, x, frame.bottom, GRID))
            label = dollars(t, decimals, group=True)
            out.append(text_at(x, frame.bottom + 16, label, text_anchor="middle"))
    zero_x = frame.sx(0.0)
    for i, (name, shown, detail, net) in enumerate(
        zip([name for name, _ in rows], names, details, nets, strict=True)
    ):
        mid = body_top + i * ROW_H + ROW_H / 2
        out.append(text_at(name_right - 12, mid - 2, shown, font_size=13, fill=INK, text_anchor="end"))
        out.append(text_at(name_right - 12, mid + 13, detail, text_anchor="end"))
        x = frame.sx(net)
        colour = GREEN if net > 0 else RED if net < 0 else AXIS
        tip = el("title", f"{name}: net {fmt_money(net)} USD, {detail}")
        bar = el(
            "rect",
            x=min(x, zero_x),
            y=mid - 11,
            width=max(abs(x - zero_x), 1.0),
            height=22.0,
            rx=2,
            fill=colour,
        )
        out.append(f"<g>{tip}{bar}</g>")
        label = dollars(net, plus=True)
        if net < 0:
            out.append(
                text_at(
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
                text_at(
                    max(x, zero_x) + 6,
                    mid + 4,
                    label,
                    font_size=12,
                    font_weight="bold",
                    fill=GREEN if net > 0 else MUTED,
                )
            )
    out.append(line(zero_x, body_top - 4, zero_x, frame.bottom, INK))
    return out, HEADER_H + plot_h + 24


def _period(summary: Mapping[str, Any], equity: Sequence[EquityPoint]) -> str:
    start, end = summary.get("start_ms"), summary.get("end_ms")
    if not isinstance(start, int) or not isinstance(end, int):
        if not equity:
            return ""
        start, end = equity[0].ts_ms, equity[-1].ts_ms
    seconds = end - start < HOUR
    return f"{stamp(start, seconds)} → {stamp(end, seconds)} UTC"


def _subtitle(summary: Mapping[str, Any], equity: Sequence[EquityPoint]) -> str:
    parts = [_period(summary, equity)]
    n = summary.get("trades") or 0
    parts.append(f"{n} trade{'' if n == 1 else 's'}" if n else "no trades")
    net_pnl = number(summary.get("net_pnl"))
    if n and net_pnl is not None:
        parts.append(f"net {dollars(net_pnl, plus=True)}")
    return " · ".join(p for p in parts if p)


def _left_margin(equity: Sequence[EquityPoint], start: Micros | None) -> float:
    """One left edge for both time panels, wide enough for their longest dollar label."""
    labels: list[str] = []
    if equity:
        values = [p.equity for p in equity] + ([start] if start is not None else [])
        ticks, dec = value_ticks(min(values) / ONE, max(values) / ONE)
        labels += [dollars(t, dec, group=True) for t in ticks]
        deepest = min(v for _, v in drawdown_series(equity, peak=start))
        if deepest < 0:
            ticks, dec = drawdown_ticks(deepest)
            labels += [dollars(t, dec, group=True) for t in ticks]
    return 16 + max([44.0] + [len(s) * CHAR_W + 10 for s in labels])


def render_svg(
    summary: Mapping[str, Any],
    equity: Sequence[EquityPoint],
    title: str,
    trades: Sequence[ClosedTrade] = (),
) -> str:
    """The report picture as an SVG document (see the module docstring)."""
    ordered = sorted(equity, key=lambda p: p.ts_ms)
    start = usd_micros(summary.get("starting_balance"))
    left = _left_margin(ordered, start)
    axis = None
    if ordered:
        axis = time_axis(ordered[0].ts_ms, ordered[-1].ts_ms, WIDTH - MARGIN_RIGHT - left)
    ctx = _Context(summary, ordered, start, not summary.get("trades"), left, axis, trades)

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
        f'viewBox="0 0 {WIDTH} {height}" font-family="{esc(FONT)}" role="img">',
        el("title", title),
        el("rect", x=0, y=0, width=WIDTH, height=height, fill="#ffffff"),
        text_at(16, 32, title, font_size=20, font_weight="bold", fill=INK),
        text_at(16, 54, _subtitle(summary, ordered), font_size=13),
    ]
    for gid, frag in groups:
        lines.append(f'<g id="{gid}" class="panel">')
        lines += frag
        lines.append("</g>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"
