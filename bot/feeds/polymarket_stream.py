"""Live market data from the CLOB market websocket, behind the same `Feed` interface (and the
same `MarketEvent`s) as the REST `PolymarketFeed`.

Per market the feed subscribes the UP token (one book per market, as the REST feed reads
one; the DOWN book mirrors it) on a `MarketSocket` holding at most 200 assets, keeps a
`LocalBook` from ``book`` snapshots and ``price_change`` levels, and emits:

- `WindowOpened` once, and again with the new `Market` when a ``tick_size_change`` or a
  book's ``tick_size``/``min_order_size`` changes the rules (as the REST feed does);
- a `BookTick` of the UP token whenever its trusted top of book changes;
- `WindowResolved` on ``market_resolved`` or, as a backstop, when the REST market row says
  closed with a winner (read at the window end and every few seconds after). A
  ``market_resolved`` whose winner is unknown (no winning token and no 50/50, or a token
  that is neither of the market's) is never booked: the market stays followed until the REST
  row names a winner, and `refused_resolutions()` hands the engine one MARKET_RESOLVED line
  (an error) per market naming it and what was wrong.

Gaps. A reconnect, a socket closed for silence, a frame that does not parse, a change older
than the last one, a change whose best bid/ask disagree with the book, or a crossed book
makes the book untrusted: no tick comes from it until it is re-read over REST (the venue's
``get_order_book``), at most once per `poll_interval_s` per market. While a market's socket
is down the feed is the REST poller: it re-reads that book every `poll_interval_s`
(`source` "rest" in the health), and goes back to the socket once it is up and re-read.

`next_batch()` waits up to `wait_s` for the socket's first frame, so the reading thread of
`BackgroundFeed` sleeps on the socket instead of polling it. Health per market
(`last_update_ms`, `market_health`) and per connection (`connection_health`) is what
status.json shows (state/README.md). A market's book counts as fresh while its socket is
alive (any frame, PONG included, within the age gate) and the book is trusted: a quiet
market is not a stale one.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.feeds import polymarket_ws_wire as wsw
from bot.feeds.polymarket import RESOLUTION_RECHECK_MS, BookSource, with_rules
from bot.feeds.polymarket_ws import Delivery, Frame, Link, MarketSocket
from bot.feeds.ws_book import LocalBook
from bot.model import ONE, BookTick, Market, MarketEvent, Outcome, WindowOpened, WindowResolved, iso, now_ms
from bot.venues.polymarket import wire

log = logging.getLogger(__name__)


@dataclass
class _Tracked:
    market: Market
    conn: int
    book: LocalBook = field(default_factory=LocalBook)
    opened: bool = False
    top: tuple[int, int, int, int] | None = None
    resolved: bool = False
    next_status_ms: int = 0
    next_rest_ms: int = 0
    fresh_ms: int | None = None  # when the book was last known current
    source: str = "websocket"
    gaps: int = 0
    gap_reason: str = ""  # the open gap's first reason, until a REST read ends it
    resyncs: int = 0
    last_resync_ms: int | None = None
    last_trade: int | None = None
    failures: int = 0
    needs_rest: bool = True  # a gap: only a REST read makes the book trusted again

    @property
    def up(self) -> str:
        assert self.market.token_ids is not None
        return self.market.token_ids[0]


class PolymarketStreamFeed:
    def __init__(
        self,
        source: BookSource,
        markets: Iterable[Market],
        url: str,
        *,
        poll_interval_s: float = 1.0,
        silence_s: float = 30.0,
        status_interval_s: float = 30.0,
        wait_s: float = 0.2,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._source = source
        self.url = url
        self.poll_interval_ms = max(1, round(poll_interval_s * 1000))
        self.status_interval_ms = max(1, round(status_interval_s * 1000))
        self.silence_s = silence_s
        self.wait_s = wait_s
        self._clock = clock
        self._inbox: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._sockets: list[MarketSocket] = []
        self._tracked: dict[str, _Tracked] = {}
        self._by_token: dict[str, _Tracked] = {}
        self.conn_gaps: dict[int, int] = {}
        self.conn_resync_ms: dict[int, int] = {}
        self.ignored = 0  # events for assets or markets the feed does not follow
        self._notes: deque[tuple[int, str, str]] = deque()  # BOOK_FEED lines, for the engine's thread
        self._refused: set[str] = set()  # markets whose market_resolved named no known winner
        self._refusals: deque[tuple[int, str, str]] = deque(maxlen=200)  # for the engine thread
        for market in markets:
            self.add_market(market)

    # -- markets ------------------------------------------------------------------------

    def add_market(self, market: Market) -> None:
        if market.token_ids is None:
            raise ValueError(f"market {market.market_id} has no token ids")
        if market.market_id in self._tracked:
            return
        sock = next((s for s in self._sockets if s.room > 0), None)
        if sock is None:
            sock = MarketSocket(len(self._sockets), self.url, self._inbox.put, silence_s=self.silence_s)
            self._sockets.append(sock)
            self.conn_gaps[sock.conn] = 0
            sock.start()
        tracked = _Tracked(market, sock.conn)
        self._tracked[market.market_id] = tracked
        self._by_token[tracked.up] = tracked
        sock.subscribe([tracked.up])

    def remove_market(self, market_id: str) -> None:
        tracked = self._tracked.pop(market_id, None)
        if tracked is not None:
            self._by_token.pop(tracked.up, None)
            self._sockets[tracked.conn].unsubscribe([tracked.up])

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()

    def book_notes(self) -> list[tuple[int, str, str]]:
        """(time, market id, text) for each gap opened or healed since the last call (the
        engine's thread writes them as BOOK_FEED activity lines)."""
        out = []
        while self._notes:
            out.append(self._notes.popleft())
        return out

    @property
    def markets(self) -> list[Market]:
        return [t.market for t in self._tracked.values()]

    # -- the feed interface -------------------------------------------------------------

    def peek_ms(self) -> int | None:
        if all(t.resolved for t in self._tracked.values()):
            return None
        return self._clock()

    def next_batch(self) -> list[MarketEvent]:
        deliveries: list[Delivery] = []
        try:
            deliveries.append(self._inbox.get(timeout=self.wait_s))
            while True:
                deliveries.append(self._inbox.get_nowait())
        except queue.Empty:
            pass
        now = self._clock()
        events: list[MarketEvent] = []
        for tracked in self._tracked.values():
            if not tracked.opened and not tracked.resolved:
                tracked.opened = True
                events.append(WindowOpened(now, tracked.market))
        for item in deliveries:
            if isinstance(item, Link):
                self._on_link(item)
            else:
                self._on_frame(item, events)
        for tracked in self._tracked.values():
            if not tracked.resolved:
                self._rest_if_due(tracked, now, events)
                self._tick(tracked, events)
                self._status_if_due(tracked, now, events)
        return events

    # -- health -------------------------------------------------------------------------

    def last_update_ms(self, market_id: str) -> int | None:
        tracked = self._tracked.get(market_id)
        return tracked.fresh_ms if tracked else None

    def market_health(self, market_id: str) -> dict[str, Any]:
        tracked = self._tracked.get(market_id)
        if tracked is None:
            return {}
        return {
            "source": tracked.source,
            "book": "trusted"
            if tracked.book.trusted and not tracked.needs_rest
            else f"untrusted: {tracked.book.reason or 're-read pending'}",
            "connection": tracked.conn,
            "gaps": tracked.gaps,
            "resyncs": tracked.resyncs,
            "last_resync": iso(tracked.last_resync_ms) if tracked.last_resync_ms else None,
            "last_trade": tracked.last_trade / ONE if tracked.last_trade is not None else None,
        }

    def connection_health(self) -> list[dict[str, Any]]:
        return [
            sock.health.row(
                sock.conn,
                self.url,
                len(sock.assets),
                self.conn_gaps.get(sock.conn, 0),
                self.conn_resync_ms.get(sock.conn),
            )
            for sock in self._sockets
        ]

    # -- internals ----------------------------------------------------------------------

    def _on_conn(self, conn: int) -> list[_Tracked]:
        return [t for t in self._tracked.values() if t.conn == conn and not t.resolved]

    def _gap(self, tracked: _Tracked, reason: str) -> None:
        if not tracked.needs_rest:
            tracked.gaps += 1
            tracked.needs_rest = True
            tracked.gap_reason = reason
            log.warning("market %s: gap (%s), book re-read over REST", tracked.market.market_id, reason)
            self._notes.append(
                (self._clock(), tracked.market.market_id, f"book not trusted ({reason}): re-read over REST")
            )
        tracked.book.distrust(reason)

    def _on_link(self, link: Link) -> None:
        if not link.up:
            self.conn_gaps[link.conn] = self.conn_gaps.get(link.conn, 0) + 1
        for tracked in self._on_conn(link.conn):
            # down: a gap, and the REST poller until the socket is back; up (the outage's
            # end, or the first connect): re-read over REST before trusting the socket
            if link.up:
                tracked.needs_rest = True
                tracked.book.distrust("socket (re)connected")
                tracked.source = "websocket"
            else:
                self._gap(tracked, f"socket down: {link.reason}")
                tracked.source = "rest"
            tracked.next_rest_ms = 0

    def _on_frame(self, frame: Frame, events: list[MarketEvent]) -> None:
        if frame.errors:  # something was lost: which book it touched cannot be known
            for tracked in self._on_conn(frame.conn):
                self._gap(tracked, "a message did not parse")
        for event in frame.events:
            self._apply(event, events)
        for tracked in self._on_conn(frame.conn):
            if tracked.book.trusted and tracked.source == "websocket":
                tracked.fresh_ms = frame.recv_ms

    def _apply(self, event: wsw.Parsed, events: list[MarketEvent]) -> None:
        now = self._clock()
        if isinstance(event, wsw.BookSnapshot):
            tracked = self._by_token.get(event.asset_id)
            if tracked is None:
                self.ignored += 1
                return
            tracked.book.seed(event.bids, event.asks, event.ts_ms)
            self._rules(tracked, event.raw, now, events)
        elif isinstance(event, wsw.PriceChange):
            for change in event.changes:
                tracked = self._by_token.get(change.asset_id)
                if tracked is None:
                    self.ignored += 1  # the DOWN token's side of the same change, mostly
                    continue
                tracked.book.apply(change, event.ts_ms)
                if not tracked.book.trusted:
                    self._gap(tracked, tracked.book.reason)
        elif isinstance(event, wsw.TickSizeChange):
            tracked = self._by_token.get(event.asset_id)
            if tracked is not None and event.new_tick != tracked.market.tick:
                self._replace(tracked, dataclasses.replace(tracked.market, tick=event.new_tick), now, events)
        elif isinstance(event, wsw.LastTrade):
            tracked = self._by_token.get(event.asset_id)
            if tracked is not None:
                tracked.last_trade = event.price
        elif isinstance(event, wsw.MarketResolved):
            tracked = self._tracked.get(event.market)
            if tracked is not None:
                winner = None if event.split else event.winning_asset_id
                self._resolve(tracked, winner, now, events, event.winning_outcome, event.winner_field)
        elif isinstance(event, wsw.Unknown):
            log.info("market socket: unknown event_type %r ignored", event.event_type)
            self.ignored += 1
        # best_bid_ask: the price_change rows carry the same top, checked there;
        # new_market: discovery's business, not this feed's

    def _replace(self, tracked: _Tracked, market: Market, now: int, events: list[MarketEvent]) -> None:
        log.info(
            "market %s: tick %g, minimum size %g", market.market_id, market.tick / ONE, market.min_size / ONE
        )
        tracked.market = market
        events.append(WindowOpened(now, market))

    def _rules(self, tracked: _Tracked, raw: Any, now: int, events: list[MarketEvent]) -> None:
        try:
            changed = with_rules(tracked.market, raw)
        except wire.ParseError as exc:
            log.warning("market %s: rules in book unreadable: %s", tracked.market.market_id, exc)
            return
        if changed is not None:
            self._replace(tracked, changed, now, events)

    def _rest_if_due(self, tracked: _Tracked, now: int, events: list[MarketEvent]) -> None:
        due = tracked.needs_rest or not tracked.book.trusted or tracked.source == "rest"
        if not due or now < tracked.next_rest_ms:
            return
        tracked.next_rest_ms = now + self.poll_interval_ms
        try:
            data = self._source.get_order_book(tracked.up)
            snapshot = wsw.parse_event({**data, "event_type": "book"})
            assert isinstance(snapshot, wsw.BookSnapshot)
        except Exception as exc:  # a feed survives any failed read, vendor errors included
            tracked.failures += 1
            if tracked.failures in (1, 10) or tracked.failures % 100 == 0:
                log.warning(
                    "book of %s unreadable (%d in a row): %s", tracked.market.market_id, tracked.failures, exc
                )
            return
        tracked.failures = 0
        tracked.needs_rest = False
        tracked.book.seed(snapshot.bids, snapshot.asks, snapshot.ts_ms)
        tracked.resyncs += 1
        tracked.last_resync_ms = self.conn_resync_ms[tracked.conn] = now_ms()
        if tracked.book.trusted:
            tracked.fresh_ms = tracked.last_resync_ms
        if tracked.gap_reason:
            healed = "trusted again" if tracked.book.trusted else f"still not trusted: {tracked.book.reason}"
            text = f"book re-read over REST after the gap ({tracked.gap_reason}): {healed}"
            self._notes.append((now, tracked.market.market_id, text))
            tracked.gap_reason = ""
        self._rules(tracked, data, now, events)

    def _tick(self, tracked: _Tracked, events: list[MarketEvent]) -> None:
        if tracked.needs_rest or not tracked.book.trusted:
            return
        top = tracked.book.top()
        if top != tracked.top:
            tracked.top = top
            events.append(BookTick(self._clock(), tracked.market.market_id, *top))

    def _status_if_due(self, tracked: _Tracked, now: int, events: list[MarketEvent]) -> None:
        market = tracked.market
        if now < tracked.next_status_ms:
            return
        urgent = now >= market.window_end_ms
        following = now + (RESOLUTION_RECHECK_MS if urgent else self.status_interval_ms)
        if now < market.window_end_ms:
            following = min(following, market.window_end_ms)
        tracked.next_status_ms = following
        try:
            status = wire.parse_market_status(self._source.get_market(market.market_id))
        except Exception as exc:
            log.warning("status of %s unreadable: %s", market.market_id, exc)
            return
        if status.closed and status.winner_token is not None:
            self._resolve(tracked, status.winner_token, now, events)

    def _resolve(
        self,
        tracked: _Tracked,
        winner: str | None,
        now: int,
        events: list[MarketEvent],
        said: str = "",
        named: bool = True,
    ) -> None:
        """`winner`: the winning token, or None for a 50/50 split (each token pays 0.5);
        `named`: False when a market_resolved had no winning_asset_id field at all."""
        market = tracked.market
        assert market.token_ids is not None
        if winner is not None and winner not in market.token_ids:
            self._refuse(market, winner, said, now, named)
            return
        if tracked.resolved:
            return
        tracked.resolved = True
        self._sockets[tracked.conn].unsubscribe([tracked.up])
        if winner is None:
            events.append(WindowResolved(now, market.market_id, None))
            return
        outcome = Outcome.UP if winner == market.token_ids[0] else Outcome.DOWN
        events.append(WindowResolved(now, market.market_id, outcome))

    def _refuse(self, market: Market, winner: str, said: str, now: int, named: bool = True) -> None:
        """A market_resolved with no known winner: bot.log each time, the engine told once."""
        what = f"winning token {winner!r}, neither of its tokens" if winner else "no winning token"
        if not named:
            what += " (no winning_asset_id field)"
        if said:
            what += (
                f" (winning_outcome {said!r}, not a 50/50)" if not winner else f" (winning_outcome {said!r})"
            )
        text = (
            f"{market.name}: the market websocket says it resolved, with {what}: not booked on a guess,"
            " any position kept; the market's REST row is read until it names the winner"
        )
        log.error("market %s: %s", market.market_id, text)
        if market.market_id not in self._refused:
            self._refused.add(market.market_id)
            self._refusals.append((now, market.market_id, text))

    def refused_resolutions(self) -> list[tuple[int, str, str]]:
        """(time, market id, text) of each market whose market_resolved was refused since the
        last call (any thread: the engine's chores take them for the activity feed)."""
        out: list[tuple[int, str, str]] = []
        while self._refusals:
            out.append(self._refusals.popleft())
        return out
