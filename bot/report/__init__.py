"""A backtest report as one SVG picture and one self-contained HTML page.

`write_report()` draws three stacked panels (equity curve, drawdown below zero, net P&L per
strategy) into `report.svg` and embeds that picture in `report.html` together with the
summary figures, a per-strategy table and the first trades. Everything is built as plain
strings: no plotting library, no scripts, no external fonts or links, and no clock, so the
same inputs give byte-identical files.

Figures shown in the HTML tables are the values of the summary dict (see
`bot.metrics.summarize`) formatted with 2 decimals for money (USD) and 1 for percents
(the 0..1 win rate is shown ×100), so they match summary.json digit for digit.

The package, by job: `formatting` (numbers, money and times as text), `svg` (SVG elements,
plot frame, axes, downsampling), `panels` (the picture, `render_svg`), `markers` (trades and
stopped entries on the equity curve), `research` (data, settings, baselines, stops, markets), `page` (the HTML
page, `render_html`); `write_report` here writes both files. Imports go one way:
formatting ← svg ← panels, formatting ← page.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.metrics import ClosedTrade, EquityPoint
from bot.report.formatting import fmt_money, fmt_pct, fmt_ratio_pct
from bot.report.page import MAX_TRADE_ROWS, render_html
from bot.report.panels import render_svg
from bot.report.svg import MAX_POINTS, downsample

__all__ = [
    "MAX_POINTS",
    "MAX_TRADE_ROWS",
    "downsample",
    "fmt_money",
    "fmt_pct",
    "fmt_ratio_pct",
    "render_html",
    "render_svg",
    "write_report",
]


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
    svg = render_svg(summary, equity, title, trades)
    page = render_html(summary, svg, trades, title)
    paths = {"svg": out_dir / "report.svg", "html": out_dir / "report.html"}
    paths["svg"].write_bytes(svg.encode("utf-8"))
    paths["html"].write_bytes(page.encode("utf-8"))
    return paths
