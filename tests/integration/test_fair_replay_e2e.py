"""A DRY_RUN session's fair value replays exactly: `bot run --mode dry-run` against the local
CLOB (its books read over REST or from the local market websocket) and the local price
stream records a tape with the model's inputs (prices, strikes);
`bot backtest` on that tape writes the same signals, with the same P(UP), the same inputs
(price, strike, time left, volatility, price age) and the same decisions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.fairvalue import MODEL, PriceInput, StrikeInput
from bot.feeds.tape import TapeReader
from bot.testing.clob_server import ClobServer
from bot.testing.price_server import PriceServer
from bot.testing.ws_market_server import WsMarketServer
from tests.schema_check import assert_valid
from tests.support import BotProcess, eventually

BTC, ETH = "0x" + "b1" * 32, "0x" + "e7" * 32
TOKENS = {BTC: ("411", "422"), ETH: ("511", "522")}
CREDS = ("price-key", "cHJpY2Utc2VjcmV0", "price-pass")
STRIKES = {"btcusd": 100_000.0, "ethusd": 4_000.0}
# what a decision is: these fields of a signal line must be the same in the replay
DECIDED = ("ts_ms", "strategy", "market_id", "outcome", "action", "price_micros", "edge_micros")
DECIDED += ("executed", "skip_reason", "p_up", "p_up_micros", "fair_value", "fair_value_reason")


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@pytest.fixture
def servers() -> Iterator[tuple[ClobServer, PriceServer, WsMarketServer]]:
    start = int(time.time()) - 20  # the windows opened 20 s ago; the stream's history has it
    clob = ClobServer().start()
    ws = WsMarketServer(clob.exchange).start()
    for (market, (up, down)), coin in zip(TOKENS.items(), ("btc", "eth"), strict=True):
        clob.add_market(
            market,
            (up, down),
            end_date_iso=_iso(start + 300),
            question=f"{coin.upper()} Up or Down?",
            slug=f"{coin}-updown-5m-{start}",
        )
        for book in (clob, ws):
            book.set_book(up, bids=[(0.45, 100)], asks=[(0.47, 100)])
            book.set_book(down, bids=[(0.53, 100)], asks=[(0.55, 100)])
    prices = PriceServer(creds=CREDS).start()
    for symbol, strike in STRIKES.items():
        prices.publish(symbol, strike, ts_ms=start * 1000 + 1_000)  # the price at the windows' start
    yield clob, prices, ws
    prices.stop()
    ws.stop()
    clob.stop()


class PricedBot(BotProcess):
    def __init__(self, home: Path, clob: ClobServer, prices: PriceServer, socket: str) -> None:
        config = f"""
