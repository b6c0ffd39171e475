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

from bot.model import ONE, Action, OrderType, Outcome, Signal, book_for
from bot.strategies.base import WindowState

GTC = OrderType.GTC
HOLD: dict[str, float] = {"stop_loss_pct": 0.0, "take_profit_pct": 0.0, "trailing_pct": 0.0}


def _buy(window: WindowState, name: str, outcome: Outcome, reason: str, ttl_s: int) -> Signal:
    ask = book_for(window.book, outcome)[2]
    return Signal(
        ts_ms=window.now_ms,
        strategy=name,
        market_id=window.market.market_id,
        outcome=outcome,
        action=Action.BUY,
        price=ask,
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
        # asked on every tick of a window until it enters: while a limit refuses the entry,
        # that is every tick, so this is _buy with nothing made twice
        if window.entries or window.seconds_left <= 0:
            return None
        book = window.book
        side = self.side
        ask = book.ask if side is Outcome.UP else ONE - book.bid
        market_id = window.market.market_id
        return Signal(
            window.now_ms,
            self.name,
            market_id,
            side,
            Action.BUY,
            ask,
            0,
            0.0,
            self.reason,
            None,
            GTC,
            self.params.ttl_s,
        )


class HoldUp(_Hold):
    name = "hold_up"
    side = Outcome.UP


class HoldDown(_Hold):
    name = "hold_down"
    side = Outcome.DOWN


BASELINES: dict[str, type] = {"favourite": Favourite, "hold_up": HoldUp, "hold_down": HoldDown}
