"""LIVE money safety, engine side (issue 9): `bot run --mode live` as a real subprocess
against the local CLOB V2 server, one fault per test. Every test ends by comparing the
books with the venue: no order beyond the caps, every venue trade booked exactly once as a
fill, and the journal's cash and open shares equal to the venue's balances."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.testing.clob_server import ClobServer
from tests.integration.test_live_e2e import posts
from tests.support import activity, eventually, read_json
from tests.venue import CONDITION, DOWN, UP, LiveVenue, VenueBot, end_in

OTHER = "0x" + "cd" * 32
OTHER_UP, OTHER_DOWN = "333", "444"
THIRD = "0x" + "ef" * 32
THIRD_UP, THIRD_DOWN = "555", "666"


def open_venue(end_in_s: float = 1800, second_market: bool = False) -> LiveVenue:
    """The local CLOB with the BTC market (and an ETH one) ending in `end_in_s`; the test stops it."""
    venue = LiveVenue.start()
    venue.add_market(end_in_s=end_in_s)
    if second_market:
        venue.add_market(OTHER, (OTHER_UP, OTHER_DOWN), end_in_s=end_in_s, question="ETH up?")
    return venue


def live_home(
    home: Path,
    venue: LiveVenue,
    at: str = "ask",
    markets: tuple[str, ...] = (),
    polymarket: dict[str, Any] | None = None,
    **overrides: Any,
) -> None:
    """bot.toml with the venue heartbeat on: BuyOnce at the ask (or the bid) of the venue's
    markets, unless `markets`, `polymarket` (more [polymarket] settings) and `overrides` say
    otherwise."""
    settings: dict[str, Any] = {"venue_heartbeat": True, **(polymarket or {})}
    if markets:
        settings["markets"] = list(markets)
    overrides.setdefault("strategies", {"params": {"buy_once": {"at": at}}})
    venue.write_home(home, polymarket=settings, **overrides)


def start(home: Path, venue: LiveVenue, **settings: Any) -> VenueBot:
    live_home(home, venue, **settings)
    return venue.bot(home, "live").start()


def books_match_venue(home: Path, server: ClobServer, tokens: dict[str, tuple[str, str]]) -> None:
    """Fills = the venue's trades, once each; cash = the venue's collateral; open shares per
    token = the venue's token balance (`tokens`: token id → (market id, side))."""
    conn = sqlite3.connect(f"file:{home / 'state' / 'bot.db'}?mode=ro", uri=True)
    try:
        fills = [r[0] for r in conn.execute("SELECT fill_id FROM fills WHERE mode='LIVE'")]
        cash = conn.execute("SELECT COALESCE(SUM(amount_micros), 0) FROM cash WHERE mode='LIVE'").fetchone()[
            0
        ]
        held = {
            token: conn.execute(
                "SELECT COALESCE(SUM(shares_micros), 0) FROM positions"
                " WHERE mode='LIVE' AND status='OPEN' AND market_id=? AND outcome=?",
                side,
            ).fetchone()[0]
            for token, side in tokens.items()
        }
    finally:
        conn.close()
    trades = {row["id"] for row in server.exchange.trades(server.api_key, {})["data"]}
    assert sorted(fills) == sorted(trades), "every venue trade is booked exactly once"
    assert cash == round(server.balance() * 1_000_000), "the books' cash is the venue's collateral"
    assert held == {t: round(server.position(t) * 1_000_000) for t in tokens}


def entry_posts(server: ClobServer) -> int:
    return sum(
        1
        for r in server.requests
        if r.method == "POST" and r.path == "/order" and r.body["order"]["side"] == "BUY"
    )


# -- case 2: a loss at resolution counts toward the session limits --------------------------


