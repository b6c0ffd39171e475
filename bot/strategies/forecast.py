"""forecast: buy a side when the latest live forecast from inbox/ beats its ask by `min_edge`.

A forecast is someone's probability that the window finishes UP, handed to the bot as a
file in `inbox/` (inbox/README.md) until its `valid_until`. The newest live one of the
market counts; with none, the strategy does nothing. Like `edge`: one entry per window,
none in the last `min_seconds_left` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.model import Signal, to_micros
from bot.strategies.base import WindowState
from bot.strategies.edge import buy_the_edge


class ForecastStrategy:
    name = "forecast"

    @dataclass(frozen=True)
    class Params:
        min_edge: float = 0.05
        min_seconds_left: float = 20.0
        ttl_s: int = 30

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or ForecastStrategy.Params()
        self.min_edge = to_micros(round(self.params.min_edge, 6))

    def evaluate(self, window: WindowState) -> Signal | None:
        if not window.forecasts or window.entries or window.seconds_left < self.params.min_seconds_left:
            return None
        latest = window.forecasts[-1]
        whose = f"forecast by {latest.source}"
        return buy_the_edge(window, latest.p_up, self.min_edge, self.name, self.params.ttl_s, whose)
