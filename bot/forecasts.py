"""Forecasts handed to the bot through `inbox/` (bot/inbox.py): the live ones, per market.

A forecast is someone's probability that a market's window finishes UP, valid until a wall
clock time. `Forecasts` keeps the last few per market and answers `live(market_id)`: those
not expired, oldest first (the newest is last). The engine gives them to every strategy in
`WindowState.forecasts`; the built-in `forecast` strategy trades on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.model import ONE, Micros, iso

KEPT_PER_MARKET = 10  # older forecasts of a market are forgotten


@dataclass(frozen=True, slots=True)
class Forecast:
    market_id: str
    p_up: Micros  # the probability that the window finishes UP, in micros (0.62 = 620_000)
    valid_until_ms: int  # wall clock
    source: str
    note: str
    received_ms: int  # wall clock
    file: str  # the inbox file it came in

    def view(self) -> dict[str, Any]:
        return {
            "market_id": self.market_id,
            "p_up": self.p_up / ONE,
            "valid_until": iso(self.valid_until_ms),
            "valid_until_epoch_s": self.valid_until_ms / 1000,
            "source": self.source,
            "note": self.note,
            "received_at": iso(self.received_ms),
            "file": self.file,
        }


class Forecasts:
    """The live forecasts per market; `wall_ms` is the clock their `valid_until` is read on."""

    def __init__(self, wall_ms: Callable[[], int]) -> None:
        self.wall_ms = wall_ms
        self._by_market: dict[str, list[Forecast]] = {}
        # the same dict, truthy while any market has a forecast: read on every tick, no call
        self.waiting: dict[str, list[Forecast]] = self._by_market

    def __bool__(self) -> bool:
        return bool(self._by_market)

    def add(self, forecast: Forecast) -> None:
        kept = self._by_market.setdefault(forecast.market_id, [])
        kept.append(forecast)
        del kept[:-KEPT_PER_MARKET]

    def live(self, market_id: str) -> tuple[Forecast, ...]:
        kept = self._by_market.get(market_id)
        if not kept:
            return ()
        now = self.wall_ms()
        if any(f.valid_until_ms <= now for f in kept):
            kept[:] = [f for f in kept if f.valid_until_ms > now]
            if not kept:
                del self._by_market[market_id]
                return ()
        return tuple(kept)

    def forget(self, market_id: str) -> None:
        """The market resolved: its forecasts mean nothing any more."""
        self._by_market.pop(market_id, None)

    def all_live(self) -> list[Forecast]:
        return [f for market_id in list(self._by_market) for f in self.live(market_id)]