def test_a_loss_counts_at_resolution_and_a_win_once_redeemed(tmp_path: Path) -> None:
    venue = open_venue(end_in_s=20, second_market=True)
    venue.clob.add_market(THIRD, (THIRD_UP, THIRD_DOWN), end_date_iso=end_in(1800), question="SOL up?")
    venue.clob.set_book(THIRD_UP, bids=[(0.45, 100)], asks=[(0.47, 100)])
    markets = (CONDITION, OTHER, THIRD)
    tokens = {
        DOWN: (CONDITION, "DOWN"),
        OTHER_UP: (OTHER, "UP"),
        OTHER_DOWN: (OTHER, "DOWN"),
        THIRD_UP: (THIRD, "UP"),
    }
    bot = start(tmp_path, venue, markets=markets, risk={"daily_loss_limit_usd": 4})
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: len(bot.trading_state()["active_positions"]) == 3, timeout=20)
        venue.clob.resolve(CONDITION, DOWN)  # our UP lost: worth 0
        venue.clob.resolve(OTHER, OTHER_UP)  # our UP won: $10 once redeemed
        risk = eventually(lambda: (r := bot.status()["risk"])["daily_loss"] and r, timeout=40)
        assert risk["daily_loss"] == 4.7
        assert risk["consecutive_losses"] == 1
        assert risk["can_trade"] is False
        assert "daily loss limit" in risk["reason"]
        won = eventually(
            lambda: [p for p in bot.trading_state()["active_positions"] if p["market_id"] == OTHER and p],
            timeout=20,
        )[0]
        assert won["lifecycle"] == "AWAITING_REDEMPTION"
        assert won["status"] == "HELD"
        assert won["current_value"] == 10
        details = [a["details"] for a in activity(tmp_path) if a["type"] == "POSITION_EXIT"]
        assert any("LOST" in d and "net P&L -$4.70" in d for d in details)
        assert any("$10.00 awaiting redemption" in d for d in details)
        # the venue still holds the losing tokens (redeeming them pays 0): the books closed them at 0
        books_match_venue(tmp_path, venue.clob, tokens)
        assert venue.clob.position(UP) == 10
        # redeemed by hand: the winning tokens burnt, $10 of collateral paid
        venue.clob.set_position(OTHER_UP, 0)
        venue.clob.set_balance(venue.clob.balance() + 10)
        eventually(lambda: len(bot.trading_state()["active_positions"]) == 1, timeout=20)
        risk = eventually(lambda: (r := bot.status()["risk"])["can_trade"] and r, timeout=20)
        assert risk["daily_loss"] == 0
        assert risk["consecutive_losses"] == 0
        details = [a["details"] for a in activity(tmp_path) if a["type"] == "POSITION_EXIT"]
        assert any("WON" in d and "net P&L $5.30" in d for d in details)
        assert entry_posts(venue.clob) == 3
        books_match_venue(tmp_path, venue.clob, tokens)
    finally:
        bot.stop()
        venue.stop()


# -- case 4: every exit path ends flat, or names what it could not sell ---------------------


def test_a_remainder_under_five_shares_is_sold_with_a_market_order(tmp_path: Path, venue: LiveVenue) -> None:
    venue.clob.duplicate_trades(3)  # the venue lists each of the next trades twice
    bot = start(tmp_path, venue, at="ask")
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["active_positions"], timeout=20)
        venue.clob.set_book(UP, bids=[(0.45, 7)], asks=[(0.47, 100)])  # only 7 of our 10 find a buyer
        bot.touch("FLATTEN")
        eventually(lambda: (p := bot.trading_state()["active_positions"]) and p[0]["shares"] == 3, timeout=20)
        venue.clob.set_book(UP, bids=[(0.45, 100)], asks=[(0.47, 100)])
        eventually(lambda: not (tmp_path / "controls" / "FLATTEN").exists(), timeout=20)
        eventually(lambda: bot.trading_state()["active_positions"] == [])
        sells = [
            r.body["order"]
            for r in venue.clob.requests
            if r.path == "/order" and r.body["order"]["side"] == "SELL"
        ]
        # the whole position first, then the 3-share remainder; a slow test refills the book
        # after the bot's first try at the remainder, which found no buyer and is sent again:
        # every later sell is the remainder, never more
        amounts = [int(s["makerAmount"]) for s in sells]
        assert amounts[0] == 10_000_000, amounts
        assert len(amounts) >= 2, amounts
        assert set(amounts[1:]) == {3_000_000}, amounts
        assert entry_posts(venue.clob) == 1
        books_match_venue(tmp_path, venue.clob, {UP: (CONDITION, "UP"), DOWN: (CONDITION, "DOWN")})
        assert venue.clob.position(UP) == 0
    finally:
        bot.stop()


