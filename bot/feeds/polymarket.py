"""Live market data from Polymarket: the chosen markets' order books, polled into the same
`MarketEvent`s the simulated feed produces.

Interface of the engine's `Feed`: `peek_ms()` is the time of the next poll (None once every
market is resolved) and `next_batch()` polls. Per market it emits `WindowOpened` once (first
batch), a `BookTick` of the UP token whenever its top of book changes (the DOWN book mirrors
it, so one ``/book`` request per market), and `WindowResolved` when the ``/markets`` row says
the market is closed with a winner. The market row is read every `status_interval_s`, and
every few seconds once the window's end has passed or its book cannot be read.

The source is anything with ``get_order_book(token_id)`` and ``get_market(condition_id)``
returning the API's JSON: the `PolymarketVenue`, or a public ``py_clob_client_v2.ClobClient``.
A failed read skips that market for this poll (its `last_update_ms` then ages, which is what
feed-health checks look at); it never stops the feed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.model import BookTick, Market, MarketEvent, Outcome, WindowOpened, WindowResolved, now_ms
from bot.venues import polymarket_wire as wire

log = logging.getLogger(__name__)

RESOLUTION_RECHECK_MS = 5_000


class BookSource(Protocol):
    def get_order_book(self, token_id: str) -> Any: ...

    def get_market(self, condition_id: str) -> Any: ...


@dataclass
class _Watched:
    market: Market
    opened: bool = False
    top: tuple[int, int, int, int] | None = None  # last (bid, bid_size, ask, ask_size) emitted
    last_update_ms: int | None = None
    next_status_ms: int = 0
    resolved: bool = False
    failures: int = 0


class PolymarketFeed:
    def __init__(
        self,
        venue_or_client: BookSource,
        markets: Iterable[Market],
        poll_interval_s: float = 1.0,
        *,
        status_interval_s: float = 30.0,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._source = venue_or_client
        self._clock = clock
        self.poll_interval_ms = max(1, round(poll_interval_s * 1000))
        self.status_interval_ms = max(1, round(status_interval_s * 1000))
        self._watched: dict[str, _Watched] = {}
        for market in markets:
            if market.token_ids is None:
                raise ValueError(f"market {market.market_id} has no token ids")
            self._watched[market.market_id] = _Watched(market)
        self._next_ms = clock()

    # -- the feed interface -------------------------------------------------------------

    def peek_ms(self) -> int | None:
        """Time of the next poll; None when every market has resolved."""
        if all(w.resolved for w in self._watched.values()):
            return None
        return self._next_ms

    def next_batch(self) -> list[MarketEvent]:
        now = self._clock()
        events: list[MarketEvent] = []
        for watched in self._watched.values():
            if not watched.resolved:
                events += self._poll(watched, now)
        following = self._next_ms + self.poll_interval_ms
        self._next_ms = following if following > now else now + self.poll_interval_ms
        return events

    # -- health -------------------------------------------------------------------------

    def last_update_ms(self, market_id: str) -> int | None:
        """When the market's book was last read successfully (None: never)."""
        watched = self._watched.get(market_id)
        return watched.last_update_ms if watched else None

    @property
    def markets(self) -> list[Market]:
        return [w.market for w in self._watched.values()]

    # -- internals ----------------------------------------------------------------------

    def _poll(self, watched: _Watched, now: int) -> list[MarketEvent]:
        market = watched.market
        events: list[MarketEvent] = []
        if not watched.opened:
            watched.opened = True
            events.append(WindowOpened(now, market))
        tick = self._read_book(watched, now)
        if tick is not None:
            top = (tick.bid, tick.bid_size, tick.ask, tick.ask_size)
            if top != watched.top:
                watched.top = top
                events.append(tick)
        if now >= watched.next_status_ms:
            urgent = tick is None or now >= market.window_end_ms
            watched.next_status_ms = now + (RESOLUTION_RECHECK_MS if urgent else self.status_interval_ms)
            resolved = self._read_resolution(watched, now)
            if resolved is not None:
                events.append(resolved)
        return events

    def _read_book(self, watched: _Watched, now: int) -> BookTick | None:
        market = watched.market
        assert market.token_ids is not None
        try:
            tick = wire.parse_book(self._source.get_order_book(market.token_ids[0]), market, now)
        except Exception as exc:  # a feed survives any failed read, vendor errors included
            watched.failures += 1
            if watched.failures in (1, 10) or watched.failures % 100 == 0:
                log.warning(
                    "book of %s unreadable (%d in a row): %s", market.market_id, watched.failures, exc
                )
            return None
        watched.failures = 0
        watched.last_update_ms = now
        return tick

    def _read_resolution(self, watched: _Watched, now: int) -> WindowResolved | None:
        market = watched.market
        try:
            status = wire.parse_market_status(self._source.get_market(market.market_id))
        except Exception as exc:
            log.warning("status of %s unreadable: %s", market.market_id, exc)
            return None
        if not status.closed or status.winner_token is None:
            return None
        assert market.token_ids is not None
        if status.winner_token not in market.token_ids:
            log.error("market %s resolved to unknown token %s", market.market_id, status.winner_token)
            return None
        watched.resolved = True
        outcome = Outcome.UP if status.winner_token == market.token_ids[0] else Outcome.DOWN
        return WindowResolved(now, market.market_id, outcome)
