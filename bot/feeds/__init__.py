"""Market data in and out: the simulated market (simulated.py), the bot's own tape (tape.py),
backtest input formats (formats/) and replay/recording (replay.py).

Every feed offers the engine the same two calls."""

from __future__ import annotations

from typing import Protocol

from bot.model import MarketEvent


class Feed(Protocol):
    def peek_ms(self) -> int | None:
        """Market time of the next batch, or None when the data has ended."""
        ...

    def next_batch(self) -> list[MarketEvent]:
        """The events of the next market time, in order."""
        ...