def test_dust_is_named_by_flatten_and_emergency_stop_which_never_hang(
    tmp_path: Path, venue: LiveVenue
) -> None:
    bot = start(tmp_path, venue, at="ask")
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["active_positions"], timeout=20)
        venue.clob.set_book(UP, bids=[(0.45, 7)], asks=[(0.47, 100)])
        bot.touch("FLATTEN")
        eventually(lambda: (p := bot.trading_state()["active_positions"]) and p[0]["shares"] == 3, timeout=20)
        venue.clob.set_book(UP, bids=[(0.30, 100)], asks=[(0.47, 100)])  # 3 shares: $0.90 < $1
        eventually(lambda: not (tmp_path / "controls" / "FLATTEN").exists(), timeout=20)
        dust = eventually(
            lambda: (p := bot.trading_state()["active_positions"]) and p[0]["lifecycle"] == "DUST" and p[0]
        )
        assert len(bot.trading_state()["active_positions"]) == 1
        assert dust["status"] == "HELD"
        assert dust["current_value"] == 0.9
        flatten = [
            a for a in activity(tmp_path) if a["type"] == "CONTROL_APPLIED" and "FLATTEN" in a["details"]
        ]
        assert "UP 3 shares (worth $0.90): dust" in flatten[-1]["details"]
        bot.touch("EMERGENCY_STOP")
        assert bot.wait_exit(timeout=30) == 0
        stop = [a for a in activity(tmp_path) if a["type"] == "CONTROL_APPLIED"][-1]
        assert "1 still held" in stop["details"]
        assert "UP 3 shares (worth $0.90): dust" in stop["details"]
        assert entry_posts(venue.clob) == 1
        books_match_venue(tmp_path, venue.clob, {UP: (CONDITION, "UP"), DOWN: (CONDITION, "DOWN")})
        assert venue.clob.position(UP) == 3
    finally:
        bot.stop()


# -- case 7: a slow venue stalls neither the heartbeat nor the controls ---------------------


def test_slow_book_reads_stall_neither_the_venue_heartbeat_nor_pause(tmp_path: Path) -> None:
    venue = open_venue(second_market=True)  # two books: one poll reads both, 12 s when slow
    bot = start(tmp_path, venue, at="bid")
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: len(bot.trading_state()["open_orders"]) == 2, timeout=20)
        venue.clob.delay_next("GET", "/book", 6.0, count=1_000_000)  # every book read now takes 6 s
        slow_from = venue.clob.requests[-1].at
        eventually(lambda: venue.clob.requests[-1].at - slow_from > 25, timeout=40, interval=0.5)
        beats = [r.at for r in venue.clob.requests if r.path == "/v1/heartbeats" and r.at >= slow_from]
        gaps = [b - a for a, b in itertools.pairwise(beats)]
        assert len(beats) >= 5, gaps
        assert max(gaps) < 10, gaps  # the venue's dead-man limit is ~10 s
        assert len(venue.clob.exchange.orders(live_only=True)) == 2  # the dead-man switch never fired
        for _ in range(3):  # PAUSE and resume while the books crawl: a poll takes 12 s
            bot.touch("PAUSE")
            eventually(lambda: bot.status()["trading_state"] == "PAUSED", timeout=3)
            (tmp_path / "controls" / "PAUSE").unlink()
            eventually(lambda: bot.status()["trading_state"] == "ACTIVE", timeout=3)
        assert venue.clob.exchange.orders(live_only=True) == []  # the first PAUSE cancelled both entries
        cancelled = [a["details"] for a in activity(tmp_path) if a["type"] == "ORDER_CANCELLED"]
        assert len(cancelled) == 2
        assert all("PAUSE" in c for c in cancelled)
        assert entry_posts(venue.clob) == 2
        tokens = {UP: (CONDITION, "UP"), DOWN: (CONDITION, "DOWN"), OTHER_UP: (OTHER, "UP")}
        books_match_venue(tmp_path, venue.clob, tokens)
    finally:
        bot.stop()
        venue.stop()


