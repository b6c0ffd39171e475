"""Backtest result metrics: pure functions over closed trades and an equity curve.

Inputs are plain frozen dataclasses in integer micros (see `bot.model`): money, prices and
share counts are micros, times are epoch milliseconds UTC. Every sum is taken exactly in
integers (or exact fractions for means and ratios) and turned into a float only at the end,
so `summarize()` returns a JSON-ready dict whose money figures are floats of USD
(micros / 1e6, the shortest repr of which is the exact decimal).

Conventions:
- a trade is a win when its net P&L (after fees) is > 0 and a loss when it is < 0; a trade
  at exactly zero is neither (counted in `breakeven`). `win_rate` = wins / trades.
- drawdown is equity minus its running peak, so `drawdown_series()` values are <= 0;
  `max_drawdown` in the summary is the size of the deepest one as a positive amount, and
  `max_drawdown_pct` the largest fall from a peak as a percent of that peak.
- percents (`return_pct`, `max_drawdown_pct`) are in percent units (12.5 means 12.5 %),
  ratios (`win_rate`) are 0..1.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from bot.model import ONE, Micros, to_float

PCT_DIGITS = 4  # percents are rounded to 4 decimals (12.3457)
RATIO_DIGITS = 6  # ratios and means of money are rounded to 6 decimals (a micro)


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One round trip: shares bought at `entry_price`, sold or settled at `exit_price`.

    `intended_exit_price` is the price the exit aimed for (the limit or the mark when the
    exit was decided), None when unknown (e.g. a settlement). `net_pnl` = `gross_pnl` −
    `fees` as the backtest booked it; the metrics sum each column as given.
    """

    trade_id: str
    strategy: str
    market_id: str
    outcome: str  # "UP" / "DOWN"; a bot.model.Outcome is a str and works as is
    entry_ms: int
    exit_ms: int
    shares: Micros
    entry_price: Micros
    exit_price: Micros
    intended_exit_price: Micros | None
    gross_pnl: Micros
    fees: Micros
    net_pnl: Micros
    exit_reason: str


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """Account value at `ts_ms`: cash plus open positions marked to market."""

    ts_ms: int
    equity: Micros


# ---------------------------------------------------------------------------
# drawdown


def drawdown_series(equity: Iterable[EquityPoint], *, peak: Micros | None = None) -> list[tuple[int, Micros]]:
    """[(ts_ms, equity − running peak)] in micros, each value <= 0.

    `peak` seeds the running peak (pass the starting balance so that a curve whose first
    point is already below it shows that loss as a drawdown); by default the peak starts
    at the first point. Points are taken in the order given (time order).
    """
    out: list[tuple[int, Micros]] = []
    running = peak
    for point in equity:
        if running is None or point.equity > running:
            running = point.equity
        out.append((point.ts_ms, point.equity - running))
    return out


def _max_drawdown(equity: Sequence[EquityPoint], peak: Micros | None) -> tuple[Micros, Fraction]:
    """(deepest fall from a running peak in micros >= 0, largest fall / peak as a fraction)."""
    worst = 0
    worst_frac = Fraction(0)
    running = peak
    for point in equity:
        if running is None or point.equity > running:
            running = point.equity
        fall = running - point.equity
        if fall > worst:
            worst = fall
        if fall > 0 and running > 0:
            frac = Fraction(fall, running)
            if frac > worst_frac:
                worst_frac = frac
    return worst, worst_frac


# ---------------------------------------------------------------------------
# summary


def _usd(micros: int) -> float:
    return to_float(micros)


def _usd_mean(total_micros: int | Fraction, count: int) -> float | None:
    """Mean of micro amounts as USD, exact until the final rounding to the micro."""
    if count == 0:
        return None
    return round(float(Fraction(total_micros) / count / ONE), RATIO_DIGITS)


def _usd_exact(micros: Fraction) -> float:
    """A possibly fractional number of micros as USD, rounded to the micro."""
    return round(float(micros / ONE), RATIO_DIGITS)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, RATIO_DIGITS) if den else None


def _pct(frac: Fraction) -> float:
    return round(float(frac * 100), PCT_DIGITS)


