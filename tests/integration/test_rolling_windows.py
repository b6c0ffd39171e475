"""`[polymarket] series`: `bot run --mode dry-run` as a subprocess rolls through the windows a
local Gamma server lists, against a local CLOB server, on a market clock both share and run
20 times faster than the wall clock (TOUCHTRADER_MARKET_CLOCK, bot/clock.py): each window is
subscribed at least a minute before it opens, traded by `canary`, resolved from Gamma and
dropped; a Gamma outage is survived; a window with other rules is skipped with the reason."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.model import iso
from bot.startup import JOURNAL_NAME
from bot.testing.ws_market_server import WsMarketServer
from tests.schema_check import assert_valid
from tests.support import activity, eventually
from tests.venue import WINDOW_S, LiveVenue, MarketClock, VenueBot

# a 5-minute window passes in 15 s. The next window must be discovered a market minute before it
# opens: 9 s of wall time after the fixture starts its clock for the bot to start. At 40x (4.5 s)
# a loaded 2-core machine (two test workers) started the bot too late and it skipped that window.
SPEED = 20.0
SERIES = "btc-updown-5m"


@pytest.fixture
def market() -> Iterator[LiveVenue]:
    """Gamma lists the series' windows on a market clock that starts a minute into one; the
    CLOB lists the first ten, with a book favouring UP."""
    clock = MarketClock.into_window(SPEED, seconds_in=60)
    with LiveVenue.start(series=SERIES, clock=clock) as m:
        m.list_windows(10, up=(0.55, 0.57), fee_rate=0.07)
        m.gamma.fault(m.slug(4), "twap30")  # the fourth window after start settles on another rule
        yield m


def rolling_home(home: Path, m: LiveVenue, polymarket: dict[str, Any] | None = None, **overrides: Any) -> str:
    """canary on each window of the series; `polymarket`: more [polymarket] settings."""
    settings = {"market_feed": "rest", "discovery_poll_s": 0.2, "resolve_poll_s": 5, **(polymarket or {})}
    overrides["strategies"] = {"enabled": ["canary"], **overrides.get("strategies", {})}
    return m.write_home(home, polymarket=settings, **overrides)


def rolling_bot(home: Path, m: LiveVenue, mode: str = "dry-run", **polymarket: Any) -> VenueBot:
    """`bot run` on the rolling windows: DRY_RUN without a wallet, LIVE with one."""
    rolling_home(home, m, polymarket)
    return m.bot(home, mode, wallet=mode == "live")


def lines(home: Path, kind: str) -> list[dict[str, object]]:
    return [a for a in activity(home) if a["type"] == kind]


def said(home: Path, kind: str, *words: str) -> list[dict[str, object]]:
    return [a for a in lines(home, kind) if all(w in str(a["details"]) for w in words)]


def on(home: Path, kind: str, market_id: str) -> list[dict[str, object]]:
    return [a for a in lines(home, kind) if a["market"] == market_id]


def test_dry_run_rolls_through_windows(tmp_path: Path, market: LiveVenue) -> None:
    m = market
    bot = rolling_bot(tmp_path, m).start()
    try:
        status = bot.wait_ready(timeout=30)
        assert status["discovery"]["series"] == [SERIES]
        # the window open at start was seen too late to trade
        eventually(lambda: said(tmp_path, "DISCOVERY", m.slug(0), "skipped", "less than 60 s"), timeout=30)
        # three windows: subscribed ahead, opened, traded, resolved on Gamma, dropped
        for n in (1, 2, 3):
            eventually(lambda n=n: on(tmp_path, "MARKET_RESOLVED", m.condition(n)), timeout=60)
            if n == 1:  # Gamma fails for a while (500s), then answers again
                m.gamma.fail_next("/events", status=500, count=4)
        # a window with another TWAP rule is skipped, with the reason
        eventually(lambda: said(tmp_path, "DISCOVERY", m.slug(4), "skipped", "30"), timeout=30)
        final = bot.status()
        assert final["is_alive"], "the bot must not end with its markets"
        assert_valid("status", final)
    finally:
        bot.stop()
    assert bot.proc is not None
    assert bot.proc.returncode == 0
    for n in (1, 2, 3):
        checked = said(tmp_path, "DISCOVERY", m.slug(n), "checked", "before it opens")
        subscribed = said(tmp_path, "DISCOVERY", m.slug(n), "book subscribed")
        assert len(checked) == 1, f"window {n}: {checked} {subscribed}"
        assert len(subscribed) == 1, f"window {n}: {checked} {subscribed}"
        lead_s = float(str(subscribed[0]["details"]).split(" subscribed ")[1].split(" s before")[0])
        assert lead_s >= 60, f"window {n} subscribed only {lead_s} s ahead"
        assert (
            checked[0]["timestamp"]
            <= subscribed[0]["timestamp"]
            < iso((m.clock.first_s + n * WINDOW_S) * 1000)
        )
        assert on(tmp_path, "ORDER_FILLED", m.condition(n)), f"canary traded window {n}"
        resolved = said(tmp_path, "DISCOVERY", m.slug(n), "resolved", "dropped")
        assert len(resolved) == 1
    failing = said(tmp_path, "DISCOVERY", "failing", "500")
    assert failing
    assert failing[0].get("error") is True
    assert said(tmp_path, "DISCOVERY", "Gamma answers again")
    orders = [json.loads(x) for x in (tmp_path / "logs" / "dry_run_orders.jsonl").read_text().splitlines()]
    traded = {o["market_id"] for o in orders}
    assert {m.condition(n) for n in (1, 2, 3)} <= traded, traded
    assert m.condition(0) not in traded
    assert m.condition(4) not in traded
    stopped = lines(tmp_path, "BOT_STOPPED")
    assert stopped
    assert "end of market data" not in str(stopped[-1]["details"])
    with sqlite3.connect(tmp_path / "state" / JOURNAL_NAME) as db:  # the journal has each window
        rows = dict(db.execute("SELECT market_id, winning_outcome FROM markets").fetchall())
        kinds = {k for (k,) in db.execute("SELECT DISTINCT type FROM activity").fetchall()}
    for n in (1, 2, 3):
        assert rows[m.condition(n)] in ("UP", "DOWN"), rows
    assert m.condition(0) not in rows, "never opened for trading"
    assert m.condition(4) not in rows, "never opened for trading"
    assert "DISCOVERY" in kinds


def test_restart_takes_back_the_window_it_holds(tmp_path: Path, market: LiveVenue) -> None:
    """Stopped while holding a window: the next start (same home, same series) is not refused,
    takes the window back, books its resolution, and goes on with the next windows."""
    m = market
    bot = rolling_bot(tmp_path, m).start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: on(tmp_path, "ORDER_FILLED", m.condition(1)), timeout=60)
    finally:
        bot.stop()
    assert not on(tmp_path, "MARKET_RESOLVED", m.condition(1))
    again = rolling_bot(tmp_path, m).start()
    try:
        again.wait_ready(timeout=30)
        eventually(lambda: said(tmp_path, "DISCOVERY", m.slug(1), "taken back after the restart"), timeout=30)
        eventually(lambda: on(tmp_path, "MARKET_RESOLVED", m.condition(1)), timeout=30)
        exit_line = eventually(lambda: on(tmp_path, "POSITION_EXIT", m.condition(1)), timeout=30)
        assert "market resolved" in str(exit_line[0]["details"])
        eventually(lambda: said(tmp_path, "DISCOVERY", m.slug(3), "book subscribed"), timeout=60)
        assert again.status()["is_alive"]
        assert again.trading_state()["active_positions"] == [] or all(
            p["market"] != m.condition(1) for p in again.trading_state()["active_positions"]
        )
    finally:
        again.stop()


def test_the_market_websocket_subscribes_ahead_and_unsubscribes_resolved_windows(
    tmp_path: Path, market: LiveVenue
) -> None:
    m = market
    ws = WsMarketServer(m.clob.exchange).start()
    up = m.gamma.token_ids(m.slug(1))[0]
    bot = rolling_bot(tmp_path, m, market_feed="websocket", market_ws_url=ws.url).start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: ws.subscribed(up) == 1, timeout=30)
        assert m.clock.now_ms() < (m.clock.first_s + WINDOW_S) * 1000, "on the socket before the window opens"
        eventually(lambda: on(tmp_path, "ORDER_FILLED", m.condition(1)), timeout=60)
        eventually(lambda: on(tmp_path, "MARKET_RESOLVED", m.condition(1)), timeout=60)
        eventually(lambda: ws.subscribed(up) == 0, timeout=30)
        feeds = eventually(lambda: (f := bot.status()["feed_connections"]) and f, timeout=10)
        assert feeds[0]["state"] == "connected"
    finally:
        bot.stop()
        ws.stop()


def test_an_unknown_series_stops_the_start_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bot.toml").write_text(
        '[polymarket]\nseries = ["btc-updown-7m"]\ngamma_host = "http://127.0.0.1:9"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--home", str(tmp_path), "--quiet", "--mode", "dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    message = [line for line in out.stderr.splitlines() if "btc-updown-7m" in line]
    assert len(message) == 1, out.stderr
    assert "polymarket.series" in message[0], out.stderr
    assert "timeframe" in message[0], out.stderr


def test_live_rolls_through_windows_against_the_clob_server(tmp_path: Path, market: LiveVenue) -> None:
    """LIVE: each rolled window is registered with the venue (orders signed and posted for it),
    its trades are read back, and its resolution settles the position."""
    m = market
    bot = rolling_bot(tmp_path, m, "live").start()
    try:
        bot.wait_ready(timeout=30)
        for n in (1, 2):
            eventually(lambda n=n: on(tmp_path, "ORDER_FILLED", m.condition(n)), timeout=60)
            eventually(lambda n=n: on(tmp_path, "MARKET_RESOLVED", m.condition(n)), timeout=60)
        assert bot.status()["is_alive"]
    finally:
        bot.stop()
    posted = [r for r in m.clob.requests if r.method == "POST" and r.path == "/order"]
    assert len(posted) >= 2
    assert not lines(tmp_path, "ORDER_REJECTED"), lines(tmp_path, "ORDER_REJECTED")