def test_slow_order_and_trade_reads_stall_neither_controls_nor_the_heartbeat(tmp_path: Path) -> None:
    """The order and trade poll (GET /data/orders, /data/trades) is read on its own thread:
    with both taking 6 s, PAUSE is applied at once, the heartbeat keeps time, a fill is
    still booked once, and EMERGENCY_STOP sells and stops."""
    venue = open_venue(second_market=True)
    bot = start(tmp_path, venue, at="bid")
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: len(bot.trading_state()["open_orders"]) == 2, timeout=20)
        for path in ("/data/orders", "/data/trades"):
            venue.clob.delay_next("GET", path, 6.0, count=1_000_000)  # one poll now reads for 12 s
        slow_from = venue.clob.requests[-1].at
        venue.clob.cross(UP, 0.45, 4)  # 4 of our 10 UP fill at the venue
        for _ in range(3):  # PAUSE and resume while a poll is in flight
            bot.touch("PAUSE")
            eventually(lambda: bot.status()["trading_state"] == "PAUSED", timeout=3)
            (tmp_path / "controls" / "PAUSE").unlink()
            eventually(lambda: bot.status()["trading_state"] == "ACTIVE", timeout=3)
        assert venue.clob.exchange.orders(live_only=True) == []  # the first PAUSE cancelled both
        filled = eventually(
            lambda: [a for a in activity(tmp_path) if a["type"] == "ORDER_FILLED"], timeout=40, interval=0.5
        )
        assert "BUY 4 UP @ 0.45" in filled[0]["details"]
        eventually(lambda: venue.clob.requests[-1].at - slow_from > 20, timeout=40, interval=0.5)
        beats = [r.at for r in venue.clob.requests if r.path == "/v1/heartbeats" and r.at >= slow_from]
        gaps = [b - a for a, b in itertools.pairwise(beats)]
        assert len(beats) >= 5, gaps
        assert max(gaps) < 10, gaps  # the venue's dead-man limit is ~10 s
        slow_reads = [r for r in venue.clob.requests if r.path in ("/data/orders", "/data/trades")]
        assert len(slow_reads) >= 2
        bot.touch("EMERGENCY_STOP")  # sells the 4 shares; the sale's fills are read at once
        assert bot.wait_exit(timeout=30) == 0
        stop = [a for a in activity(tmp_path) if a["type"] == "CONTROL_APPLIED"][-1]
        assert "EMERGENCY_STOP" in stop["details"]
        assert "1 of 1 positions sold" in stop["details"]
        assert entry_posts(venue.clob) == 2
        assert len([a for a in activity(tmp_path) if a["type"] == "ORDER_FILLED"]) == 2
        tokens = {UP: (CONDITION, "UP"), DOWN: (CONDITION, "DOWN"), OTHER_UP: (OTHER, "UP")}
        books_match_venue(tmp_path, venue.clob, tokens)
        assert venue.clob.position(UP) == 0
    finally:
        bot.stop()
        venue.stop()


# -- case 8: a tick change reaches the engine from the book, before any refusal -------------


