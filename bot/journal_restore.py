"""Reading the journal back after a restart: what the engine needs to resume (`Restored`).

A part of `Journal` (bot/journal.py), which sets `conn` and the reads below; its SQL is the
journal's (tests/unit/test_sql_owners.py counts this module with it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.model import Market, Mode, Order, Outcome, Position


@dataclass
class Restored:
    """What the engine needs to resume after a restart."""

    cash: int
    open_orders: list[Order]
    positions: list[Position]
    markets: list[Market]
    clock_ms: int | None
    # market id -> where its strike came from (`feed`, `gamma`, None: not said), for the
    # fair-value feed to take it back (bot/strikes.py)
    strike_sources: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Restored:
        """A home with no history (a backtest, a benchmark)."""
        return cls(cash=0, open_orders=[], positions=[], markets=[], clock_ms=None)


class Restoring:
    """`Journal.restore`: the open orders, positions and markets, the cash and the clock."""

    if TYPE_CHECKING:  # the journal's own reads (bot/journal.py)

        def rows(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[dict[str, Any]]: ...

        def get_meta(self, key: str) -> str | None: ...

        def cash_balance(self, mode: Mode) -> int: ...

    def restore(self, mode: Mode) -> Restored:
        from bot.model import Action, Intent, OrderStatus, OrderType

        orders = [
            Order(
                order_id=r["order_id"],
                market_id=r["market_id"],
                outcome=Outcome(r["outcome"]),
                action=Action(r["action"]),
                price=r["price_micros"],
                size=r["size_micros"],
                order_type=OrderType(r["order_type"]),
                intent=Intent(r["intent"]),
                created_ms=r["created_ms"],
                expires_ms=r["expires_ms"],
                filled=r["filled_micros"],
                status=OrderStatus(r["status"]),
                strategy=r["strategy"] or "",
                edge=r["edge_micros"] or 0,
                reason=r["reason"] or "",
            )
            for r in self.rows(
                "SELECT * FROM orders WHERE mode=? AND status IN"
                " ('OPEN','PARTIALLY_FILLED','UNKNOWN') ORDER BY created_ms, order_id",
                (mode.value,),
            )
        ]
        positions = [
            position_from_row(r)
            for r in self.rows(
                "SELECT * FROM positions WHERE mode=? AND status='OPEN' ORDER BY position_id",
                (mode.value,),
            )
        ]
        rows = list(self.rows("SELECT * FROM markets WHERE resolved_ms IS NULL"))
        markets = [
            Market(
                market_id=r["market_id"],
                instrument=r["instrument"],
                name=r["name"],
                window_start_ms=r["window_start_ms"],
                window_end_ms=r["window_end_ms"],
                strike=r["strike"],
                tick=r["tick_micros"],
                min_size=r["min_size_micros"],
                fee_rate_ppm=r["fee_rate_ppm"],
            )
            for r in rows
        ]
        clock = self.get_meta(f"clock_ms:{mode.value}")
        return Restored(
            cash=self.cash_balance(mode),
            open_orders=orders,
            positions=positions,
            markets=markets,
            clock_ms=int(clock) if clock else None,
            strike_sources={r["market_id"]: r["strike_source"] for r in rows if r["strike"] is not None},
        )


def position_from_row(r: dict[str, Any]) -> Position:
    return Position(
        market_id=r["market_id"],
        outcome=Outcome(r["outcome"]),
        shares=r["shares_micros"],
        cost=r["cost_micros"],
        fees=r["fees_micros"],
        bought=r["bought_micros"],
        bought_cost=r["bought_cost_micros"],
        sold=r["sold_micros"],
        sold_value=r["sold_value_micros"],
        total_fees=r["total_fees_micros"],
        realized=r["realized_pnl_micros"],
        opened_ms=r["opened_ms"],
        entry_edge=r["entry_edge_micros"] or 0,
        strategy=r["strategy"] or "",
        position_id=r["position_id"],
        exit_reason=r["exit_reason"] or "",
        state=r["lifecycle"] or "MONITORING",
        stop_price=r["stop_price_micros"] or 0,
        target_price=r["target_price_micros"] or 0,
        peak=r["peak_price_micros"] or 0,
        exit_trigger=r["exit_trigger"] or "",
        exit_threshold=r["exit_threshold"] or "",
        trigger_price=r["trigger_price_micros"] or 0,
        intended_exit_price=r["intended_exit_price_micros"] or 0,
    )
