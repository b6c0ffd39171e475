"""The live book feed with rolling windows: the roller's windows subscribed as they come, each
opened for trading at its start, resolved from Gamma, dropped; the feed never ends.

`RollingFeed(inner, roller, market_clock)` runs on the feed thread (inside `BackgroundFeed`),
around the REST poller or the market websocket (`inner`, which has `add_market` and
`remove_market`). At each batch it first takes the roller's changes (bot/markets/roller.py):

- `Admitted`: the window's book is subscribed (`inner.add_market`) `subscribe_ahead_ms`
  before it opens (twice the lead: 120 s; at once when that is past), so the book is read
  for two minutes rather than for the whole window before (four hours for a 4-hour series).
  The `WindowOpened` the inner feed emits is held until the window's
  start (by the market clock), with the window's books, then released with the last book
  seen, so the engine, the tape and the strategies see the window only while it is open; its
  book is fresh the moment it opens.
- `Resolved`: Gamma's result (UP, DOWN, or None for a 50/50 split) becomes `WindowResolved`
  (unless the CLOB said it first) and the book is dropped (`inner.remove_market`). Why and
  when is kept (`dropped`, for the last `DROPS_KEPT` windows): an entry the engine proposes
  before the resolution reaches it is refused as "no longer followed", not as a stale book.

`RollerSide(books, roller, register, clock)` is what the engine calls (on its thread): before each
batch it registers every admitted window with the venue (`register`: the market's
`MarketInfo`, which orders are signed with) and writes the roller's DISCOVERY lines, so a
window is known to the venue before its `WindowOpened` can reach the engine (the roller puts
each window on the engine's queue before the feed's). Its `peek_ms` is never None: with a
series configured there is always a next window. status.json's `discovery` block comes from
`discovery_status()`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from bot.markets.roller import Admitted, Notice, Official, Resolved, Roller
from bot.model import (
    BookTick,
    Market,
    MarketEvent,
    Outcome,
    WindowOpened,
    WindowResolved,
    iso,
    now_ms,
    resolution_name,
)

IDLE_MS = 250  # how soon an idle rolling feed looks again for windows to open or subscribe
DROPS_KEPT = 1_000  # why a window was dropped, kept for this many of the newest


class RollingFeed:
    def __init__(
        self,
        inner: Any,
        roller: Roller,
        market_clock: Callable[[], int],
        subscribe_ahead_ms: int | None = None,
    ) -> None:
        self.inner = inner
        self.roller = roller
        self._market_clock = market_clock
        self.subscribe_ahead_ms = 2 * roller.lead_ms if subscribe_ahead_ms is None else subscribe_ahead_ms
        self._waiting: dict[str, Admitted] = {}  # by market id: admitted, not subscribed yet
        self._rolled: dict[str, Admitted] = {}  # by market id: subscribed, not resolved
        self.leads_ms: deque[int] = deque(maxlen=1000)  # subscribed this long before it opened
        self._held: dict[str, WindowOpened] = {}  # opened by the inner feed, before the start
        self._last: dict[str, BookTick] = {}  # the last book of a held window
        self._done: set[str] = set()  # resolved (by the CLOB or by Gamma)
        self._dropped: dict[str, str] = {}  # market id -> why and when its book was dropped
        self.opened = 0  # windows released for trading (tests and the bench)

    # -- the feed interface (feed thread) ---------------------------------------------------

    def peek_ms(self) -> int | None:
        due = self.inner.peek_ms()
        soon = now_ms() + IDLE_MS
        return soon if due is None else min(due, soon)

    def next_batch(self) -> list[MarketEvent]:
        now = self._market_clock()
        events: list[MarketEvent] = []
        for change in self.roller.feed_changes():
            if isinstance(change, Admitted):
                self._admit(change)
            else:
                self._resolve(change, now, events)
        for market_id, admitted in list(self._waiting.items()):
            if now >= admitted.market.window_start_ms - self.subscribe_ahead_ms:
                del self._waiting[market_id]
                self._subscribe(admitted, now)
        batch = self.inner.next_batch() if self.inner.peek_ms() is not None else []
        for event in batch:
            self._pass(event, now, events)
        for market_id in [m for m, held in self._held.items() if now >= held.market.window_start_ms]:
            held = self._held.pop(market_id)
            self.opened += 1
            events.append(WindowOpened(now, held.market))
            last = self._last.pop(market_id, None)
            if last is not None:
                events.append(msgspec.structs.replace(last, ts_ms=now))
        return events

    def __getattr__(self, name: str) -> object:  # last_update_ms, market_health...: the inner feed's
        return getattr(self.inner, name)

    def dropped(self, market_id: str) -> str | None:
        """Why and when this feed stopped following the market; None while it follows it
        (or never did). Read on the engine's thread: one dict look-up."""
        return self._dropped.get(market_id)

    # -- internals ---------------------------------------------------------------------------

    def _admit(self, admitted: Admitted) -> None:
        market_id = admitted.market.market_id
        if market_id not in self._rolled and market_id not in self._done:
            self._waiting[market_id] = admitted

    def _subscribe(self, admitted: Admitted, now: int) -> None:
        self._rolled[admitted.market.market_id] = admitted
        self.inner.add_market(admitted.market)
        if admitted.market.window_start_ms > now:
            self.leads_ms.append(admitted.market.window_start_ms - now)
        self.roller.subscribed(admitted, now)

    def _pass(self, event: MarketEvent, now: int, events: list[MarketEvent]) -> None:
        market_id = event.market.market_id if isinstance(event, WindowOpened) else event.market_id
        rolled = self._rolled.get(market_id)
        not_open = rolled is not None and now < rolled.market.window_start_ms
        if isinstance(event, WindowOpened) and (not_open or market_id in self._held):
            self._held[market_id] = event  # the newest rules win
            return
        if type(event) is BookTick and market_id in self._held:
            self._last[market_id] = event  # the engine gets it when the window opens
            return
        events.append(event)
        if isinstance(event, WindowResolved):
            self._drop(market_id, now, event.outcome, "the CLOB")

    def _resolve(self, change: Resolved, now: int, events: list[MarketEvent]) -> None:
        waiting = self._waiting.pop(change.market_id, None)
        if waiting is not None and waiting.taken_back and change.market_id not in self._done:
            # a window the restart holds, resolved before its book was read again: booked
            self._done.add(change.market_id)
            events.append(WindowResolved(now, change.market_id, change.outcome))
            return
        if change.market_id in self._done or change.market_id not in self._rolled:
            return  # never subscribed: the engine never saw it
        if change.market_id not in self._held:  # outcome None: resolved 50/50 (SPLIT)
            events.append(WindowResolved(now, change.market_id, change.outcome))
        self._drop(change.market_id, now, change.outcome, "Gamma")

    def _drop(self, market_id: str, now: int, outcome: Outcome | None, source: str) -> None:
        if market_id not in self._done:
            self._dropped[market_id] = (
                f"resolved {resolution_name(outcome)} on {source}, dropped at {iso(now)}"
            )
            if len(self._dropped) > DROPS_KEPT:
                del self._dropped[next(iter(self._dropped))]
        self._done.add(market_id)
        self._held.pop(market_id, None)
        self._last.pop(market_id, None)
        if self._rolled.pop(market_id, None) is not None:
            self.inner.remove_market(market_id)


