"""Per-strategy statistics: trades, wins, win rate (all and last 20), P&L, skip reasons.

Rebuilt from the journal at start (closed positions and unexecuted signals), then kept up
to date as positions close and signals are skipped. The journal has the same figures in
the `strategy_scorecard` view. Optionally (risk.disable_losing_strategies) a strategy whose
win rate is below `disable_below_win_rate` after `disable_after_trades` trades is disabled
until an operator names it again in ADJUST_RISK `allowed_strategies`.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from bot.journal import Journal
from bot.model import Mode, to_float

_FIGURES = re.compile(r"[^\s(]*\d[^\s)]*")


@lru_cache(maxsize=4096)  # a limit that holds gives the same reason in market after market
def reason_key(reason: str) -> str:
    """Group skip reasons that differ only in their figures: the part before ';', numbers as N."""
    return _FIGURES.sub("N", reason.split(";")[0])[:120]


@dataclass
class Card:
    trades: int = 0
    wins: int = 0
    pnl: int = 0
    last20: deque[bool] = field(default_factory=lambda: deque(maxlen=20))
    skips: Counter[str] = field(default_factory=Counter)
    counted_from: int = 0  # trades at the last re-enable; the auto-disable looks after it
    wins_from: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "trades": self.trades,
            "wins": self.wins,
            "win_rate": round(self.wins / self.trades, 4) if self.trades else None,
            "win_rate_last_20": round(sum(self.last20) / len(self.last20), 4) if self.last20 else None,
            "pnl": to_float(self.pnl),
            "top_skip_reasons": [{"reason": r, "count": n} for r, n in self.skips.most_common(3)],
        }


class Scorecard:
    def __init__(self, strategies: list[str]) -> None:
        self.cards: dict[str, Card] = {name: Card() for name in strategies}

    def restore(self, journal: Journal, mode: Mode) -> None:
        for r in journal.closed_positions(mode):
            self.closed(r["strategy"] or "", r["realized_pnl_micros"])
        for r in journal.skipped_signals():
            card = self.cards.get(r["strategy"])
            if card is not None:
                card.skips[reason_key(r["skip_reason"] or "")] += r["n"]

    def _card(self, strategy: str) -> Card:
        # not `setdefault(strategy, Card())`, which builds a Card (~0.8 µs) on every call and
        # drops it: a backtest records a skip thousands of times
        card = self.cards.get(strategy)
        if card is None:
            card = self.cards[strategy] = Card()
        return card

    def closed(self, strategy: str, pnl: int) -> None:
        card = self._card(strategy)
        card.trades += 1
        card.wins += pnl > 0
        card.pnl += pnl
        card.last20.append(pnl > 0)

    def skipped(self, strategy: str, reason: str) -> None:
        self._card(strategy).skips[reason_key(reason)] += 1

    def should_disable(self, strategy: str, after_trades: int, below: float) -> bool:
        card = self.cards.get(strategy)
        if card is None:
            return False
        trades = card.trades - card.counted_from
        wins = card.wins - card.wins_from
        return trades >= after_trades and wins / trades < below

    def reenabled(self, strategy: str) -> None:
        card = self._card(strategy)
        card.counted_from, card.wins_from = card.trades, card.wins

    def view(self) -> dict[str, Any]:
        return {name: card.view() for name, card in self.cards.items()}
