"""Strategies for the live and dry-run end-to-end tests (loaded by `module:Class`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.model import Action, Outcome, Signal, book_for
from bot.strategies import WindowState


class BuyOnce:
    """Buy the UP token once per market: at the ask (takes) or at the bid (rests)."""

    name = "buy_once"

    @dataclass(frozen=True)
    class Params:
        at: str = "ask"
        shares: float = 10.0

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or BuyOnce.Params()

    def evaluate(self, window: WindowState) -> Signal | None:
        if window.entries:
            return None
        bid, _, ask, _ = book_for(window.book, Outcome.UP)
        return Signal(
            ts_ms=window.now_ms,
            strategy=self.name,
            market_id=window.market.market_id,
            outcome=Outcome.UP,
            action=Action.BUY,
            price=ask if self.params.at == "ask" else bid,
            reason=f"test entry at the {self.params.at}",
            size=round(self.params.shares * 1_000_000),
        )