heartbeat_s = 0.3
state_refresh_s = 0.2
[polymarket]
host = "{clob.url}"
markets = ["{BTC}", "{ETH}"]
poll_interval_s = 0.2
{socket}
price_ws_url = "{prices.url}"
price_silence_s = 30
[risk]
max_total_exposure_usd = 6
[exits]
stop_loss_pct = 0
take_profit_pct = 0
[strategies]
enabled = ["edge"]
[strategies.params.edge]
min_edge = 0.15
min_seconds_left = 5
"""
        super().__init__(home, config, "--mode", "dry-run")

    def start(self) -> PricedBot:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLYMARKET_")}
        env.update(
            POLYMARKET_API_KEY=CREDS[0],
            POLYMARKET_API_SECRET=CREDS[1],
            POLYMARKET_API_PASSPHRASE=CREDS[2],
            PYTHONUNBUFFERED="1",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--home", str(self.home), "--quiet", *self.extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        return self


def _signals(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("feed", ["rest", "websocket"])
def test_a_dry_run_sessions_fair_value_replays_exactly(
    tmp_path: Path, servers: tuple[ClobServer, PriceServer, WsMarketServer], feed: str
) -> None:
    clob, prices, ws = servers
    socket = f'market_feed = "websocket"\nmarket_ws_url = "{ws.url}"' if feed == "websocket" else ""
    home = tmp_path / "home"
    home.mkdir()
    levels = dict(STRIKES)  # where each ticker's price is
    published = {symbol: 0 for symbol in STRIKES}

    def price(symbol: str) -> float:  # a wiggle of 1e-6, so the realised volatility is measured
        published[symbol] += 1
        return levels[symbol] * (1 + (published[symbol] % 3 - 1) * 1e-6)

    for symbol in STRIKES:
        prices.tick_every(symbol, 0.1, lambda symbol=symbol: price(symbol))
    bot = PricedBot(home, clob, prices, socket).start()
    signals = home / "logs" / "signals.jsonl"
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: all(f["underlying"]["strike"] for f in bot.status()["feeds"].values()), 30)
        # near the strikes for long enough that the model measures the volatility (30 changes)
        eventually(lambda: bot.status()["feed_connections"] and min(published.values()) >= 60, timeout=60)
        assert not _signals(signals)  # P(UP) near 0.5: no edge of 0.15 against asks of 0.47 and 0.55
        # BTC well above its strike: edge buys UP; then ETH well below: edge would buy DOWN,
        # but the total exposure cap refuses it (a decision too)
        levels["btcusd"] = STRIKES["btcusd"] + 400
        eventually(lambda: any(s["market_id"] == BTC for s in _signals(signals)), timeout=30)
        levels["ethusd"] = STRIKES["ethusd"] - 30
        eventually(lambda: any(s["market_id"] == ETH for s in _signals(signals)), timeout=30)
    finally:
        bot.stop()
    session = _signals(signals)
    assert {(s["market_id"], s["outcome"]) for s in session} == {(BTC, "UP"), (ETH, "DOWN")}
    assert [s["executed"] for s in session] == [True, False]
    assert "max_total_exposure_usd" in session[1]["skip_reason"]
    for line in session:
        assert_valid("signal", line)
        fair = line["fair_value"]
        assert fair is not None, line
        assert fair["model"] == MODEL
        assert line["fair_value_reason"] is None
        assert round(fair["p_up"] * 1_000_000) == line["p_up_micros"]
        assert fair["strike_source"] == "feed"
        assert fair["seconds_left"] > 0
        assert fair["volatility_per_sqrt_s"] > 0
        assert fair["price_age_s"] >= 0
    by_market = {s["market_id"]: s["fair_value"] for s in session}
    assert by_market[BTC]["volatility_per_sqrt_s"] != 0.0001  # measured, not the default
    assert by_market[BTC]["strike"] == STRIKES["btcusd"]
    assert abs(by_market[BTC]["underlying"] - (STRIKES["btcusd"] + 400)) <= 0.5
    assert by_market[BTC]["price_source"] == "polybolt:btcusd"
    assert by_market[ETH]["strike"] == STRIKES["ethusd"]
    assert by_market[ETH]["price_source"] == "polybolt:ethusd"

    # the tape holds the model's inputs beside the books
    tape = home / "logs" / "tapes" / "session-1.jsonl.gz"
    reader = TapeReader(tape, inputs=True)
    list(reader)
    assert reader.malformed_total == 0, reader.malformed
    strikes = [i for i in reader.inputs if isinstance(i, StrikeInput)]
    assert {(s.market_id, s.strike, s.source) for s in strikes} == {
        (BTC, STRIKES["btcusd"], "feed"),
        (ETH, STRIKES["ethusd"], "feed"),
    }
    assert any(isinstance(i, PriceInput) and i.price == STRIKES["btcusd"] + 400 for i in reader.inputs)

    # the replay: the same signals, the same P(UP), the same inputs, the same decisions
    out = tmp_path / "replay"
    run = ["backtest", str(tape), "--config", str(home / "bot.toml"), "--out", str(out), "--quiet"]
    result = subprocess.run(
        [sys.executable, "-m", "bot", *run],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    replay = _signals(out / "logs" / "signals.jsonl")
    assert [{k: s[k] for k in DECIDED} for s in replay] == [{k: s[k] for k in DECIDED} for s in session]
