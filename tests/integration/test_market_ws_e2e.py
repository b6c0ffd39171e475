"""`bot run --mode dry-run` with `market_feed = "websocket"` as a real subprocess against the
local market websocket and CLOB servers: it subscribes, trades on the socket's book, and
shows the feed's health per market and per connection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import activity, eventually
from tests.venue import CONDITION, UP, LiveVenue, VenueBot

pytestmark = pytest.mark.venue(market_ws=True)  # the conftest's venue, with its market websocket


def dry_run_bot(home: Path, venue: LiveVenue) -> VenueBot:
    """DRY_RUN on the market websocket's book, no wallet: BuyOnce."""
    venue.write_home(home, polymarket={"market_feed": "websocket"})
    return venue.bot(home, "dry-run", wallet=False)


def test_dry_run_trades_on_the_websocket_book(tmp_path: Path, venue: LiveVenue) -> None:
    ws = venue.market_ws
    bot = dry_run_bot(tmp_path, venue).start()
    try:
        assert bot.wait_ready(timeout=30)["mode"] == "DRY_RUN"
        eventually(lambda: ws.subscribed(UP) == 1, timeout=20)
        state = eventually(lambda: (s := bot.trading_state())["active_positions"] and s, timeout=20)
        position = state["active_positions"][0]
        assert position["side"] == "UP"
        assert position["shares"] == 10
        assert position["entry_price"] == 0.47
        # a change only the socket carries reaches the bot's feed
        ws.price_change(UP, "SELL", 0.46, 30)
        health = eventually(
            lambda: (
                (f := bot.status()["feeds"][CONDITION])["source"] == "websocket"
                and f["book"] == "trusted"
                and f
            ),
            timeout=20,
        )
        assert health["age_s"] is not None
        assert health["gaps"] == 0
        [conn] = eventually(lambda: (c := bot.status()["feed_connections"]) and c[0]["messages"] >= 2 and c)
        assert conn["state"] == "connected"
        assert conn["unparsed"] == 0
        assert conn["assets"] == 1
        # a dropped socket: a gap, healed over REST, and the bot keeps trading state fresh
        ws.drop()
        eventually(lambda: bot.status()["feed_connections"][0]["reconnects"] >= 1, timeout=20)
        eventually(lambda: bot.status()["feeds"][CONDITION]["gaps"] >= 1, timeout=20)
        eventually(lambda: bot.status()["feeds"][CONDITION]["book"] == "trusted", timeout=20)
    finally:
        bot.stop()


def test_a_resolution_with_an_unknown_winner_is_an_activity_line_and_never_booked(
    tmp_path: Path, venue: LiveVenue
) -> None:
    ws = venue.market_ws
    bot = dry_run_bot(tmp_path, venue).start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: ws.subscribed(UP) == 1, timeout=20)
        eventually(lambda: bot.trading_state()["active_positions"], timeout=20)
        bad = {
            "event_type": "market_resolved",
            "market": CONDITION,
            "winning_asset_id": "9999",
            "timestamp": "1",
        }
        ws.send_raw(json.dumps(bad))

        def refused() -> list[dict[str, object]]:
            return [a for a in activity(tmp_path) if a["type"] == "MARKET_RESOLVED"]

        [line] = eventually(refused, timeout=20)
        assert line["market"] == CONDITION
        assert line["error"] is True
        details = str(line["details"])
        assert details.startswith("Will BTC be up?: the market websocket says it resolved")
        assert "winning token '9999', neither of its tokens" in details
        assert "not booked on a guess" in details
        # the position is kept and the market still followed: the socket's book still arrives
        assert bot.trading_state()["active_positions"]
        ws.last_trade(UP, 0.44, 5)
        eventually(lambda: bot.status()["feeds"][CONDITION]["last_trade"] == 0.44, timeout=20)
        assert len(refused()) == 1
    finally:
        bot.stop()
