"""The websocket feed against the local market websocket and CLOB servers on 127.0.0.1:
books from snapshots and deltas, and every fault healed over REST before a book is trusted."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.feeds.polymarket_stream import PolymarketStreamFeed
from bot.model import ONE, BookTick, Market, MarketEvent, Outcome, WindowOpened, WindowResolved, now_ms
from bot.testing.clob_server import ClobServer
from bot.testing.ws_market_server import WsMarketServer
from tests.support import eventually

COND = "0x" + "ab" * 32
UP, DOWN = "111", "222"


@pytest.fixture
def clob() -> Iterator[ClobServer]:
    server = ClobServer().start()
    server.add_market(COND, (UP, DOWN), end_date_iso="2030-01-01T00:00:00Z")
    yield server
    server.stop()


@pytest.fixture
def ws(clob: ClobServer) -> Iterator[WsMarketServer]:
    server = WsMarketServer(clob.exchange).start()
    server.set_book(UP, bids=[(0.45, 100)], asks=[(0.47, 100)])
    yield server
    server.stop()


def market(cond: str = COND, tokens: tuple[str, str] = (UP, DOWN)) -> Market:
    now = now_ms()
    return Market(cond, "BTC", "Will BTC be up?", now, now + 3_600_000, token_ids=tokens)


@pytest.fixture
def make_feed(clob: ClobServer) -> Iterator[Callable[..., PolymarketStreamFeed]]:
    from py_clob_client_v2 import ClobClient

    feeds: list[PolymarketStreamFeed] = []

    def make(url: str, markets: list[Market] | None = None, **kwargs: Any) -> PolymarketStreamFeed:
        options = {"poll_interval_s": 0.1, "wait_s": 0.05, **kwargs}
        feed = PolymarketStreamFeed(ClobClient(clob.url, 137), markets or [market()], url, **options)
        feeds.append(feed)
        return feed

    yield make
    for feed in feeds:
        feed.close()


class Pump:
    """Reads the feed until a condition holds on everything it has emitted."""

    def __init__(self, feed: PolymarketStreamFeed) -> None:
        self.feed = feed
        self.events: list[MarketEvent] = []

    def until(self, check: Callable[[list[MarketEvent]], Any], timeout: float = 10.0) -> Any:
        def step() -> Any:
            self.events += self.feed.next_batch()
            return check(self.events)

        return eventually(step, timeout=timeout, interval=0)

    def ticks(self) -> list[tuple[int, int, int, int]]:
        return [(e.bid, e.bid_size, e.ask, e.ask_size) for e in self.events if isinstance(e, BookTick)]


def top(bid: float, bid_size: float, ask: float, ask_size: float) -> tuple[int, int, int, int]:
    return round(bid * ONE), round(bid_size * ONE), round(ask * ONE), round(ask_size * ONE)


def book_reads(clob: ClobServer) -> int:
    return sum(1 for r in clob.requests if r.method == "GET" and r.path == "/book")


def connected(feed: PolymarketStreamFeed) -> bool:
    return all(c["state"] == "connected" for c in feed.connection_health())


def trusted(feed: PolymarketStreamFeed, cond: str = COND) -> bool:
    health = feed.market_health(cond)
    return health["book"] == "trusted" and health["source"] == "websocket"


def ready(pump: Pump, ws: WsMarketServer) -> None:
    """Connected, subscribed and re-read: deltas from here on reach the engine by socket."""
    pump.until(lambda _: connected(pump.feed) and ws.subscribed(UP) and trusted(pump.feed))


def test_snapshot_and_deltas_reach_the_engine_by_socket(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url))
    pump.until(lambda ev: top(0.45, 100, 0.47, 100) in pump.ticks())
    assert isinstance(pump.events[0], WindowOpened)
    ready(pump, ws)
    reads = book_reads(clob)
    ws.price_change(UP, "SELL", 0.46, 30)
    pump.until(lambda _: top(0.45, 100, 0.46, 30) in pump.ticks())
    ws.price_change(UP, "BUY", 0.45, 0)
    pump.until(lambda _: top(0, 0, 0.46, 30) in pump.ticks())  # an empty side, as REST shows it
    ws.last_trade(UP, 0.46, 5)
    pump.until(lambda _: pump.feed.market_health(COND)["last_trade"] == 0.46)
    assert book_reads(clob) == reads  # deltas came over the socket, not over REST
    health = pump.feed.market_health(COND)
    assert health["gaps"] == 0
    assert health["book"] == "trusted"
    [conn] = pump.feed.connection_health()
    assert conn["messages"] >= 3
    assert conn["unparsed"] == 0
    assert conn["reconnects"] == 0
    assert pump.feed.last_update_ms(COND) is not None
    assert "PING" in ws.received  # the venue's text keepalive


def test_tick_size_change_and_resolution(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url))
    ready(pump, ws)
    ws.tick_size_change(UP, 0.001)
    opened = pump.until(lambda ev: [e for e in ev if isinstance(e, WindowOpened) and e.market.tick == 1_000])
    assert opened[0].market.market_id == COND
    assert opened[0].market.min_size == 5 * ONE
    ws.resolve(COND, DOWN, (UP, DOWN))
    resolved = pump.until(lambda ev: [e for e in ev if isinstance(e, WindowResolved)])
    assert [(r.market_id, r.outcome) for r in resolved] == [(COND, Outcome.DOWN)]
    assert pump.feed.peek_ms() is None
    eventually(lambda: ws.subscribed(UP) == 0)  # unsubscribed once resolved


def test_a_fifty_fifty_resolution_over_the_socket_resolves_without_a_winner(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url))
    ready(pump, ws)
    bad = {"event_type": "market_resolved", "market": COND, "winning_asset_id": "9999", "timestamp": "1"}
    ws.send_raw(json.dumps(bad))  # a token that is neither of the market's: refused, not booked
    ws.last_trade(UP, 0.46, 5)
    pump.until(lambda _: pump.feed.market_health(COND)["last_trade"] == 0.46)
    assert not [e for e in pump.events if isinstance(e, WindowResolved)]
    [(_, market_id, text)] = pump.feed.refused_resolutions()  # the engine is told, once
    assert market_id == COND
    assert text.startswith(
        f"{market().name}: the market websocket says it resolved, with winning token '9999'"
    )
    assert "not booked on a guess" in text
    unknown = {**bad, "winning_asset_id": "", "winning_outcome": "Up"}  # names no token, not a 50/50
    ws.send_raw(json.dumps(unknown))
    ws.last_trade(UP, 0.44, 5)
    pump.until(lambda _: pump.feed.market_health(COND)["last_trade"] == 0.44)
    assert not [e for e in pump.events if isinstance(e, WindowResolved)]
    assert pump.feed.refused_resolutions() == []  # bot.log has each; the activity feed one line
    ws.resolve(COND, None, (UP, DOWN))
    resolved = pump.until(lambda ev: [e for e in ev if isinstance(e, WindowResolved)])
    assert [(r.market_id, r.outcome) for r in resolved] == [(COND, None)]
    eventually(lambda: ws.subscribed(UP) == 0)


def test_a_dropped_socket_is_a_gap_healed_over_rest(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url))
    ready(pump, ws)
    ws.drop()
    # what changed while the socket was down is only visible over REST
    ws.set_book(UP, bids=[(0.40, 7)], asks=[(0.42, 8)], send=False)
    pump.until(lambda _: top(0.40, 7, 0.42, 8) in pump.ticks())
    pump.until(lambda _: connected(pump.feed) and trusted(pump.feed))
    health = pump.feed.market_health(COND)
    assert health["gaps"] == 1
    assert health["last_resync"] is not None
    [conn] = pump.feed.connection_health()
    assert conn["reconnects"] == 1
    assert conn["gaps"] == 1
    ws.price_change(UP, "SELL", 0.41, 3)
    pump.until(lambda _: top(0.40, 7, 0.41, 3) in pump.ticks())


def test_rest_is_the_fallback_while_the_socket_is_down(
    clob: ClobServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    ws = WsMarketServer(clob.exchange).start()
    ws.set_book(UP, bids=[(0.45, 100)], asks=[(0.47, 100)])
    pump = Pump(make_feed(ws.url))
    ready(pump, ws)
    ws.stop()  # nothing listens any more: every reconnect fails
    pump.until(lambda _: pump.feed.market_health(COND)["source"] == "rest")
    for ask in (0.48, 0.49):  # the REST poller follows the book
        clob.set_book(UP, bids=[(0.45, 100)], asks=[(ask, 10)])
        pump.until(lambda _, a=ask: top(0.45, 100, a, 10) in pump.ticks())
    [conn] = pump.feed.connection_health()
    assert conn["state"] == "down"
    assert conn["last_error"]
    assert pump.feed.last_update_ms(COND) is not None


def test_a_silent_socket_is_reconnected_and_re_read(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url, silence_s=0.5))
    ready(pump, ws)
    ws.silence(True)  # the socket stays open; nothing comes, not even PONG
    ws.set_book(UP, bids=[(0.44, 1)], asks=[(0.46, 1)], send=False)
    pump.until(lambda _: pump.feed.connection_health()[0]["silent_closes"] >= 1)
    ws.silence(False)
    pump.until(lambda _: top(0.44, 1, 0.46, 1) in pump.ticks())
    pump.until(lambda _: connected(pump.feed) and trusted(pump.feed))
    assert pump.feed.market_health(COND)["gaps"] >= 1


def test_a_garbled_frame_is_counted_and_the_book_re_read(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url))
    ready(pump, ws)
    reads = book_reads(clob)
    ws.send_raw('{"event_type": "price_change", "market": "' + COND + '", "price_chan')
    ws.send_raw('{"event_type": "price_change", "market": "x", "price_changes": [{"asset_id": "111"}]}')
    pump.until(lambda _: pump.feed.connection_health()[0]["unparsed"] == 2)
    pump.until(lambda _: book_reads(clob) > reads and trusted(pump.feed))
    assert pump.feed.market_health(COND)["gaps"] >= 1
    ws.price_change(UP, "BUY", 0.46, 2)  # the socket still works afterwards
    pump.until(lambda _: top(0.46, 2, 0.47, 100) in pump.ticks())


def test_a_missed_delta_is_caught_by_the_best_prices_and_never_shown(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url))
    ready(pump, ws)
    clob.set_book(UP, bids=[(0.45, 100), (0.455, 9)], asks=[(0.47, 100)])  # the venue moved...
    ws.set_book(UP, bids=[(0.45, 100), (0.455, 9)], asks=[(0.47, 100)], send=False)  # ...unseen
    ws.price_change(UP, "SELL", 0.465, 4)  # says best bid 0.455: the local book disagrees
    pump.until(lambda _: top(0.455, 9, 0.465, 4) in pump.ticks())
    assert top(0.45, 100, 0.465, 4) not in pump.ticks()  # the wrong book never reached the engine
    assert pump.feed.market_health(COND)["gaps"] == 1


def test_an_out_of_order_delta_makes_the_book_re_read(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url))
    ready(pump, ws)
    later = now_ms() + 1_000
    ws.price_change(UP, "BUY", 0.46, 5, ts_ms=later)
    pump.until(lambda _: top(0.46, 5, 0.47, 100) in pump.ticks())
    ws.price_change(UP, "BUY", 0.455, 5, ts_ms=later - 500)  # arrives after a later one
    pump.until(lambda _: pump.feed.market_health(COND)["gaps"] == 1)
    pump.until(lambda _: trusted(pump.feed))
    assert pump.ticks()[-1] == top(0.46, 5, 0.47, 100)  # REST agrees: no tick was invented


def test_a_crossed_book_is_never_shown(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url))
    ready(pump, ws)
    ws.price_change(UP, "BUY", 0.48, 10)  # bid 0.48 over the 0.47 ask
    pump.until(lambda _: "crossed" in pump.feed.market_health(COND)["book"])
    ws.price_change(UP, "BUY", 0.48, 0)  # the venue recovers
    pump.until(lambda _: trusted(pump.feed) and pump.ticks()[-1] == top(0.45, 100, 0.47, 100))
    assert all(bid < ask for bid, _, ask, _ in pump.ticks())


def test_markets_are_subscribed_and_unsubscribed_and_sharded_by_200(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url))
    ready(pump, ws)
    clob.add_market("0x" + "cd" * 32, ("333", "444"), end_date_iso="2030-01-01T00:00:00Z")
    ws.set_book("333", bids=[(0.30, 1)], asks=[(0.32, 1)], send=False)
    pump.feed.add_market(market("0x" + "cd" * 32, ("333", "444")))
    eventually(lambda: ws.subscribed("333") == 1)
    pump.until(lambda ev: [e for e in ev if isinstance(e, BookTick) and e.market_id == "0x" + "cd" * 32])
    pump.feed.remove_market(COND)
    eventually(lambda: ws.subscribed(UP) == 0)
    bare = WsMarketServer().start()  # no exchange: no snapshots, only subscriptions
    try:
        many = [market(f"0x{i:064x}", (str(10_000 + 2 * i), str(10_001 + 2 * i))) for i in range(201)]
        feed = make_feed(bare.url, many)
        eventually(lambda: len(feed.connection_health()) == 2 and connected(feed), timeout=20)
        assert [c["assets"] for c in feed.connection_health()] == [200, 1]
        eventually(lambda: all(bare.subscribed(m.token_ids[0]) == 1 for m in many if m.token_ids))
    finally:
        bare.stop()


def test_each_gap_and_its_rest_re_read_are_noted_for_the_activity_feed(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    """A frame that does not parse, an out-of-order delta and a crossed book: each one
    BOOK_FEED note naming it, then one for the REST read that ends the gap."""
    pump = Pump(make_feed(ws.url))
    ready(pump, ws)
    assert pump.feed.book_notes() == []  # the first connect's read is not a gap
    ws.send_raw("not json at all")
    pump.until(lambda _: pump.feed.market_health(COND)["gaps"] == 1 and trusted(pump.feed))
    later = now_ms() + 30_000  # after the REST read's time, however slow the machine
    ws.price_change(UP, "BUY", 0.46, 5, ts_ms=later)
    pump.until(lambda _: top(0.46, 5, 0.47, 100) in pump.ticks())
    ws.price_change(UP, "BUY", 0.455, 5, ts_ms=later - 500, book=False)
    pump.until(lambda _: pump.feed.market_health(COND)["gaps"] == 2 and trusted(pump.feed))
    ws.price_change(UP, "BUY", 0.48, 10, ts_ms=later + 60_000, book=False)  # over the 0.47 ask
    pump.until(lambda _: pump.feed.market_health(COND)["gaps"] == 3 and trusted(pump.feed))
    notes = [(market_id, text) for _, market_id, text in pump.feed.book_notes()]
    assert {m for m, _ in notes} == {COND}
    texts = [t for _, t in notes]
    assert len(texts) == 6, texts
    for i, cause in enumerate(("did not parse", "out of order", "crossed")):
        assert texts[2 * i].startswith("book not trusted ("), texts
        assert cause in texts[2 * i], texts
        assert texts[2 * i + 1].startswith("book re-read over REST after the gap ("), texts
        assert texts[2 * i + 1].endswith("trusted again"), texts
    assert all(bid < ask for bid, _, ask, _ in pump.ticks())
    assert top(0.455, 5, 0.47, 100) not in pump.ticks()  # the stale delta never reached the engine
    assert pump.feed.book_notes() == []  # each note is handed over once


def test_a_resolution_without_a_winner_field_is_said_once_and_resolved_from_the_rest_row(
    clob: ClobServer, ws: WsMarketServer, make_feed: Callable[..., PolymarketStreamFeed]
) -> None:
    pump = Pump(make_feed(ws.url, status_interval_s=0.2))
    ready(pump, ws)
    missing = {"event_type": "market_resolved", "market": COND, "winning_outcome": "Up", "timestamp": "1"}
    ws.send_raw(json.dumps(missing))
    ws.send_raw(json.dumps(missing))  # said again: the operator is told once
    ws.last_trade(UP, 0.46, 5)
    pump.until(lambda _: pump.feed.market_health(COND)["last_trade"] == 0.46)
    assert not [e for e in pump.events if isinstance(e, WindowResolved)]  # never booked on a guess
    [(_, market_id, text)] = pump.feed.refused_resolutions()
    assert market_id == COND
    assert "resolved, with no winning token (no winning_asset_id field) (winning_outcome 'Up'" in text
    assert "the market's REST row is read until it names the winner" in text
    health = pump.feed.market_health(COND)
    assert health["gaps"] == 0, "a resolution message is not a gap in the books"
    assert health["book"] == "trusted"
    clob.resolve(COND, DOWN)
    resolved = pump.until(lambda ev: [e for e in ev if isinstance(e, WindowResolved)])
    assert [(r.market_id, r.outcome) for r in resolved] == [(COND, Outcome.DOWN)]
    assert pump.feed.refused_resolutions() == []
