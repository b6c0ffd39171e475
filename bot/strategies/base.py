"""What a strategy is: `Strategy` (a name and `evaluate(window) -> Signal | None`) and the
`WindowState` it sees (the book, the position, and the live forecasts from inbox/).
Custom strategies import these (also as `from bot.strategies import ...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NoReturn, Protocol

import msgspec

from bot.forecasts import Forecast
from bot.model import BookTick, Market, Micros, Outcome, Signal

NOTHING_HELD: Mapping[Outcome, Micros] = MappingProxyType({})


class WindowState(msgspec.Struct, gc=False):
    """What a strategy sees of one market at one tick; read-only (setting a field raises).
    The engine builds one per book tick and shows it to every strategy in turn, with each
    strategy's own `entries` (`for_strategy`): a strategy cannot change what the next one
    sees. `holding` is a read-only mapping (a dict given is copied into one).

    A msgspec Struct, not a class with `__slots__`: built once per book tick of a backtest,
    in about 110 ns instead of 230 (timeit, the engine's call of 8 fields). Not tracked by
    the garbage collector (`gc=False`): what it holds never refers back to it."""

    market: Market
    book: BookTick
    now_ms: int
    holding: Mapping[Outcome, Micros]  # shares held per outcome
    open_orders: int  # resting orders in this market
    entries: int  # entry orders this strategy placed in this window
    seconds_left: float  # until the window ends
    # the live forecasts of this market handed in through inbox/ (bot/forecasts.py), newest
    # last; `forecasts[-1].p_up` is the latest probability that the window finishes UP
    forecasts: tuple[Forecast, ...] = ()

    def __post_init__(self) -> None:
        if type(self.holding) is not MappingProxyType:  # the engine's is one already
            _force_setattr(self, "holding", MappingProxyType(dict(self.holding)))

    def for_strategy(self, entries: int) -> WindowState:
        """This window with a strategy's own count of entries (set only when it differs)."""
        if self.entries != entries:
            _force_setattr(self, "entries", entries)
        return self

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"WindowState is read-only: a strategy cannot set {name}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"WindowState is read-only: a strategy cannot delete {name}")


_force_setattr = msgspec.structs.force_setattr  # past __setattr__: the engine's own changes


class Strategy(Protocol):
    """`evaluate` is asked on every book tick of every market. Optional: `acts_within_s`, a
    number: the strategy proposes nothing while more seconds than that are left in a window,
    so the engine does not ask it then (`canary`: its `seconds_before_end`)."""

    name: str

    def evaluate(self, window: WindowState) -> Signal | None: ...
