"""A benchmark-only strategy that builds a big book quickly: in every market it buys both
tokens (positions), then rests cheap bids that never fill, until `resting` orders exist."""

from __future__ import annotations

from bot.model import ONE, Action, Outcome, Signal, book_for
from bot.strategies import WindowState


class Ladder:
    name = "ladder"

    def __init__(self, resting: int = 200) -> None:
        self.resting = resting
        self.placed_resting = 0
        self.bought: set[tuple[str, Outcome]] = set()

    def evaluate(self, window: WindowState) -> Signal | None:
        market = window.market
        for outcome in (Outcome.UP, Outcome.DOWN):
            if (market.market_id, outcome) not in self.bought:
                self.bought.add((market.market_id, outcome))
                ask = book_for(window.book, outcome)[2]
                return self._signal(window, outcome, ask, "position")
        if self.placed_resting < self.resting:
            self.placed_resting += 1
            return self._signal(window, Outcome.UP, market.tick, "resting")
        return None

    def _signal(self, window: WindowState, outcome: Outcome, price: int, why: str) -> Signal:
        return Signal(
            ts_ms=window.now_ms,
            strategy=self.name,
            market_id=window.market.market_id,
            outcome=outcome,
            action=Action.BUY,
            price=price,
            reason=why,
            size=5 * ONE,
        )
