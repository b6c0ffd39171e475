"""The fair-value feed on the engine's side: which underlying, which strike, and why not."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bot import __version__
from bot.app import prepare_home
from bot.clock import SimulatedClock
from bot.config import Config
from bot.fairvalue import FairValue, Priced, StrikeInput
from bot.feeds import price_wire as pw
from bot.feeds.fair_feed import FairValueFeed, underlying_of
from bot.feeds.price_socket import PriceSocket
from bot.journal import Journal
from bot.model import BookTick, Market, MarketEvent, Mode, WindowOpened, now_ms
from bot.venues.paper import PaperVenue
from bot.wiring import build_engine

START = now_ms() - 10_000


class ListFeed:
    """The book feed: hands over what the test puts in."""

    def __init__(self) -> None:
        self.pending: list[MarketEvent] = []

    def peek_ms(self) -> int | None:
        return now_ms() + 10_000  # idle, as the background feed is: it wakes the engine itself

    def next_batch(self) -> list[MarketEvent]:
        out, self.pending = self.pending, []
        return out


def _market(start: int = START, instrument: str = "BTC", strike: float | None = None) -> Market:
    return Market(
        "0xm", instrument, "Bitcoin Up or Down", start, start + 300_000, strike=strike, token_ids=("1", "2")
    )


def _feed(
    stale_s: float = 10.0,
) -> tuple[FairValueFeed, ListFeed, dict[str, Callable[[list[pw.PricePoint]], None]]]:
    inner = ListFeed()
    delivers: dict[str, Callable[[list[pw.PricePoint]], None]] = {}

    def connect(source: str, deliver: Callable[[list[pw.PricePoint]], None]) -> PriceSocket:
        delivers[source] = deliver
        return PriceSocket(source, "ws://127.0.0.1:9/ws", deliver)  # never started

    feed = FairValueFeed(inner, connect, FairValue(0.0001), lambda: None, now_ms, stale_s=stale_s)
    return feed, inner, delivers


def _tick(ts: int | None = None) -> BookTick:
    return BookTick(ts or now_ms(), "0xm", 450_000, 100_000_000, 470_000, 100_000_000)


def test_the_family_picks_the_stream() -> None:
    assert underlying_of(_market(), "btc-updown-5m-1780264500").key == "polybolt:btcusd"  # type: ignore[union-attr]
    hourly = underlying_of(_market(instrument="BITCOIN"), "bitcoin-up-or-down-may-10-2026-11am-et")
    assert hourly is not None
    assert hourly.key == "binance:btcusdt"
    assert underlying_of(_market(instrument="")) is None
    assert underlying_of(_market(instrument="NFL")) is None


def test_the_strike_is_the_first_price_near_the_start_and_ticks_carry_p_up() -> None:
    feed, inner, delivers = _feed()
    inner.pending = [WindowOpened(now_ms(), _market()), _tick()]
    [_, tick] = feed.next_batch()
    assert isinstance(tick, BookTick)
    assert tick.fair_forecast is None
    assert feed.reason("0xm") == "no BTC (polybolt btcusd) price yet"
    delivers["polybolt"]([pw.PricePoint("btcusd", START + 1_000, 100.0, snapshot=True)])
    delivers["polybolt"]([pw.PricePoint("btcusd", now_ms(), 101.0)])
    # the engine's record of the market gets the strike taken; the price moved P(UP): the last
    # book again, with it
    [opened, again] = feed.next_batch()
    assert isinstance(opened, WindowOpened)
    assert opened.market.strike == 100.0
    assert isinstance(again, BookTick)
    assert again.underlying == 101.0
    assert again.fair_forecast is not None
    assert again.fair_forecast > 900_000
    assert feed.fair.strike("0xm") == 100.0
    assert feed.reason("0xm") is None
    notes = [text for _, _, text in feed.notes()]
    assert notes[0].startswith("edge has no fair value: no BTC")
    assert "fair value live" in notes[-1]


def test_a_bot_that_joined_late_takes_no_strike() -> None:
    feed, inner, delivers = _feed()
    inner.pending = [WindowOpened(now_ms(), _market()), _tick()]
    feed.next_batch()
    delivers["polybolt"]([pw.PricePoint("btcusd", START + 9_000, 100.0)])  # 9 s after the start
    inner.pending = [_tick()]
    [tick] = feed.next_batch()
    assert isinstance(tick, BookTick)
    assert tick.fair_forecast is None
    assert tick.underlying == 100.0
    assert "came 9 s late" in (feed.reason("0xm") or "")
    assert feed.fair.strike("0xm") is None


def test_the_metadata_strike_wins_and_a_stale_price_stops_the_fair_value() -> None:
    feed, inner, delivers = _feed(stale_s=0.05)
    inner.pending = [WindowOpened(now_ms(), _market(strike=99.0)), _tick()]
    feed.next_batch()
    delivers["polybolt"]([pw.PricePoint("btcusd", now_ms(), 99.0)])
    inner.pending = [_tick()]
    [tick] = feed.next_batch()
    assert isinstance(tick, BookTick)
    assert tick.fair_forecast is not None
    assert feed.market_health("0xm")["underlying"]["strike_from"] == "metadata"
    due = feed.peek_ms()
    assert due is not None
    assert due <= now_ms() + 60
    time.sleep(max(0.0, (due - now_ms()) / 1000) + 0.002)  # until the moment the feed named
    [stale] = feed.next_batch()  # the book unchanged, the fair value gone
    assert isinstance(stale, BookTick)
    assert stale.fair_forecast is None
    assert "silent" in (feed.reason("0xm") or "")


def test_the_hourly_strike_is_the_candle_open() -> None:
    feed, inner, delivers = _feed()
    market = Market("0xm", "BITCOIN", "Bitcoin Up or Down", START, START + 3_600_000, token_ids=("1", "2"))
    feed._slugs["0xm"] = "bitcoin-up-or-down-may-10-2026-11am-et"
    inner.pending = [WindowOpened(now_ms(), market), _tick()]
    feed.next_batch()
    delivers["binance"]([pw.PricePoint("btcusdt", START + 60_000, 101.0, open_ms=START, open_price=100.5)])
    feed.next_batch()
    assert feed.fair.strike("0xm") == 100.5
    assert feed.market_health("0xm")["underlying"]["strike_from"] == "candle open"


def test_the_official_strike_replaces_the_one_taken_from_the_feed() -> None:
    feed, inner, delivers = _feed()
    inner.pending = [WindowOpened(now_ms(), _market()), _tick()]
    feed.next_batch()
    delivers["polybolt"]([pw.PricePoint("btcusd", START + 1_000, 100.0)])
    feed.next_batch()
    assert feed.fair.strike("0xm") == 100.0
    inner.pending = [WindowOpened(now_ms(), _market(strike=100.25))]
    feed.next_batch()
    assert feed.fair.strike("0xm") == 100.25
    assert feed.market_health("0xm")["underlying"]["strike_from"] == "metadata"
    inner.pending = [WindowOpened(now_ms(), _market())]  # re-sent (new rules) without a strike
    [resent] = [e for e in feed.next_batch() if isinstance(e, WindowOpened)]
    assert resent.market.strike == 100.25  # the engine's record keeps the strike in force


def test_gammas_price_to_beat_replaces_the_feeds_strike_with_the_difference_said() -> None:
    feed, inner, delivers = _feed()
    inner.pending = [WindowOpened(now_ms(), _market()), _tick()]
    feed.next_batch()
    delivers["polybolt"]([pw.PricePoint("btcusd", START + 1_000, 100.0)])
    feed.next_batch()
    assert feed.market_health("0xm")["underlying"]["strike_source"] == "feed"
    feed.notes()
    feed.drain_inputs()
    feed.official_strike("0xm", 100.25)
    # the engine's record gets Gamma's strike; it moves P(UP): the last book again, with it
    [opened, tick] = feed.next_batch()
    assert isinstance(opened, WindowOpened)
    assert opened.market.strike == 100.25
    assert isinstance(tick, BookTick)
    assert isinstance(tick.fair_info, Priced)
    assert tick.fair_info.quote.strike == 100.25
    assert tick.fair_info.strike_source == "gamma"
    under = feed.market_health("0xm")["underlying"]
    assert (under["strike"], under["strike_from"], under["strike_source"]) == (100.25, "metadata", "gamma")
    [(_, market, text)] = feed.notes()
    assert market == "0xm"
    assert "price to beat 100.25 replaces 100 from the feed (first price)" in text
    assert "difference +0.25 (+25.00 bps)" in text
    strikes = [i for i in feed.drain_inputs() if isinstance(i, StrikeInput)]
    assert [(s.strike, s.source) for s in strikes] == [(100.25, "gamma")]
    feed.official_strike("0xm", 100.25)  # told again: nothing new
    assert feed.notes() == []


def test_a_price_to_beat_before_the_window_opens_is_its_strike() -> None:
    feed, inner, _ = _feed()
    feed.official_strike("0xm", 99.5)
    inner.pending = [WindowOpened(now_ms(), _market()), _tick()]
    feed.next_batch()
    assert feed.fair.strike("0xm") == 99.5
    assert feed.market_health("0xm")["underlying"]["strike_source"] == "gamma"


class Session:
    """A bot session on `home`: a fresh fair-value feed, the engine built as `bot run` builds
    it, on the journal's file (a second Session on the same home is a restart)."""

    def __init__(self, home: Path) -> None:
        self.feed, self.inner, self.delivers = _feed()
        paths = prepare_home(home)
        self.journal = Journal(paths.state / "bot.db")
        restored = self.journal.restore(Mode.PAPER)
        self.journal.start_session(Mode.PAPER, __version__, 0, {}, START)
        self.engine = build_engine(
            config=Config(),
            paths=paths,
            journal=self.journal,
            venue=PaperVenue(Mode.PAPER),
            feed=self.feed,
            clock=SimulatedClock(START),
            strategies=[],
            restored=restored,
            start_ms=START,
            wallet="PAPER",
        )

    def batch(self, *events: MarketEvent) -> None:
        self.inner.pending = list(events)
        for event in self.feed.next_batch():
            self.engine.step(event)
        self.engine.commit()

    def row(self) -> tuple[object, ...]:
        sql = "SELECT strike, strike_source, strike_ms IS NOT NULL FROM markets WHERE market_id='0xm'"
        return tuple(self.journal.conn.execute(sql).fetchone())

    def close(self) -> None:
        self.engine.activity.close()
        self.journal.close()


