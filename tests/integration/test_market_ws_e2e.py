"""`bot run --mode dry-run` with `market_feed = "websocket"` as a real subprocess against the
local market websocket and CLOB servers: it subscribes, trades on the socket's book, and
shows the feed's health per market and per connection."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.testing.clob_server import ClobServer
from bot.testing.ws_market_server import WsMarketServer
from tests.support import BotProcess, activity, eventually

CONDITION = "0x" + "ab" * 32
UP, DOWN = "111", "222"


@pytest.fixture
def servers() -> Iterator[tuple[ClobServer, WsMarketServer]]:
    clob = ClobServer().start()
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    clob.add_market(CONDITION, (UP, DOWN), end_date_iso=end, question="Will BTC be up?")
    ws = WsMarketServer(clob.exchange).start()
    ws.set_book(UP, bids=[(0.45, 100)], asks=[(0.47, 100)])
    ws.set_book(DOWN, bids=[(0.53, 100)], asks=[(0.55, 100)])
    yield clob, ws
    ws.stop()
    clob.stop()


class DryRunBot(BotProcess):
    def __init__(self, home: Path, clob: ClobServer, ws: WsMarketServer) -> None:
        config = f"""
heartbeat_s = 0.5
state_refresh_s = 0.2
[polymarket]
host = "{clob.url}"
markets = ["{CONDITION}"]
poll_interval_s = 0.2
market_feed = "websocket"
market_ws_url = "{ws.url}"
[exits]
stop_loss_pct = 0
take_profit_pct = 0
[strategies]
enabled = ["tests.live_strategies:BuyOnce"]
"""
        super().__init__(home, config, "--mode", "dry-run")

    def start(self) -> DryRunBot:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLYMARKET_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--home", str(self.home), "--quiet", *self.extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )
        return self


def test_dry_run_trades_on_the_websocket_book(
    tmp_path: Path, servers: tuple[ClobServer, WsMarketServer]
) -> None:
    clob, ws = servers
    bot = DryRunBot(tmp_path, clob, ws).start()
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
    tmp_path: Path, servers: tuple[ClobServer, WsMarketServer]
) -> None:
    clob, ws = servers
    bot = DryRunBot(tmp_path, clob, ws).start()
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
