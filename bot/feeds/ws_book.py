"""One token's order book kept from websocket snapshots and level changes.

Seeded by a ``book`` snapshot (or a REST ``/book`` read after a gap), then changed level by
level: a change sets the level's new total size, 0 removes it (a change older than the
snapshot is already in it). The book is `trusted` only between a seed and the first sign it
may be wrong: a change older than the previous change (out of order), a change
whose own ``best_bid``/``best_ask`` disagree with the book after applying it (a missed
message), or a crossed top. An untrusted book is never shown to the engine; the feed
re-reads it over REST (`reason` says why).
"""

from __future__ import annotations

from bot.feeds.polymarket_ws_wire import LevelChange
from bot.model import ONE, Micros

Top = tuple[Micros, Micros, Micros, Micros]  # bid, bid size, ask, ask size


class LocalBook:
    def __init__(self) -> None:
        self.bids: dict[Micros, Micros] = {}
        self.asks: dict[Micros, Micros] = {}
        self.seed_ts_ms = 0  # the venue time of the snapshot
        self.ts_ms = 0  # the venue time of the seed or the last change applied
        self.trusted = False
        self.reason = "no snapshot yet"

    def seed(self, bids: dict[Micros, Micros], asks: dict[Micros, Micros], ts_ms: int) -> None:
        self.bids, self.asks = dict(bids), dict(asks)
        self.seed_ts_ms = self.ts_ms = ts_ms
        self.trusted, self.reason = True, ""
        self._check_crossed()

    def distrust(self, reason: str) -> None:
        if self.trusted:
            self.trusted, self.reason = False, reason

    def apply(self, change: LevelChange, ts_ms: int) -> None:
        if not self.trusted:
            return  # nothing builds on a book that must be re-read first
        if ts_ms < self.seed_ts_ms:
            return  # already in the snapshot
        if ts_ms < self.ts_ms:
            self.distrust(f"out of order: change at {ts_ms} after one at {self.ts_ms}")
            return
        side = self.bids if change.buy else self.asks
        if change.size:
            side[change.price] = change.size
        else:
            side.pop(change.price, None)
        self.ts_ms = ts_ms
        bid, _, ask, _ = self.top()
        if change.best_bid is not None and change.best_bid != bid and (change.best_bid or bid):
            self.distrust(f"best bid {change.best_bid / ONE:g} != book's {bid / ONE:g}")
        elif change.best_ask is not None and change.best_ask != ask and (change.best_ask < ONE or ask < ONE):
            self.distrust(f"best ask {change.best_ask / ONE:g} != book's {ask / ONE:g}")
        else:
            self._check_crossed()

    def top(self) -> Top:
        """Best bid and ask with their sizes; an empty side is (0, 0) or (1, 0), as in REST."""
        bid = max(self.bids) if self.bids else 0
        ask = min(self.asks) if self.asks else ONE
        return bid, self.bids.get(bid, 0), ask, self.asks.get(ask, 0)

    def _check_crossed(self) -> None:
        if self.bids and self.asks and max(self.bids) >= min(self.asks):
            self.distrust(f"crossed: bid {max(self.bids) / ONE:g} >= ask {min(self.asks) / ONE:g}")
