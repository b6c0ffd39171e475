"""canary: prove the plumbing end to end with the smallest possible trade.

`seconds_before_end` seconds before a window ends, buy the side the book favours (mid
above 0.50) at the market's minimum size, at the ask, and hold it to settlement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.model import ONE, Action, Outcome, Signal
from bot.strategies.base import WindowState

UP, DOWN = Outcome.UP, Outcome.DOWN  # an enum member costs a lookup each time it is named


class Canary:
    name = "canary"
    # held to settlement: no stop-loss, take-profit or trailing exit unless bot.toml says so
    exits: ClassVar[dict[str, float]] = {"stop_loss_pct": 0.0, "take_profit_pct": 0.0, "trailing_pct": 0.0}

    @dataclass(frozen=True)
    class Params:
        seconds_before_end: float = 60.0
        ttl_s: int = 20

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Canary.Params()
        self.seconds_before_end = self.params.seconds_before_end
        self.acts_within_s = self.seconds_before_end  # the engine does not ask it earlier

    def evaluate(self, window: WindowState) -> Signal | None:
        if window.entries or not 0 < window.seconds_left <= self.seconds_before_end:
            return None
        book = window.book
        mid2 = book.bid + book.ask  # twice the UP mid
        if mid2 == ONE:
            return None
        outcome, ask = (UP, book.ask) if mid2 > ONE else (DOWN, ONE - book.bid)  # book_for's ask
        return Signal(
            ts_ms=window.now_ms,
            strategy=self.name,
            market_id=window.market.market_id,
            outcome=outcome,
            action=Action.BUY,
            price=ask,
            edge=0,
            score=abs(mid2 - ONE) / (2 * ONE),
            reason=f"book favours {outcome.value} ({mid2 / 2 / ONE:.3f} mid for UP)",
            size=window.market.min_size,
            ttl_s=self.params.ttl_s,
        )
