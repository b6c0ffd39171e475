"""The strike of a rolling window: taken from the price feed at the window's start, then
replaced by Gamma's official price to beat once Gamma publishes it, with both values and the
difference in the activity feed and the source in status.json. `bot run --mode dry-run` as a
subprocess against the local Gamma, CLOB and price stream servers, on a market clock all
share, ten times faster than the wall clock (TOUCHTRADER_MARKET_CLOCK, bot/clock.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.clock import MARKET_CLOCK_ENV
from bot.fairvalue import StrikeInput
from bot.feeds.tape import TapeReader
from bot.model import iso
from bot.testing.clob_server import ClobServer
from bot.testing.gamma_server import GammaServer
from bot.testing.price_server import PriceServer
from tests.schema_check import assert_valid
from tests.support import BotProcess, activity, eventually

SPEED = 10.0  # a 5-minute window passes in 30 s
WINDOW_S = 300
SERIES = "btc-updown-5m"
CREDS = ("price-key", "cHJpY2Utc2VjcmV0", "price-pass")
FEED_PRICE = 100_000.0  # the TWAP the stream sends all along: the feed's strike
OFFICIAL = 100_012.5  # Gamma's price to beat, published a market minute after the start


@dataclass
class Servers:
    env: str
    now_ms: Callable[[], int]
    first_s: int  # start of the window open when the bot starts
    gamma: GammaServer
    clob: ClobServer
    prices: PriceServer

    def condition(self, n: int) -> str:
        return self.gamma.condition_id(f"{SERIES}-{self.first_s + n * WINDOW_S}")


@pytest.fixture
def servers() -> Iterator[Servers]:
    wall0 = int(time.time() * 1000)
    grid = WINDOW_S * 1000
    market0 = wall0 // grid * grid + 60_000  # a window opened a market minute ago

    def now_ms() -> int:
        return market0 + round((time.time() * 1000 - wall0) * SPEED)

    gamma = GammaServer(series=[SERIES], clock=lambda: now_ms() / 1000, resolve_after_s=5)
    gamma.price_to_beat = OFFICIAL
    gamma.price_to_beat_after_s = 60
    gamma.start()
    clob = ClobServer().start()
    prices = PriceServer(creds=CREDS).start()
    first = (market0 - 60_000) // 1000
    s = Servers(f"{wall0}:{market0}:{SPEED}", now_ms, first, gamma, clob, prices)
    for n in range(4):
        slug = f"{SERIES}-{first + n * WINDOW_S}"
        up, down = gamma.token_ids(slug)
        end = iso((first + (n + 1) * WINDOW_S) * 1000).replace(".000", "")
        clob.add_market(s.condition(n), (up, down), end_date_iso=end, question=slug)
        clob.set_book(up, bids=[(0.45, 100)], asks=[(0.47, 100)])
        clob.set_book(down, bids=[(0.53, 100)], asks=[(0.55, 100)])
    stop = threading.Event()

    def tick() -> None:  # the stream's TWAP on the shared market clock, every half market second
        while not stop.wait(0.05):
            prices.publish("btcusd", FEED_PRICE, ts_ms=now_ms())

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    yield s
    stop.set()
    ticker.join(2)
    prices.stop()
    clob.stop()
    gamma.stop()


class Bot(BotProcess):
    def __init__(self, home: Path, s: Servers) -> None:
        config = f"""
heartbeat_s = 0.3
state_refresh_s = 0.2
[polymarket]
host = "{s.clob.url}"
gamma_host = "{s.gamma.url}"
series = ["{SERIES}"]
poll_interval_s = 0.2
discovery_poll_s = 0.2
discovery_refresh_s = 2
resolve_poll_s = 5
price_ws_url = "{s.prices.url}"
price_silence_s = 30
[exits]
stop_loss_pct = 0
take_profit_pct = 0
[strategies]
enabled = ["edge"]
[strategies.params.edge]
min_edge = 0.5
"""
        super().__init__(home, config, "--mode", "dry-run")
        self.clock_env = s.env

    def start(self) -> Bot:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLYMARKET_")}
        env.update(
            POLYMARKET_API_KEY=CREDS[0],
            POLYMARKET_API_SECRET=CREDS[1],
            POLYMARKET_API_PASSPHRASE=CREDS[2],
            PYTHONUNBUFFERED="1",
        )
        env[MARKET_CLOCK_ENV] = self.clock_env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--home", str(self.home), "--quiet", *self.extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        return self


def test_the_feeds_strike_gives_way_to_gammas_price_to_beat(tmp_path: Path, servers: Servers) -> None:
    s = servers
    window = s.condition(1)  # the first window the bot sees a lead before it opens
    bot = Bot(tmp_path, s).start()
    try:
        bot.wait_ready(timeout=30)

        def underlying() -> dict[str, object] | None:
            feed = (bot.status().get("feeds") or {}).get(window) or {}
            return feed.get("underlying")

        def official() -> dict[str, object] | None:
            under = underlying()
            return under if under and under["strike_source"] == "gamma" else None

        def strike_in(status: dict[str, Any], source: str) -> object:
            """The engine's record (status.json `markets`) beside the fair-value feed's, written together."""
            under = ((status.get("feeds") or {}).get(window) or {}).get("underlying") or {}
            if under.get("strike_source") != source:
                return None
            [row] = [m for m in status["markets"] if m["market_id"] == window]
            return (row["strike"],)

        # the feed's strike reaches the engine's record of the market as soon as it is taken
        assert eventually(lambda: strike_in(bot.status(), "feed"), timeout=90) == (FEED_PRICE,)
        under = eventually(official, timeout=90)
        assert under["strike"] == OFFICIAL
        assert under["strike_from"] == "metadata"
        status = bot.status()
        assert_valid("status", status)
        assert strike_in(status, "gamma") == (OFFICIAL,)  # then Gamma's replaces it there too

        def replaced() -> list[dict[str, object]]:
            said = [a for a in activity(tmp_path) if a["type"] == "PRICE_FEED" and a["market"] == window]
            return [a for a in said if "price to beat" in str(a["details"])]

        eventually(replaced, timeout=30)
        [line] = replaced()
        text = str(line["details"])
        assert "price to beat 100012.5 replaces 100000 from the feed (first price)" in text
        assert "difference +12.5 (+1.25 bps)" in text

        def resolved() -> list[dict[str, object]]:
            return [a for a in activity(tmp_path) if a["type"] == "MARKET_RESOLVED" and a["market"] == window]

        [line] = eventually(resolved, timeout=120)
        assert f"(strike {OFFICIAL}," in str(line["details"]), line  # not "strike ?"
    finally:
        bot.stop()
    # the tape has both strikes, in the order they were taken, for the replay
    [tape] = sorted((tmp_path / "logs" / "tapes").glob("*.jsonl.gz"))
    reader = TapeReader(tape, inputs=True)
    list(reader)
    strikes = [
        (i.strike, i.source) for i in reader.inputs if isinstance(i, StrikeInput) and i.market_id == window
    ]
    assert strikes == [(FEED_PRICE, "feed"), (OFFICIAL, "gamma")]
