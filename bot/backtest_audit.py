"""What a backtest measures beside the engine, for results people can check.

- `MeasuringVenue`: the paper venue that also notes, for every entry fill, the price
  crossed against the token's mid at that moment (entry slippage).
- `TickDrawdown`: the deepest fall of equity from its running peak, from the marks at
  every timestamp of the data (not only at the equity curve's one-minute samples).
- `stop_periods`: every period when a risk limit, the trading state or a control stopped
  entries, from the journal's skipped signals: it starts at the first refusal and ends at
  the next entry of any strategy (or the end of the data).
- `unsettled`: positions still open at the end, with their value at the last marks.
- `per_market`: trades, P&L and fees per market, with its full name.
Nothing here reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from bot.journal import Journal
from bot.metrics import ClosedTrade
from bot.model import ONE, Action, Fill, Intent, Micros, Order, book_for, iso
from bot.portfolio import Portfolio
from bot.venues.paper import PaperVenue, _Book

MAX_LISTED = 200


@dataclass(slots=True)
class EntryFill:
    ts_ms: int
    order: Order
    price: Micros
    mid2: Micros  # twice the mid of the token bought (exact)
    shares: Micros


class MeasuringVenue(PaperVenue):
    """PaperVenue that keeps each entry fill's price and the mid it crossed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entry_fills: list[EntryFill] = []

    def _fill(
        self, order: Order, shares: Micros, price: Micros, ts: int, book: _Book, maker: bool = False
    ) -> Fill:
        if order.intent is Intent.ENTRY and order.action is Action.BUY:
            bid, _, ask, _ = book_for(book.tick, order.outcome)
            self.entry_fills.append(EntryFill(ts, order, price, bid + ask, shares))
        return super()._fill(order, shares, price, ts, book, maker)


def entry_slippage(fills: Iterable[EntryFill], journal: Journal) -> dict[str, Any]:
    """(price − mid) × shares over entry fills, in USD; per strategy too (from the journal's
    orders: a fill at placing comes before the order manager names the strategy)."""
    strategy = journal.order_strategies()
    total = Fraction(0)
    per: dict[str, list[Any]] = {}
    count = 0
    for f in fills:
        cost = Fraction((2 * f.price - f.mid2) * f.shares, 2 * ONE * ONE)
        total += cost
        count += 1
        row = per.setdefault(strategy.get(f.order.order_id, f.order.strategy), [0, Fraction(0)])
        row[0] += 1
        row[1] += cost
    return {
        "fills": count,
        "sum": _usd(total),
        "mean": _usd(total / count) if count else None,
        "by_strategy": {k: {"fills": v[0], "sum": _usd(v[1])} for k, v in sorted(per.items())},
        "note": "price paid minus the token's mid at the fill, times shares",
    }


def _usd(x: Fraction) -> float:
    return round(float(x), 6)


@dataclass
class TickDrawdown:
    """Running peak and deepest fall of equity, fed at every timestamp."""

    peak: Micros
    worst: Micros = 0
    worst_frac: Fraction = field(default_factory=Fraction)
    worst_ms: int | None = None

    def update(self, ts_ms: int, equity: Micros) -> None:
        peak = self.peak
        if equity > peak:
            self.peak = equity
            return
        fall = peak - equity
        if fall > self.worst:
            self.worst = fall
            self.worst_ms = ts_ms
        if peak > 0 and fall:
            # fall / peak > worst_frac, compared in integers: a Fraction at every timestamp
            # cost more than the rest of this bookkeeping
            worst = self.worst_frac
            if fall * worst.denominator > worst.numerator * peak:
                self.worst_frac = Fraction(fall, peak)

    def figures(self) -> dict[str, Any]:
        """The summary's drawdown keys, from every timestamp's marks."""
        return {
            "max_drawdown": self.worst / ONE,
            "max_drawdown_pct": round(float(self.worst_frac * 100), 4),
            "max_drawdown_at": None if self.worst_ms is None else iso(self.worst_ms),
            "drawdown_from": "the marks at every timestamp of the data",
        }


def equity_now(portfolio: Portfolio) -> Micros:
    positions = portfolio.positions
    if not positions:
        return portfolio.cash
    return portfolio.cash + sum(portfolio.value(p) for p in positions.values())


def stop_periods(journal: Journal, end_ms: int) -> list[dict[str, Any]]:
    """Every period when entries were refused, per limit (see the module doc)."""
    rows = journal.signals_in_order()
    open_: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []

    def close(ts: int) -> None:
        for period in open_.values():
            period["end_ms"] = ts
            out.append(period)
        open_.clear()

    for r in rows:
        if r["executed"]:
            close(r["ts_ms"])
            continue
        reason = r["skip_reason"] or ""
        limit = reason.rsplit("[", 1)[-1].rstrip("]") if reason.endswith("]") else "other"
        period = open_.get(limit)
        if period is None:
            period = open_[limit] = {
                "limit": limit,
                "start_ms": r["ts_ms"],
                "end_ms": None,
                "reason": reason.rsplit(" [", 1)[0][:200],
                "refusals": 0,
                "markets": set(),
            }
        period["refusals"] += 1
        period["markets"].add(r["market_id"])
    close(end_ms)
    out.sort(key=lambda p: (p["start_ms"], p["limit"]))
    return [
        {
            **p,
            "start": iso(p["start_ms"]),
            "end": iso(p["end_ms"]),
            "markets": len(p["markets"]),
            "until": "an entry" if p["end_ms"] != end_ms else "the end of the data",
        }
        for p in out[:MAX_LISTED]
    ]


def unsettled(portfolio: Portfolio, names: Mapping[str, str]) -> dict[str, Any]:
    """Positions open at the end: shares, cost and value at the last marks."""
    rows: list[dict[str, Any]] = []
    for (market_id, outcome), p in sorted(
        portfolio.positions.items(), key=lambda kv: (kv[0][0], kv[0][1].value)
    ):
        if not p.shares:
            continue
        rows.append(
            {
                "market_id": market_id,
                "name": names.get(market_id, market_id),
                "outcome": outcome.value,
                "strategy": p.strategy,
                "shares": p.shares / ONE,
                "cost": (p.cost + p.fees) / ONE,
                "value": portfolio.value(p) / ONE,
            }
        )
    return {
        "positions": len(rows),
        "cost": round(sum(r["cost"] for r in rows), 6),
        "value": round(sum(r["value"] for r in rows), 6),
        "list": rows[:MAX_LISTED],
    }


def per_market(trades: Iterable[ClosedTrade], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per market, in the order of their first entry."""
    acc: dict[str, list[int]] = {}
    for t in trades:
        row = acc.setdefault(t.market_id, [0, 0, 0, 0, 0, t.entry_ms])
        row[5] = min(row[5], t.entry_ms)
        row[0] += 1
        row[1] += t.net_pnl > 0
        row[2] += t.gross_pnl
        row[3] += t.fees
        row[4] += t.net_pnl
    return [
        {
            "market_id": m,
            "name": names.get(m, m),
            "trades": r[0],
            "wins": r[1],
            "gross_pnl": r[2] / ONE,
            "fees": r[3] / ONE,
            "net_pnl": r[4] / ONE,
        }
        for m, r in sorted(acc.items(), key=lambda kv: (kv[1][5], kv[0]))
    ]
