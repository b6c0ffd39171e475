"""`bot run --mode dry-run` with `market_feed = "websocket"` as a real subprocess against the
local market websocket and CLOB servers: it subscribes, trades on the socket's book, and
shows the feed's health per market and per connection."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.testing.clob_server import ClobServer
from bot.testing.ws_market_server import WsMarketServer
from tests.support import BotProcess, eventually

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