def test_a_new_strike_is_recorded_by_the_engine_and_in_the_journals_markets_row(tmp_path: Path) -> None:
    """The feed's strike, then Gamma's price to beat: each reaches the engine's record of the
    market and the journal's markets row with its source, and a restart takes the one in force."""
    bot = Session(tmp_path)
    try:
        bot.batch(WindowOpened(now_ms(), _market()), _tick())
        assert bot.row() == (None, None, 0)  # no strike yet
        bot.delivers["polybolt"]([pw.PricePoint("btcusd", START + 1_000, 100.0)])
        bot.batch()
        assert bot.engine.markets["0xm"].strike == 100.0
        assert bot.row() == (100.0, "feed", 1)
        bot.feed.official_strike("0xm", 100.25)
        bot.batch()
        assert bot.engine.markets["0xm"].strike == 100.25
        assert bot.row() == (100.25, "gamma", 1)
        bot.batch(WindowOpened(now_ms(), _market()))  # new rules, re-sent without a strike
        assert bot.row() == (100.25, "gamma", 1)
        [market] = bot.journal.restore(Mode.PAPER).markets
        assert market.strike == 100.25
        changed = [a for a in bot.engine.activity.recent if a["type"] == "MARKET_CHANGED"]
        assert changed == []  # a strike is not a change of the market's rules
    finally:
        bot.close()