@pytest.mark.parametrize("mode", ["live", "dry-run"])
def test_a_tick_change_in_the_book_reaches_the_risk_gates_and_strategies(
    tmp_path: Path, venue: LiveVenue, mode: str
) -> None:
    (tmp_path / "controls").mkdir()
    (tmp_path / "controls" / "PAUSE").touch()  # no entry until the tick has changed
    live_home(tmp_path, venue, at="bid")
    bot = venue.bot(tmp_path, mode).start()
    try:
        bot.wait_ready(timeout=30)
        venue.clob.exchange.set_tick(UP, 0.001)
        venue.clob.set_book(UP, bids=[(0.453, 100)], asks=[(0.457, 100)])
        eventually(lambda: any("tick 0.01 -> 0.001" in a["details"] for a in activity(tmp_path)), timeout=20)
        (tmp_path / "controls" / "PAUSE").unlink()
        order = eventually(lambda: (o := bot.trading_state()["open_orders"]) and o[0], timeout=20)
        assert order["price"] == 0.453
        kinds = {a["type"] for a in activity(tmp_path)}
        assert "RISK_REJECTED" not in kinds
        assert "ORDER_REJECTED" not in kinds
        assert posts(venue.clob, "/tick-size", "GET") == 0  # nothing was refused for its tick
        if mode == "live":
            assert posts(venue.clob, "/order") == 1
            books_match_venue(tmp_path, venue.clob, {UP: (CONDITION, "UP"), DOWN: (CONDITION, "DOWN")})
        else:  # signed with the new tick: 10 shares at 0.453
            [line] = (tmp_path / "logs" / "dry_run_orders.jsonl").read_text().splitlines()
            signed = json.loads(line)["request"]["body"]["order"]
            assert (signed["makerAmount"], signed["takerAmount"]) == ("4530000", "10000000")
            assert posts(venue.clob, "/order") == 0
    finally:
        bot.stop()


# -- case 9: time drives decisions on a quiet book -------------------------------------------


def test_a_quiet_book_still_gets_the_last_minute_entry_and_the_exit_before_end(tmp_path: Path) -> None:
    venue = open_venue(end_in_s=25)  # the books never change after this
    canary = {"enabled": ["canary"], "params": {"canary": {"seconds_before_end": 8}}}
    bot = start(tmp_path, venue, exits={"exit_before_end_s": 4}, strategies=canary)
    try:
        bot.wait_ready(timeout=30)
        exits = eventually(
            lambda: [a for a in activity(tmp_path) if a["type"] == "POSITION_EXIT"], timeout=30, interval=0.2
        )
        assert "EXPIRY" in exits[0]["details"]
        assert "exit_before_end_s=4" in exits[0]["details"]
        started = next(a for a in activity(tmp_path) if a["type"] == "BOT_STARTED")["timestamp"]
        entered = next(a for a in activity(tmp_path) if a["type"] == "ORDER_PLACED")["timestamp"]
        waited = dt.datetime.fromisoformat(entered) - dt.datetime.fromisoformat(started)
        assert waited.total_seconds() > 2  # the entry came from a later, timed decision
        placed = [a for a in activity(tmp_path) if a["type"] == "ORDER_PLACED"]
        assert "BUY 5 DOWN @ 0.55" in placed[0]["details"]
        assert "[canary]" in placed[0]["details"]
        assert "SELL 5 DOWN @ 0.53" in placed[1]["details"]
        assert entry_posts(venue.clob) == 1
        books_match_venue(tmp_path, venue.clob, {UP: (CONDITION, "UP"), DOWN: (CONDITION, "DOWN")})
        assert venue.clob.position(DOWN) == 0
    finally:
        bot.stop()
        venue.stop()


# -- activity timestamps follow the events they describe ----------------------------------


def test_activity_timestamps_never_go_back(tmp_path: Path, venue: LiveVenue) -> None:
    bot = start(tmp_path, venue, at="bid")
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["open_orders"], timeout=20)
        venue.clob.cross(UP, 0.45, 4)
        eventually(lambda: any(a["type"] == "ORDER_FILLED" for a in activity(tmp_path)), timeout=20)
        bot.touch("EMERGENCY_STOP")
        assert bot.wait_exit(timeout=30) == 0
    finally:
        bot.stop()
    times = [a["timestamp"] for a in activity(tmp_path)]
    assert times == sorted(times)
    kinds = [a["type"] for a in activity(tmp_path)]
    assert kinds.index("ORDER_PLACED") < kinds.index("ORDER_FILLED") < kinds.index("ORDER_CANCELLED")
    books_match_venue(tmp_path, venue.clob, {UP: (CONDITION, "UP"), DOWN: (CONDITION, "DOWN")})
    assert read_json(tmp_path / "state" / "status.json")["is_alive"] is False