def _exposure(samples: Sequence[tuple[int, Micros]]) -> dict[str, Any]:
    """Max and time-weighted mean of capital deployed.

    Each sample holds until the next one, so bursts of samples while trading do not bias
    the mean; when all samples share one timestamp the plain mean is used.
    """
    ordered = sorted(samples, key=lambda s: s[0])
    if not ordered:
        return {"samples": 0, "max": None, "mean": None}
    peak = max(value for _, value in ordered)
    span = ordered[-1][0] - ordered[0][0]
    if span > 0:
        area = sum(value * (nxt[0] - ts) for (ts, value), nxt in itertools.pairwise(ordered))
        mean = _usd_exact(Fraction(area, span))
    else:
        mean = _usd_exact(Fraction(sum(value for _, value in ordered), len(ordered)))
    return {"samples": len(ordered), "max": _usd(peak), "mean": mean}


def _slippage(trades: Sequence[ClosedTrade]) -> dict[str, Any]:
    """|exit − intended exit| × shares over trades whose intended exit is known.

    `adverse` is the signed cost Σ (intended − actual) × shares: exits sell held tokens, so
    a fill below the intended price is a cost (> 0) and one above it a gain (< 0).
    """
    count = 0
    abs_units = 0  # price micros × share micros = micros × ONE
    signed_units = 0
    for t in trades:
        if t.intended_exit_price is None:
            continue
        count += 1
        diff = t.intended_exit_price - t.exit_price
        abs_units += abs(diff) * t.shares
        signed_units += diff * t.shares
    total = Fraction(abs_units, ONE)
    return {
        "trades": count,
        "sum": _usd_exact(total),
        "mean": _usd_mean(total, count),
        "adverse": _usd_exact(Fraction(signed_units, ONE)),
    }


def _strategy_table(trades: Sequence[ClosedTrade]) -> dict[str, dict[str, Any]]:
    acc: dict[str, list[int]] = {}  # name -> [trades, wins, losses, gross, fees, net]
    for t in trades:
        row = acc.setdefault(t.strategy, [0, 0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += t.net_pnl > 0
        row[2] += t.net_pnl < 0
        row[3] += t.gross_pnl
        row[4] += t.fees
        row[5] += t.net_pnl
    return {
        name: {
            "trades": n,
            "wins": wins,
            "losses": losses,
            "win_rate": _ratio(wins, n),
            "net_pnl": _usd(net),
            "gross_pnl": _usd(gross),
            "fees": _usd(fees),
        }
        for name, (n, wins, losses, gross, fees, net) in sorted(acc.items())
    }


def summarize(
    trades: Sequence[ClosedTrade],
    equity: Sequence[EquityPoint],
    *,
    starting_balance: Micros,
    exposure_samples: Sequence[tuple[int, Micros]] | None = None,
) -> dict[str, Any]:
    """The figures of one backtest run as a JSON-ready dict (see the module docstring).

    `equity` is the curve in time order; the running peak for drawdowns starts at
    `starting_balance`. Without equity points the final equity is the starting balance plus
    the trades' net P&L. `exposure_samples` are (ts_ms, capital deployed in micros) pairs;
    without them `exposure` is None. Keys with no meaning for the data (win rate without
    trades, ...) are None.
    """
    ordered = sorted(equity, key=lambda p: p.ts_ms)  # stable: already-sorted input unchanged
    n = len(trades)
    wins = sum(1 for t in trades if t.net_pnl > 0)
    losses = sum(1 for t in trades if t.net_pnl < 0)
    gross = sum(t.gross_pnl for t in trades)
    fees = sum(t.fees for t in trades)
    net = sum(t.net_pnl for t in trades)
    final = ordered[-1].equity if ordered else starting_balance + net
    dd, dd_frac = _max_drawdown(ordered, starting_balance)
    return {
        "trades": n,
        "wins": wins,
        "losses": losses,
        "breakeven": n - wins - losses,
        "win_rate": _ratio(wins, n),
        "gross_pnl": _usd(gross),
        "fees": _usd(fees),
        "net_pnl": _usd(net),
        "starting_balance": _usd(starting_balance),
        "final_equity": _usd(final),
        "return_pct": (
            _pct(Fraction(final - starting_balance, starting_balance)) if starting_balance > 0 else None
        ),
        "max_drawdown": _usd(dd),
        "max_drawdown_pct": _pct(dd_frac),
        "avg_trade_pnl": _usd_mean(net, n),
        "best_trade": _usd(max(t.net_pnl for t in trades)) if trades else None,
        "worst_trade": _usd(min(t.net_pnl for t in trades)) if trades else None,
        "start_ms": ordered[0].ts_ms if ordered else None,
        "end_ms": ordered[-1].ts_ms if ordered else None,
        "exposure": _exposure(exposure_samples) if exposure_samples is not None else None,
        "slippage": _slippage(trades),
        "per_strategy": _strategy_table(trades),
    }
