"""edge: buy a side when a fair-value estimate beats its ask by at least `min_edge`.

The estimate is the feed's fair-value forecast (the simulated market publishes a noisy
one; a backtest computes it from the underlying's price series, `bot.feeds.underlying`).
One entry per window; none in the last `min_seconds_left` seconds. `buy_the_edge` is
the rule itself, shared with the `forecast` strategy (bot/strategies/forecast.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.model import ONE, Action, BookTick, Micros, Outcome, Signal, to_micros
from bot.strategies.base import WindowState

UP, DOWN = Outcome.UP, Outcome.DOWN  # an enum member costs a lookup each time it is named


def buy_the_edge(
    window: WindowState, fair_up: Micros, min_edge: Micros, strategy: str, ttl_s: int, whose: str
) -> Signal | None:
    """Buy the side whose ask `fair_up` beats by at least `min_edge` (a tie goes to UP)."""
    book: BookTick = window.book
    down_ask = ONE - book.bid  # book_for(book, DOWN)'s ask, inline: this runs on every tick
    up_edge = fair_up - book.ask  # the book is the UP token's
    down_edge = (ONE - fair_up) - down_ask
    if up_edge >= min_edge and up_edge >= down_edge:
        edge, outcome, ask, fair = up_edge, UP, book.ask, fair_up
    elif down_edge >= min_edge:
        edge, outcome, ask, fair = down_edge, DOWN, down_ask, ONE - fair_up
    else:
        return None
    return Signal(
        ts_ms=window.now_ms,
        strategy=strategy,
        market_id=window.market.market_id,
        outcome=outcome,
        action=Action.BUY,
        price=ask,
        edge=edge,
        score=edge / ONE,
        reason=f"{whose} {fair / ONE:.3f} vs ask {ask / ONE:.2f}",
        ttl_s=ttl_s,
    )


class Edge:
    name = "edge"
    # what it reads from the book ticks: without a forecast it never fires (a backtest says so)
    needs: ClassVar[tuple[str, ...]] = ("fair_forecast",)

    @dataclass(frozen=True)
    class Params:
        min_edge: float = 0.05
        min_seconds_left: float = 20.0
        ttl_s: int = 30

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Edge.Params()
        self.min_edge = to_micros(round(self.params.min_edge, 6))
        self.min_seconds_left = self.params.min_seconds_left

    def evaluate(self, window: WindowState) -> Signal | None:
        fair_up = window.book.fair_forecast
        if fair_up is None or window.entries or window.seconds_left < self.min_seconds_left:
            return None
        book = window.book  # neither side's edge reaches min_edge: buy_the_edge's None, without the call
        if fair_up - book.ask < self.min_edge and book.bid - fair_up < self.min_edge:
            return None
        return buy_the_edge(window, fair_up, self.min_edge, self.name, self.params.ttl_s, "fair")
