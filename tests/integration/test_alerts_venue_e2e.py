"""[alerts] end to end on the venue's side: `bot run` in DRY_RUN or LIVE as a real subprocess
against the local CLOB V2 server, posting to the local webhook receiver
(bot/testing/webhook_server.py). The events here come from the market data and the venue,
which PAPER never has: FEED_STALE when the venue stops answering book reads, ORDER_UNKNOWN
when an order's answer is lost, TRADE_FAILED when a booked trade fails on chain."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.testing.webhook_server import Post, WebhookServer
from tests.schema_check import assert_valid
from tests.support import eventually
from tests.venue import CONDITION, LiveVenue, VenueBot

BUY_ONCE = {"params": {"buy_once": {"at": "ask"}}}
TIMEOUT_S = 60.0  # a loaded 2-core machine: generous
STALE_S = 1.0


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


def start(
    home: Path, venue: LiveVenue, hooks: WebhookServer, mode: str, events: list[str], **overrides: Any
) -> VenueBot:
    """The venue's market, book reads stale after STALE_S, `events` posted to hooks' /json."""
    alerts = {"events": events, "backoff_s": 0.1, "timeout_s": 5.0, "json": {"url_env": "TT_TEST_JSON"}}
    polymarket = {"stale_feed_s": STALE_S, "prices": False, "user_channel": False}
    venue.write_home(home, heartbeat_s=0.2, polymarket=polymarket, alerts=alerts, **overrides)
    bot = venue.bot(home, mode)
    bot.env["TT_TEST_JSON"] = hooks.url("/json")
    return bot.start()


def alerts_of(posts: list[Post], event: str) -> list[dict[str, Any]]:
    return [p.body for p in posts if isinstance(p.body, dict) and p.body.get("event") == event]


def test_a_book_the_venue_stops_serving_is_one_feed_stale_alert(
    tmp_path: Path, venue: LiveVenue, hooks: WebhookServer
) -> None:
    no_strategy = {"exits": None, "strategies": {"enabled": []}}
    bot = start(tmp_path, venue, hooks, "dry-run", ["FEED_STALE"], **no_strategy)
    try:
        bot.wait_ready(TIMEOUT_S)

        def fresh() -> bool:
            book = (bot.status().get("feeds") or {}).get(CONDITION) or {}
            return book.get("age_s") is not None and book["age_s"] < STALE_S

        eventually(fresh, TIMEOUT_S)
        assert alerts_of(hooks.received(), "FEED_STALE") == []  # a fresh book: nothing to say

        venue.clob.outage(120, status=500, path="/book")  # the venue stops answering book reads
        posts = hooks.wait_for(lambda posts: bool(alerts_of(posts, "FEED_STALE")), TIMEOUT_S)
        (alert,) = alerts_of(posts, "FEED_STALE")
        assert alert["market"] == CONDITION
        assert f"stale after {STALE_S:g} s" in alert["detail"]
        assert alert["bot"].startswith("DRY_RUN ")
        assert alert["text"].startswith("touchtrader DRY_RUN ")

        # the book stays stale for many more status writes: still one alert (repeat_s 600)
        told_at = time.time()
        eventually(lambda: bot.status()["timestamp_epoch_s"] > told_at + 2.0, TIMEOUT_S)
        assert len(alerts_of(hooks.received(), "FEED_STALE")) == 1
        status = bot.status()
        assert status["feeds"][CONDITION]["age_s"] > STALE_S
        assert status["alerts"]["delivered"] == 1
        assert_valid("status", status)
        rows = [r for r in _records(tmp_path) if r["event"] == "FEED_STALE"]
        assert [(r["destination"], r["delivered"]) for r in rows] == [("json", True)]

        venue.clob.clear_faults()  # the venue answers again: the book is fresh once more
        eventually(fresh, TIMEOUT_S)
    finally:
        bot.stop()


def test_an_order_whose_answer_is_lost_is_an_order_unknown_alert(
    tmp_path: Path, venue: LiveVenue, hooks: WebhookServer
) -> None:
    venue.clob.lose_next_response("POST", "/order", status=0)  # the order lands; its answer is lost
    bot = start(tmp_path, venue, hooks, "live", ["ORDER_UNKNOWN"], strategies=BUY_ONCE)
    try:
        bot.wait_ready(TIMEOUT_S)
        posts = hooks.wait_for(lambda posts: bool(alerts_of(posts, "ORDER_UNKNOWN")), TIMEOUT_S)
        (alert,) = alerts_of(posts, "ORDER_UNKNOWN")
        assert alert["market"] == CONDITION
        assert alert["bot"].startswith("LIVE ")
        assert "BUY 10 UP @ 0.47" in alert["detail"]
        assert "UNKNOWN: not confirmed, reconciled with the venue" in alert["detail"]
        order_id = alert["data"]["order_id"]
        assert order_id in alert["detail"]
        # reconciliation found it on the venue: booked once as a fill, never placed twice
        state = eventually(lambda: (s := bot.trading_state())["active_positions"] and s, TIMEOUT_S)
        (position,) = state["active_positions"]
        assert (position["side"], position["shares"]) == ("UP", 10.0)
        assert [r for r in venue.clob.requests if r.method == "POST" and r.path == "/order"][1:] == []
        filled = [a for a in state["recent_activity"] if a["type"] == "ORDER_FILLED"]
        assert [order_id in a["details"] for a in filled] == [True]
        eventually(
            lambda: [r["delivered"] for r in _records(tmp_path) if r["event"] == "ORDER_UNKNOWN"] == [True]
        )
    finally:
        bot.stop()


def test_a_fill_whose_trade_fails_on_chain_is_a_trade_failed_alert_and_a_halted_one(
    tmp_path: Path, venue: LiveVenue, hooks: WebhookServer
) -> None:
    bot = start(tmp_path, venue, hooks, "live", ["TRADE_FAILED", "HALTED"], strategies=BUY_ONCE)
    try:
        bot.wait_ready(TIMEOUT_S)
        eventually(lambda: bot.trading_state()["active_positions"], TIMEOUT_S)
        assert hooks.received() == []  # a fill booked: nothing to say yet
        [trade_id] = venue.clob.fail_trades()
        posts = hooks.wait_for(
            lambda posts: bool(alerts_of(posts, "TRADE_FAILED") and alerts_of(posts, "HALTED")), TIMEOUT_S
        )
        (failed,) = alerts_of(posts, "TRADE_FAILED")
        (halted,) = alerts_of(posts, "HALTED")
        assert trade_id in failed["detail"]
        assert "FAILED on chain" in failed["detail"]
        assert failed["detail"] == halted["detail"]  # one cause, said as both events
        eventually(lambda: bot.status()["trading_state"] == "HALTED", TIMEOUT_S)  # written after the alert
    finally:
        bot.stop()


def _records(home: Path) -> list[dict[str, Any]]:
    path = home / "logs" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
