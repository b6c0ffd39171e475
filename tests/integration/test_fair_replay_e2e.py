"""A DRY_RUN session's fair value replays exactly: `bot run --mode dry-run` against the local
CLOB (its books read over REST or from the local market websocket) and the local price
stream records a tape with the model's inputs (prices, strikes);
`bot backtest` on that tape writes the same signals, with the same P(UP), the same inputs
(price, strike, time left, volatility, price age) and the same decisions."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.fairvalue import MODEL, PriceInput, StrikeInput
from bot.feeds.tape import TapeReader
from tests.schema_check import assert_valid
from tests.support import eventually
from tests.venue import LiveVenue

BTC, ETH = "0x" + "b1" * 32, "0x" + "e7" * 32
TOKENS = {BTC: ("411", "422"), ETH: ("511", "522")}
STRIKES = {"btcusd": 100_000.0, "ethusd": 4_000.0}
# what a decision is: these fields of a signal line must be the same in the replay
DECIDED = ("ts_ms", "strategy", "market_id", "outcome", "action", "price_micros", "edge_micros")
DECIDED += ("executed", "skip_reason", "p_up", "p_up_micros", "fair_value", "fair_value_reason")


@pytest.fixture
def venue() -> Iterator[LiveVenue]:
    start = int(time.time()) - 20  # the windows opened 20 s ago; the stream's history has it
    with LiveVenue.start(market_ws=True, prices=True) as local:
        for (market, tokens), coin in zip(TOKENS.items(), ("btc", "eth"), strict=True):
            local.add_window(market, tokens, coin, start)
        for symbol, strike in STRIKES.items():
            local.prices.publish(
                symbol, strike, ts_ms=start * 1000 + 1_000
            )  # the price at the windows' start
        yield local


def _signals(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("feed", ["rest", "websocket"])
def test_a_dry_run_sessions_fair_value_replays_exactly(tmp_path: Path, venue: LiveVenue, feed: str) -> None:
    prices = venue.prices
    home = tmp_path / "home"
    polymarket = {"price_silence_s": 30, **({"market_feed": "websocket"} if feed == "websocket" else {})}
    edge = {"enabled": ["edge"], "params": {"edge": {"min_edge": 0.15, "min_seconds_left": 5}}}
    risk = {"max_total_exposure_usd": 6}
    venue.write_home(home, heartbeat_s=0.3, polymarket=polymarket, risk=risk, strategies=edge)
    levels = dict(STRIKES)  # where each ticker's price is
    published = {symbol: 0 for symbol in STRIKES}

    def price(symbol: str) -> float:  # a wiggle of 1e-6, so the realised volatility is measured
        published[symbol] += 1
        return levels[symbol] * (1 + (published[symbol] % 3 - 1) * 1e-6)

    for symbol in STRIKES:
        prices.tick_every(symbol, 0.1, lambda symbol=symbol: price(symbol))
    bot = venue.bot(home, "dry-run", wallet=False).start()
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
    moved = STRIKES["btcusd"] + 400  # published with a wiggle of 1e-6, so within 0.5 of it
    assert any(isinstance(i, PriceInput) and abs(i.price - moved) <= 0.5 for i in reader.inputs)

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
