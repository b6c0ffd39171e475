"""What a strategy is: `Strategy` (a name and `evaluate(window) -> Signal | None`) and the
`WindowState` it sees (the book, the position, and the live forecasts from inbox/).
Custom strategies import these (also as `from bot.strategies import ...`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.forecasts import Forecast
from bot.model import BookTick, Market, Micros, Outcome, Signal


@dataclass(slots=True)
class WindowState:
    """What a strategy sees of one market at one tick. Read-only by convention (not `frozen`,
    whose __init__ costs eight times as much: the engine builds one per strategy per tick)."""

    market: Market
    book: BookTick
    now_ms: int
    holding: dict[Outcome, Micros]  # shares held per outcome
    open_orders: int  # resting orders in this market
    entries: int  # entry orders this strategy placed in this window
    seconds_left: float  # until the window ends
    # the live forecasts of this market handed in through inbox/ (bot/forecasts.py), newest
    # last; `forecasts[-1].p_up` is the latest probability that the window finishes UP
    forecasts: tuple[Forecast, ...] = ()


class Strategy(Protocol):
    name: str

    def evaluate(self, window: WindowState) -> Signal | None: ...
