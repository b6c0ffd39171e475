"""What a strategy is: `Strategy` (a name and `evaluate(window) -> Signal | None`) and the
`WindowState` it sees (the book, the position, and the live forecasts from inbox/).
Custom strategies import these (also as `from bot.strategies import ...`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import ClassVar, NoReturn, Protocol

from bot.forecasts import Forecast
from bot.model import BookTick, Market, Micros, Outcome, Signal

NOTHING_HELD: Mapping[Outcome, Micros] = MappingProxyType({})


class _Fields:
    """WindowState's fields, writable: what the engine fills in (`WindowState.shared`); the
    result is a WindowState (its class is swapped once the fields are set)."""

    __slots__ = ("market", "book", "now_ms", "holding", "open_orders", "entries", "seconds_left", "forecasts")  # noqa: RUF023 - the order of __init__

    market: Market
    book: BookTick
    now_ms: int
    holding: Mapping[Outcome, Micros]  # shares held per outcome
    open_orders: int  # resting orders in this market
    entries: int  # entry orders this strategy placed in this window
    seconds_left: float  # until the window ends
    # the live forecasts of this market handed in through inbox/ (bot/forecasts.py), newest
    # last; `forecasts[-1].p_up` is the latest probability that the window finishes UP
    forecasts: tuple[Forecast, ...]

    def __init__(
        self,
        market: Market,
        book: BookTick,
        now_ms: int,
        holding: Mapping[Outcome, Micros],
        open_orders: int,
        seconds_left: float,
        forecasts: tuple[Forecast, ...],
    ) -> None:
        self.market = market
        self.book = book
        self.now_ms = now_ms
        self.holding = holding
        self.open_orders = open_orders
        self.entries = 0
        self.seconds_left = seconds_left
        self.forecasts = forecasts
        self.__class__ = WindowState  # the same slots, now read-only: ~30 ns, not a copy


_set_entries = _Fields.__dict__["entries"].__set__  # the slot's own setter, past __setattr__


class WindowState(_Fields):
    """What a strategy sees of one market at one tick; read-only (setting a field raises).
    The engine builds one per book tick and shows it to every strategy in turn, with each
    strategy's own `entries` (`shared`, `for_strategy`): a strategy cannot change what the
    next one sees. `holding` is a read-only mapping."""

    __slots__ = ()

    def __init__(
        self,
        market: Market,
        book: BookTick,
        now_ms: int,
        holding: Mapping[Outcome, Micros],
        open_orders: int,
        entries: int,
        seconds_left: float,
        forecasts: tuple[Forecast, ...] = (),
    ) -> None:
        if not isinstance(holding, MappingProxyType):
            holding = MappingProxyType(dict(holding))
        values = (market, book, now_ms, holding, open_orders, entries, seconds_left, forecasts)
        for name, value in zip(_Fields.__slots__, values, strict=True):
            object.__setattr__(self, name, value)

    # The engine's: one per tick, for every strategy (`holding` read-only already), made by
    # `_Fields` in one call: (market, book, now_ms, holding, open_orders, seconds_left, forecasts)
    shared: ClassVar[Callable[..., WindowState]]

    def for_strategy(self, entries: int) -> WindowState:
        """This window with a strategy's own count of entries (set only when it differs)."""
        if self.entries != entries:
            _set_entries(self, entries)
        return self

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"WindowState is read-only: a strategy cannot set {name}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"WindowState is read-only: a strategy cannot delete {name}")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _Fields.__slots__)
        return f"WindowState({fields})"


WindowState.shared = _Fields  # type: ignore[assignment]


class Strategy(Protocol):
    """`evaluate` is asked on every book tick of every market. Optional: `acts_within_s`, a
    number: the strategy proposes nothing while more seconds than that are left in a window,
    so the engine does not ask it then (`canary`: its `seconds_before_end`)."""

    name: str

    def evaluate(self, window: WindowState) -> Signal | None: ...
