"""What a strategy is: `Strategy` (a name and `evaluate(window) -> Signal | None`) and the
`WindowState` it sees. Custom strategies import these (also as `from bot.strategies import ...`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


class Strategy(Protocol):
    name: str

    def evaluate(self, window: WindowState) -> Signal | None: ...
