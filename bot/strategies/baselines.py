"""Baselines: the simplest strategies, to hold a strategy's figures against on the same data.

`favourite`  `seconds_before_end` seconds before a window ends, buy the side the book
             favours (mid above 0.50) at the ask; sized like any strategy.
`hold_up`, `hold_down`  buy that side at the ask on the window's first tick.

All are held to settlement (no stop-loss, take-profit or trailing exit), one entry per
window. A backtest runs each through the same engine as the strategy (`bot backtest`
without `--no-baselines`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.model import ONE, Action, Outcome, Signal
from bot.strategies.base import WindowState

HOLD: dict[str, float] = {"stop_loss_pct": 0.0, "take_profit_pct": 0.0, "trailing_pct": 0.0}


def _buy(window: WindowState, name: str, outcome: Outcome, reason: str, ttl_s: int) -> Signal:
    book = window.book  # book_for(book, outcome)'s ask, inline: the hold baselines ask on every tick
    return Signal(
        ts_ms=window.now_ms,
        strategy=name,
        market_id=window.market.market_id,
        outcome=outcome,
        action=Action.BUY,
        price=book.ask if outcome is Outcome.UP else ONE - book.bid,
        reason=reason,
        ttl_s=ttl_s,
    )


class Favourite:
    name = "favourite"
    exits: ClassVar[dict[str, float]] = HOLD

    @dataclass(frozen=True)
    class Params:
        seconds_before_end: float = 60.0
        ttl_s: int = 20

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Favourite.Params()
        self.acts_within_s = self.params.seconds_before_end  # the engine does not ask it earlier

    def evaluate(self, window: WindowState) -> Signal | None:
        if window.entries or not 0 < window.seconds_left <= self.params.seconds_before_end:
            return None
        mid2 = window.book.bid + window.book.ask
        if mid2 == ONE:
            return None
        outcome = Outcome.UP if mid2 > ONE else Outcome.DOWN
        return _buy(window, self.name, outcome, f"favourite {outcome.value}", self.params.ttl_s)


class _Hold:
    name = ""
    side = Outcome.UP
    exits: ClassVar[dict[str, float]] = HOLD

    @dataclass(frozen=True)
    class Params:
        ttl_s: int = 20

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or _Hold.Params()
        self.reason = f"hold {self.side.value} from the open"

    def evaluate(self, window: WindowState) -> Signal | None:
        # asked on every tick of a window until it enters (every tick while a limit refuses it)
        if window.entries or window.seconds_left <= 0:
            return None
        return _buy(window, self.name, self.side, self.reason, self.params.ttl_s)


class HoldUp(_Hold):
    name = "hold_up"
    side = Outcome.UP


class HoldDown(_Hold):
    name = "hold_down"
    side = Outcome.DOWN


BASELINES: dict[str, type] = {"favourite": Favourite, "hold_up": HoldUp, "hold_down": HoldDown}