class RollerSide:
    """The engine's end: the books (a `BackgroundFeed` around a `RollingFeed`), the roller's
    thread started and stopped with them, and the roller's news taken on the engine thread."""

    def __init__(
        self, books: Any, roller: Roller, register: Callable[[Any], None] | None, clock: Callable[[], int]
    ) -> None:
        self.books = books
        self.roller = roller
        self._clock = clock
        self._register = register
        self.activity: Any = None  # the engine's (attach), for the DISCOVERY lines
        # told Gamma's official strikes (bot/feeds/fair_feed.py); None: a DISCOVERY line says it
        self.on_strike: Callable[[str, float], None] | None = None
        self._waiting: list[Notice] = []

    def attach(self, activity: Any, known: list[Market]) -> None:
        """The engine's activity feed, and the markets it restored (taken back by the roller,
        looked up on Gamma by their window start however long ago it was)."""
        self.activity = activity
        self.roller.adopt([m.market_id for m in known], [m.window_start_ms // 1000 for m in known])

    def start(self) -> RollerSide:
        self.books.start()
        self.roller.start()
        return self

    def stop(self, timeout_s: float = 1.0) -> None:
        self.roller.stop(timeout_s)
        self.books.stop(timeout_s)

    def peek_ms(self) -> int | None:
        if self.roller.has_news():  # a window to register, a line to write: now
            return self._clock()
        return self.books.peek_ms()  # never None: the rolling feed has no end

    def next_batch(self) -> list[MarketEvent]:
        self.take_news()
        return list(self.books.next_batch())

    def take_news(self) -> None:
        for item in self.roller.engine_news():
            if isinstance(item, Admitted):
                if self._register is not None and item.info is not None:
                    self._register(item.info)
            elif isinstance(item, Official):
                if self.on_strike is not None:
                    self.on_strike(item.market_id, item.strike)
                else:
                    text = f"{item.key}: Gamma published the price to beat {item.strike:.12g}"
                    self._waiting.append(Notice(item.ts_ms, item.market_id, text))
            else:
                self._waiting.append(item)
        if self.activity is not None:
            for notice in self._waiting:
                extra = {"error": True} if notice.error else {}
                self.activity.add(notice.ts_ms, "DISCOVERY", notice.market, notice.text, **extra)
            self._waiting.clear()

    def discovery_status(self) -> dict[str, Any]:
        return self.roller.status()

    def __getattr__(self, name: str) -> object:
        return getattr(self.books, name)
