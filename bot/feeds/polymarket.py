"""Live market data from Polymarket: the chosen markets' order books, polled into the same
`MarketEvent`s the simulated feed produces.

Interface of the engine's `Feed`: `peek_ms()` is the time of the next poll (None once every
market is resolved) and `next_batch()` polls. Per market it emits `WindowOpened` once (first
batch), a `BookTick` of the UP token whenever its top of book changes (the DOWN book mirrors
it, so one ``/book`` request per market), and `WindowResolved` when the ``/markets`` row says
the market is closed with a winner. The market row is read every `status_interval_s`, at
the window's end, and every few seconds once the end has passed or the book cannot be read.

Each ``/book`` answer also carries the market's current ``tick_size`` and
``min_order_size``; when either differs from what the feed last said, a new `WindowOpened`
with the updated `Market` comes before that book's tick, so the engine, its risk gates, the
strategies and the venue use the venue's current rules, not only after a refused order.

The source is anything with ``get_order_book(token_id)`` and ``get_market(condition_id)``
returning the API's JSON: the `PolymarketVenue`, or a public ``py_clob_client_v2.ClobClient``.
A failed read skips that market for this poll (its `last_update_ms` then ages, which is what
feed-health checks look at); it never stops the feed. Failed reads are logged at the 1st,
10th, 100th... in a row; a busy venue (425, the weekly engine restart, `VenueBusy`) is logged
once when it starts and once, with how long it lasted, when a book is read again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.errors import VenueBusy
from bot.model import BookTick, Market, MarketEvent, Outcome, WindowOpened, WindowResolved, now_ms
from bot.venues.polymarket import wire

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
            self.add_market(market)
        self._next_ms = clock()
        self.busy_since_ms: int | None = None  # when the venue began to answer 425 (None: it does not)

    # -- markets (the rolling windows come and go: bot/feeds/rolling.py) ------------------

    def add_market(self, market: Market) -> None:
        if market.token_ids is None:
            raise ValueError(f"market {market.market_id} has no token ids")
        self._watched.setdefault(market.market_id, _Watched(market))

    def remove_market(self, market_id: str) -> None:
        self._watched.pop(market_id, None)

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
        tick = self._read_book(watched, now, events)
        if tick is not None:
            top = (tick.bid, tick.bid_size, tick.ask, tick.ask_size)
            if top != watched.top:
                watched.top = top
                events.append(tick)
        if now >= watched.next_status_ms:
            urgent = tick is None or now >= market.window_end_ms
            following = now + (RESOLUTION_RECHECK_MS if urgent else self.status_interval_ms)
            if now < market.window_end_ms:  # look as soon as the window ends
                following = min(following, market.window_end_ms)
            watched.next_status_ms = following
            resolved = self._read_resolution(watched, now)
            if resolved is not None:
                events.append(resolved)
        return events

    def _read_book(self, watched: _Watched, now: int, events: list[MarketEvent]) -> BookTick | None:
        market = watched.market
        assert market.token_ids is not None
        try:
            data = self._source.get_order_book(market.token_ids[0])
            tick = wire.parse_book(data, market, now)
            changed = with_rules(market, data)
        except VenueBusy as exc:  # the engine restart: one line when it starts, one when it ends
            watched.failures += 1
            self._busy(now, exc)
            return None
        except Exception as exc:  # a feed survives any failed read, vendor errors included
            watched.failures += 1
            if watched.failures in (1, 10) or watched.failures % 100 == 0:
                log.warning(
                    "book of %s unreadable (%d in a row): %s", market.market_id, watched.failures, exc
                )
            return None
        watched.failures = 0
        watched.last_update_ms = now
        if self.busy_since_ms is not None:
            waited = (now - self.busy_since_ms) / 1000
            log.warning("venue answering again: book reads resumed after %.0f s busy (425)", waited)
            self.busy_since_ms = None
        if changed is not None:
            log.info(
                "market %s: tick %g, minimum size %g",
                market.market_id,
                changed.tick / 1e6,
                changed.min_size / 1e6,
            )
            watched.market = changed
            events.append(WindowOpened(now, changed))
        return tick

    def _busy(self, now: int, exc: VenueBusy) -> None:
        if self.busy_since_ms is None:
            self.busy_since_ms = now
            log.warning("venue busy (425, engine restart): book reads wait until it answers: %s", exc)

    def _read_resolution(self, watched: _Watched, now: int) -> WindowResolved | None:
        market = watched.market
        try:
            status = wire.parse_market_status(self._source.get_market(market.market_id))
        except VenueBusy as exc:
            self._busy(now, exc)
            return None
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


def with_rules(market: Market, data: Any) -> Market | None:
    """The market with the book's tick and minimum size, when they differ (else None)."""
    if not isinstance(data, Mapping):
        return None
    tick, size = data.get("tick_size"), data.get("min_order_size")
    new_tick = wire.tick_micros(tick, "book.tick_size") if tick not in (None, "") else market.tick
    new_size = wire.micros(size, "book.min_order_size") if size not in (None, "") else market.min_size
    if (new_tick, new_size) == (market.tick, market.min_size):
        return None
    return dataclasses.replace(market, tick=new_tick, min_size=new_size)