def test_a_window_taken_back_after_a_restart_keeps_its_strike_in_force(tmp_path: Path) -> None:
    """After a restart the feed opens the window again without a strike (the price at its
    start is long past): the engine's record and the journal's row keep the one in force."""
    first = Session(tmp_path)
    try:
        first.batch(WindowOpened(now_ms(), _market()), _tick())
        first.feed.official_strike("0xm", 100.25)
        first.batch()
        assert first.row() == (100.25, "gamma", 1)
    finally:
        first.close()
    again = Session(tmp_path)
    try:
        assert again.engine.markets["0xm"].strike == 100.25  # restored from the journal's row
        again.batch(WindowOpened(now_ms(), _market()), _tick())  # the window taken back
        assert again.engine.markets["0xm"].strike == 100.25
        assert again.row() == (100.25, "gamma", 1)
        [row] = [m for m in again.engine.snapshot(for_status=True).markets.values() if m.market_id == "0xm"]
        assert row.strike == 100.25  # what status.json's markets[] shows
        # the fair-value feed prices the window with it, before Gamma says anything again
        assert again.feed.fair.strike("0xm") == 100.25
        assert again.feed.market_health("0xm")["underlying"]["strike_source"] == "gamma"
        again.delivers["polybolt"]([pw.PricePoint("btcusd", now_ms(), 100.5)])
        again.inner.pending = [_tick()]
        [tick] = again.feed.next_batch()
        assert isinstance(tick, BookTick)
        assert tick.fair_forecast is not None
        assert tick.fair_forecast > 500_000  # above the strike
        assert again.feed.reason("0xm") is None
    finally:
        again.close()


def test_a_strike_the_feed_took_is_restored_and_gammas_replaces_it_after_the_restart(tmp_path: Path) -> None:
    first = Session(tmp_path)
    try:
        first.batch(WindowOpened(now_ms(), _market()), _tick())
        first.delivers["polybolt"]([pw.PricePoint("btcusd", START + 1_000, 100.0)])
        first.batch()
        assert first.row() == (100.0, "feed", 1)
    finally:
        first.close()
    again = Session(tmp_path)
    try:
        again.batch(WindowOpened(now_ms(), _market()), _tick())
        assert again.feed.fair.strike("0xm") == 100.0
        assert again.feed.market_health("0xm")["underlying"]["strike_source"] == "feed"
        assert again.row() == (100.0, "feed", 1)  # not journaled again: the same strike
        again.feed.official_strike("0xm", 100.25)
        again.batch()
        assert again.row() == (100.25, "gamma", 1)
        [text] = [t for _, m, t in again.feed.notes() if "price to beat" in t]
        assert "replaces 100 from the feed (restored)" in text
    finally:
        again.close()


def test_a_market_that_opens_with_its_strike_has_its_source_in_the_journal(tmp_path: Path) -> None:
    bot = Session(tmp_path)
    try:
        bot.batch(WindowOpened(now_ms(), _market(strike=100.5)), _tick())
        assert bot.engine.markets["0xm"].strike == 100.5
        assert bot.row() == (100.5, "gamma", 1)  # Gamma's price to beat, with its time
    finally:
        bot.close()
