"""`bot run --mode dry-run` as a real subprocess against the local CLOB and the local price
stream (PolyBolt's ``price.crypto.twap``): `edge` trades on the fair value made from the
underlying's price; a silent price socket shows in status.json and the activity feed, and
edge does not fire on the book it would have bought while the price is missing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.feeds.tape import TapeReader
from bot.feeds.ws_session import SocketHealth
from bot.model import BookTick
from tests.schema_check import assert_valid
from tests.support import activity, eventually
from tests.venue import LiveVenue, VenueBot

CONDITION = "0x" + "cd" * 32
UP, DOWN = "311", "322"
STRIKE = 100_000.0


@pytest.fixture
def venue() -> Iterator[LiveVenue]:
    start = int(time.time()) - 20  # the window opened 20 s ago; the bot joins late, history has it
    with LiveVenue.start(prices=True) as local:
        local.add_window(CONDITION, (UP, DOWN), "btc", start)
        local.prices.publish("btcusd", STRIKE, ts_ms=start * 1000 + 1_000)  # the price at the window's start
        yield local


def priced_bot(home: Path, venue: LiveVenue) -> VenueBot:
    """DRY_RUN, no wallet: edge on the fair value from the price stream, silent after 1.5 s."""
    edge = {"enabled": ["edge"], "params": {"edge": {"min_edge": 0.05, "min_seconds_left": 5}}}
    venue.write_home(home, heartbeat_s=0.3, polymarket={"price_silence_s": 1.5}, strategies=edge)
    return venue.bot(home, "dry-run", wallet=False)


def underlying(bot: VenueBot) -> dict[str, Any]:
    return bot.status()["feeds"][CONDITION]["underlying"]


def _books(home: Path) -> list[BookTick]:
    tapes = sorted((home / "logs" / "tapes").glob("*"))
    if not tapes:
        return []
    return [e for e in TapeReader(tapes[-1]) if isinstance(e, BookTick)]


def test_edge_trades_on_the_fair_value_of_the_underlying(tmp_path: Path, venue: LiveVenue) -> None:
    prices = venue.prices
    bot = priced_bot(tmp_path, venue).start()
    try:
        assert bot.wait_ready(timeout=30)["mode"] == "DRY_RUN"
        eventually(lambda: prices.subscribed("btcusd") == 1, timeout=20)
        under = eventually(lambda: (u := underlying(bot))["strike"] and u, timeout=20)
        assert under["strike"] == STRIKE
        assert under["strike_from"] == "first price"
        assert under["source"] == "polybolt"
        assert under["symbol"] == "btcusd"
        # the price well above the strike: P(UP) near 1 against an ask of 0.47
        prices.tick_every("btcusd", 0.2, lambda: STRIKE + 500)
        state = eventually(lambda: (s := bot.trading_state())["active_positions"] and s, timeout=30)
        position = state["active_positions"][0]
        assert position["side"] == "UP"
        assert position["entry_price"] == 0.47
        under = eventually(lambda: (u := underlying(bot))["price"] == STRIKE + 500 and u, timeout=20)
        assert under["reason"] is None
        assert under["fair_value"] > 0.9
        assert_valid("status", bot.status())
        conn = bot.connection("prices:polybolt")
        assert conn["state"] == "connected"
        assert conn["unparsed"] == 0
        assert conn["prices"] >= 2
        # every socket's common row (bot/feeds/ws_session.py), then the price-specific fields
        common = list(SocketHealth().row(0, "", 0, 0, None))
        assert list(conn)[: len(common)] == common
        assert list(conn)[len(common) :] == ["last_price", "price_age_s", "prices", "dropped"]
        lines = [a for a in activity(tmp_path) if a["type"] == "PRICE_FEED"]
        assert any("fair value live" in a["details"] for a in lines), lines
        # the tape carries the model's output and its input, so the session replays
        decorated = eventually(
            lambda: [b for b in _books(tmp_path) if b.fair_forecast and b.underlying == STRIKE + 500],
            timeout=20,
        )
        assert all(b.fair_forecast > 900_000 for b in decorated)
    finally:
        bot.stop()


def test_a_silent_price_feed_stops_edge_with_a_reason(tmp_path: Path, venue: LiveVenue) -> None:
    clob, prices = venue.clob, venue.prices
    prices.tick_every("btcusd", 0.2, lambda: STRIKE)  # at the strike: P(UP) 0.5, no edge at 0.47
    bot = priced_bot(tmp_path, venue).start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: underlying(bot)["fair_value"] is not None, timeout=20)
        prices.silence(True)
        under = eventually(lambda: "silent" in ((u := underlying(bot))["reason"] or "") and u, timeout=20)
        assert under["fair_value"] is None
        eventually(lambda: bot.connection("prices:polybolt")["silent_closes"] >= 1, timeout=20)
        assert_valid("status", bot.status())
        # a book that the last fair value (0.5) would buy: edge must not, the price is missing
        clob.set_book(UP, bids=[(0.38, 100)], asks=[(0.40, 100)])
        seen = eventually(lambda: [b for b in _books(tmp_path) if b.ask == 400_000], timeout=20)
        assert all(b.fair_forecast is None for b in seen)
        lines = [a for a in activity(tmp_path) if a["type"] == "PRICE_FEED"]
        assert any("silent" in a["details"] for a in lines), lines
        assert not bot.trading_state()["active_positions"]
        # the price back: the fair value returns, and edge buys the cheap UP
        prices.silence(False)
        state = eventually(lambda: (s := bot.trading_state())["active_positions"] and s, timeout=30)
        assert state["active_positions"][0]["entry_price"] == 0.40
        eventually(lambda: underlying(bot)["reason"] is None, timeout=20)
    finally:
        bot.stop()
