"""The strike of a rolling window: taken from the price feed at the window's start, then
replaced by Gamma's official price to beat once Gamma publishes it, with both values and the
difference in the activity feed and the source in status.json. `bot run --mode dry-run` as a
subprocess against the local Gamma, CLOB and price stream servers, on a market clock all
share, ten times faster than the wall clock (TOUCHTRADER_MARKET_CLOCK, bot/clock.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.fairvalue import StrikeInput
from bot.feeds.tape import TapeReader
from tests.schema_check import assert_valid
from tests.support import activity, eventually
from tests.venue import LiveVenue, MarketClock

SPEED = 10.0  # a 5-minute window passes in 30 s
SERIES = "btc-updown-5m"
FEED_PRICE = 100_000.0  # the TWAP the stream sends all along: the feed's strike
OFFICIAL = 100_012.5  # Gamma's price to beat, published a market minute after the start


@pytest.fixture
def venue() -> Iterator[LiveVenue]:
    clock = MarketClock.into_window(SPEED, seconds_in=60)  # a window opened a market minute ago
    with LiveVenue.start(series=SERIES, clock=clock, prices=True) as local:
        local.gamma.price_to_beat = OFFICIAL
        local.gamma.price_to_beat_after_s = 60
        local.list_windows(4)
        stop = threading.Event()

        def tick() -> None:  # the stream's TWAP on the shared market clock, every half market second
            while not stop.wait(0.05):
                local.prices.publish("btcusd", FEED_PRICE, ts_ms=clock.now_ms())

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        yield local
        stop.set()
        ticker.join(2)


def test_the_feeds_strike_gives_way_to_gammas_price_to_beat(tmp_path: Path, venue: LiveVenue) -> None:
    window = venue.condition(1)  # the first window the bot sees a lead before it opens
    polymarket = {
        "discovery_poll_s": 0.2,
        "discovery_refresh_s": 2,
        "resolve_poll_s": 5,
        "price_silence_s": 30,
    }
    edge = {"enabled": ["edge"], "params": {"edge": {"min_edge": 0.5}}}
    venue.write_home(tmp_path, heartbeat_s=0.3, polymarket=polymarket, strategies=edge)
    bot = venue.bot(tmp_path, "dry-run", wallet=False).start()
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
