"""LIVE money safety under venue faults: `bot run --mode live` as a subprocess against the local
CLOB V2 server, driven through files only (state files, journal, logs).

Each test checks what the operator relies on: no order beyond the caps, every venue fill
booked exactly once, and the shares in the books equal to the wallet's at the end.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.testing.clob_server import ClobServer
from tests.support import activity, eventually, read_json
from tests.venue import CONDITION, DOWN, KEY, UP, LiveVenue, VenueBot


def fault_bot(home: Path, venue: LiveVenue, at: str = "ask", **buy_once: Any) -> VenueBot:
    """LIVE, BuyOnce at the ask (or the bid) of the venue's market (`venue` in conftest.py)."""
    venue.write_home(home, strategies={"params": {"buy_once": {"at": at, **buy_once}}})
    return venue.bot(home, "live")


def order_posts(server: ClobServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if (r.method, r.path) == ("POST", "/order")]


def venue_orders(server: ClobServer) -> list[dict[str, Any]]:
    return server.exchange.orders(server.api_key)


def journal(home: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(home / "state" / "bot.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def assert_every_venue_fill_booked_once(home: Path, server: ClobServer) -> None:
    """Each of our trades at the venue is in the journal, once (a fill id is the trade id, with
    the maker order appended when several of our orders are in one trade)."""
    venue = {r["id"] for r in server.exchange.trades(server.api_key, {})["data"]}
    booked = [row[0] for row in journal(home, "SELECT fill_id FROM fills")]
    assert len(booked) == len(set(booked))
    assert {f.split(":")[0] for f in booked} == venue


def status_after(bot: VenueBot, seconds: float) -> None:
    """Wait (on the files) until the bot has run `seconds` more: its status.json says so."""
    first = dt.datetime.fromisoformat(bot.status()["timestamp"])
    eventually(
        lambda: dt.datetime.fromisoformat(bot.status()["timestamp"]) - first >= dt.timedelta(seconds=seconds),
        timeout=seconds + 20,
    )


def books_shares(home: Path) -> dict[str, float]:
    state = read_json(home / "state" / "trading_state.json")
    return {p["side"]: p["shares"] for p in state["active_positions"]}


def assert_books_match_the_wallet(home: Path, server: ClobServer) -> None:
    def same() -> bool:
        ours = books_shares(home)
        theirs = {"UP": server.position(UP), "DOWN": server.position(DOWN)}
        return all(abs(ours.get(k, 0.0) - v) < 1e-9 for k, v in theirs.items())

    eventually(same, timeout=20)


def test_a_fresh_home_halts_on_shares_the_journal_never_saw(tmp_path: Path, venue: LiveVenue) -> None:
    venue.clob.set_position(DOWN, 7)  # bought by hand, or by a run whose journal is gone
    bot = fault_bot(tmp_path, venue)
    bot.start()
    try:
        status = bot.wait_ready(timeout=30)
        assert status["trading_state"] == "HALTED"
        assert "reconciliation" in status["reason"]
        report = read_json(tmp_path / "state" / "reconciliation.json")
        assert report["status"] == "MISMATCH"
        [diff] = report["differences"]
        assert diff["kind"] == "POSITION_MISMATCH"
        assert diff["side"] == "DOWN"
        assert (diff["journal_shares"], diff["venue_shares"]) == (0, 7)
        assert order_posts(venue.clob) == []  # HALTED: no entry
    finally:
        bot.stop()


def test_a_market_added_to_the_config_is_checked_for_holdings(tmp_path: Path, venue: LiveVenue) -> None:
    other = "0x" + "ef" * 32
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    venue.clob.add_market(other, ("333", "444"), end_date_iso=end, question="Will ETH be up?")
    venue.clob.set_book("333", bids=[(0.45, 100)], asks=[(0.47, 100)])
    bot = fault_bot(tmp_path, venue, at="bid")
    bot.start()
    try:
        assert bot.wait_ready(timeout=30)["trading_state"] == "ACTIVE"
    finally:
        bot.stop()
    venue.clob.set_position("444", 3)
    again = fault_bot(tmp_path, venue, at="bid")
    toml = (tmp_path / "bot.toml").read_text()
    (tmp_path / "bot.toml").write_text(
        toml.replace(f'markets = ["{CONDITION}"]', f'markets = ["{CONDITION}", "{other}"]')
    )
    again.start()
    try:
        status = again.wait_ready(timeout=30)
        assert status["trading_state"] == "HALTED"
        [diff] = read_json(tmp_path / "state" / "reconciliation.json")["differences"]
        assert (diff["market"], diff["side"], diff["venue_shares"]) == (other, "DOWN", 3)
    finally:
        again.stop()


def test_a_post_answered_500_that_landed_and_filled_is_booked_once(tmp_path: Path, venue: LiveVenue) -> None:
    venue.clob.lose_next_response("POST", "/order", 500)  # the order takes 10 at 0.47; the answer is lost
    bot = fault_bot(tmp_path, venue)
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=20)
        status_after(bot, 3)  # well past the 1 s backoff after which the bot used to re-enter
        assert len(order_posts(venue.clob)) == 1
        assert len(venue_orders(venue.clob)) == 1
        assert bot.status()["trading_state"] == "ACTIVE"
        assert not [a for a in activity(tmp_path) if "does not know" in a["details"]]
        [(status,)] = journal(tmp_path, "SELECT status FROM orders")
        assert status == "FILLED"
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, venue.clob)
    assert_books_match_the_wallet(tmp_path, venue.clob)


def test_a_fill_for_an_order_nobody_knows_is_booked_as_an_orphan_and_halts(
    tmp_path: Path, venue: LiveVenue
) -> None:
    from py_clob_client_v2 import ApiCreds, ClobClient, OrderArgs, PartialCreateOrderOptions

    bot = fault_bot(tmp_path, venue, at="bid")
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["open_orders"], timeout=20)
        client = ClobClient(venue.clob.url, 137, key=KEY, creds=ApiCreds(*venue.clob.creds))
        opts = PartialCreateOrderOptions(tick_size="0.01", neg_risk=False)
        stranger = client.create_and_post_order(OrderArgs(token_id=UP, price=0.40, size=5, side="BUY"), opts)
        venue.clob.trade_against(stranger["orderID"], 5)  # it fills; the bot's own still rests at 0.45
        status = eventually(lambda: (s := bot.status())["trading_state"] == "HALTED" and s, timeout=20)
        assert "did not know" in status["reason"]
        report = read_json(tmp_path / "state" / "reconciliation.json")
        [diff] = [d for d in report["differences"] if d["kind"] == "ORPHAN_FILL"]
        assert diff["order_id"] == stranger["orderID"]
        assert diff["shares"] == 5
        assert diff["action"] == "BUY"
        assert report["status"] == "MISMATCH"
        eventually(lambda: books_shares(tmp_path).get("UP") == 5)
        assert len(order_posts(venue.clob)) == 2  # the bot's entry and the stranger's, nothing else
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, venue.clob)
    assert_books_match_the_wallet(tmp_path, venue.clob)


def test_a_re_sent_intent_is_the_same_signed_order_and_the_venue_dedupes_it(
    tmp_path: Path, venue: LiveVenue
) -> None:
    # a 425 means "not placed", so the bot retries after its backoff; suppose the venue placed
    # it anyway: the re-send is the same signed order and the venue refuses it as a duplicate
    venue.clob.fail_next("POST", "/order", 425, process=True)
    bot = fault_bot(tmp_path, venue, at="bid")
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: order_posts(venue.clob), timeout=20)
        sizes = iter(range(101, 10_000))

        def nudged() -> bool:  # the strategy evaluates on book changes: keep the book moving
            venue.clob.set_book(UP, bids=[(0.45, next(sizes))], asks=[(0.47, 100)])
            return len(order_posts(venue.clob)) >= 2

        eventually(nudged, timeout=20, interval=0.2)
        order = eventually(
            lambda: (o := bot.trading_state()["open_orders"]) and o[0]["status"] == "OPEN" and o[0]
        )
        first, second = order_posts(venue.clob)
        assert first == second  # same salt, timestamp, amounts and signature
        [row] = venue_orders(venue.clob)
        assert order["order_id"] == row["id"]
        venue.clob.cross(UP, 0.45, 10)
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=20)
        status_after(bot, 2)
        assert len(order_posts(venue.clob)) == 2
        assert len(venue_orders(venue.clob)) == 1
        assert bot.status()["trading_state"] == "ACTIVE"
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, venue.clob)
    assert_books_match_the_wallet(tmp_path, venue.clob)


def test_the_weekly_engine_restart_is_waited_out_without_halting(tmp_path: Path, venue: LiveVenue) -> None:
    bot = fault_bot(tmp_path, venue, at="bid")
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["open_orders"], timeout=20)
        start = len(venue.clob.requests)
        venue.clob.outage(6, status=425)  # every path answers 425 for 6 s
        venue.clob.cross(UP, 0.45, 10)  # the order fills during the restart
        eventually(lambda: any("venue busy" in a["details"] for a in activity(tmp_path)), timeout=20)
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=40)  # it resumed by itself
        during = [r for r in venue.clob.requests[start:] if r.at <= venue.clob.requests[start].at + 6]
        # backing off 1, 2, 4 s: a few requests, not the feed's and the poll's every 0.2 s (~90)
        assert len(during) < 30, [(r.method, r.path) for r in during]
        status = bot.status()
        assert status["trading_state"] == "ACTIVE"
        assert not [a for a in activity(tmp_path) if "HALTED" in a["details"]]
        [back] = [a["details"] for a in activity(tmp_path) if "venue answering again" in a["details"]]
        assert int(back.split("after ")[1].split(" s")[0]) >= 4  # it waited the restart out
        assert len(order_posts(venue.clob)) == 1
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, venue.clob)
    assert_books_match_the_wallet(tmp_path, venue.clob)


def test_refusals_for_no_balance_or_allowance_trip_the_breaker(tmp_path: Path, venue: LiveVenue) -> None:
    venue.clob.fail_next("POST", "/order", 400, count=100, error="not enough balance / allowance")
    bot = fault_bot(tmp_path, venue, at="bid")
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        sizes = iter(range(101, 10_000))

        def halted() -> dict[str, Any] | None:  # the strategy signals on book changes: move it
            venue.clob.set_book(UP, bids=[(0.45, next(sizes))], asks=[(0.47, 100)])
            status = bot.status()
            return status if status["trading_state"] == "HALTED" else None

        status = eventually(halted, timeout=30, interval=0.2)
        assert "no balance or allowance" in status["reason"]
        assert "venue_fatal" in status["reason"]
        assert len(order_posts(venue.clob)) == 3
        status_after(bot, 2)
        for _ in range(5):
            venue.clob.set_book(UP, bids=[(0.45, next(sizes))], asks=[(0.47, 100)])
        status_after(bot, 1)
        assert len(order_posts(venue.clob)) == 3  # HALTED: no more entries
        assert venue_orders(venue.clob) == []
    finally:
        bot.stop()
    assert_books_match_the_wallet(tmp_path, venue.clob)


@pytest.mark.parametrize("tick", [0.001, 0.0001])
def test_flatten_on_a_fine_tick_market_is_accepted_by_the_venue(tmp_path: Path, tick: float) -> None:
    with LiveVenue.start() as venue:
        srv = venue.clob
        bid, ask = (0.451, 0.473) if tick == 0.001 else (0.4513, 0.4737)
        venue.add_market(tick=tick, up=(bid, ask), down=(0.53, 0.55))
        # 10.01 shares: a FAK sell at 0.451 receives 4.51451 (5 decimals) before rounding
        bot = fault_bot(tmp_path, venue, shares=10.01)
        bot.start()
        try:
            bot.wait_ready(timeout=30)
            eventually(lambda: books_shares(tmp_path).get("UP") == 10.01, timeout=20)
            eventually(lambda: bot.status()["feeds"][CONDITION]["age_s"] is not None)
            bot.touch("FLATTEN")
            eventually(lambda: not (tmp_path / "controls" / "FLATTEN").exists(), timeout=20)
            eventually(lambda: books_shares(tmp_path) == {}, timeout=20)
            assert srv.position(UP) == 0
            assert bot.status()["trading_state"] != "FLATTENING"
            sells = [p for p in order_posts(srv) if p["order"]["side"] == "SELL"]
            assert [p["orderType"] for p in sells] == ["FAK"]  # accepted the first time
            assert not [a for a in activity(tmp_path) if a["type"] == "ORDER_REJECTED"]
        finally:
            bot.stop()
        assert_every_venue_fill_booked_once(tmp_path, srv)
        assert_books_match_the_wallet(tmp_path, srv)


def test_a_bot_started_during_the_engine_restart_waits_for_it(tmp_path: Path, venue: LiveVenue) -> None:
    venue.clob.outage(3, status=425)
    bot = fault_bot(tmp_path, venue)
    bot.start()
    try:
        status = bot.wait_ready(timeout=40)
        assert status["trading_state"] == "ACTIVE"
        assert read_json(tmp_path / "state" / "reconciliation.json")["status"] == "OK"
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=20)
        assert len(order_posts(venue.clob)) == 1
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, venue.clob)
    assert_books_match_the_wallet(tmp_path, venue.clob)


def test_a_restart_that_begins_during_the_start_up_reads_is_waited_out(
    tmp_path: Path, venue: LiveVenue
) -> None:
    """The markets validate, then the restart begins: the balance read and the reconciliation's
    order poll answer 425. Each is waited out; nothing is skipped, nothing halts."""
    venue.clob.fail_next("GET", "/balance-allowance", 425, count=2)  # waits 1 s, then 2 s
    venue.clob.fail_next("GET", "/data/orders", 425)
    bot = fault_bot(tmp_path, venue)
    bot.start()
    try:
        status = bot.wait_ready(timeout=40)
        assert status["trading_state"] == "ACTIVE"
        assert read_json(tmp_path / "state" / "reconciliation.json")["status"] == "OK"
        started = [a for a in activity(tmp_path) if a["type"] in ("ERROR", "BOT_STARTED")]
        assert started[0]["type"] == "BOT_STARTED", started  # no "venue busy" or failed poll before
        order_reads = [r.at for r in venue.clob.requests if r.path == "/data/orders"]
        first_trades = next(r.at for r in venue.clob.requests if r.path == "/data/trades")
        assert first_trades - order_reads[0] >= 0.9  # the poll was waited out, then read
        balance_reads = [r.at for r in venue.clob.requests if r.path == "/balance-allowance"]
        assert balance_reads[2] - balance_reads[0] >= 2.9  # 1 s, then 2 s
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=20)
        assert len(order_posts(venue.clob)) == 1
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, venue.clob)
    assert_books_match_the_wallet(tmp_path, venue.clob)


def test_a_flatten_sell_answered_500_that_landed_is_booked_once(tmp_path: Path, venue: LiveVenue) -> None:
    bot = fault_bot(tmp_path, venue)
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=20)
        eventually(lambda: bot.status()["feeds"][CONDITION]["age_s"] is not None)
        venue.clob.lose_next_response("POST", "/order", 500)  # the FAK sells 10 at 0.45; the answer is lost
        bot.touch("FLATTEN")
        eventually(lambda: books_shares(tmp_path) == {}, timeout=20)
        sizes = iter(range(101, 10_000))

        def flattened() -> bool:  # the engine finishes a FLATTEN on a book tick: keep them coming
            venue.clob.set_book(UP, bids=[(0.45, next(sizes))], asks=[(0.47, 100)])
            return not (tmp_path / "controls" / "FLATTEN").exists()

        eventually(flattened, timeout=20, interval=0.2)
        sells = [p for p in order_posts(venue.clob) if p["order"]["side"] == "SELL"]
        assert len(sells) == 1  # the exit was UNKNOWN, then found; never sent twice
        assert venue.clob.position(UP) == 0
        assert not [a for a in activity(tmp_path) if "does not know" in a["details"]]
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, venue.clob)
    assert_books_match_the_wallet(tmp_path, venue.clob)


def test_a_sell_fill_of_shares_the_books_never_held_is_reported_not_booked(
    tmp_path: Path, venue: LiveVenue
) -> None:
    from py_clob_client_v2 import ApiCreds, ClobClient, OrderArgs, PartialCreateOrderOptions

    venue.clob.set_position(UP, 5)  # shares the journal never saw: HALTED at start
    bot = fault_bot(tmp_path, venue, at="bid")
    bot.start()
    try:
        assert bot.wait_ready(timeout=30)["trading_state"] == "HALTED"
        client = ClobClient(venue.clob.url, 137, key=KEY, creds=ApiCreds(*venue.clob.creds))
        opts = PartialCreateOrderOptions(tick_size="0.01", neg_risk=False)
        sold = client.create_and_post_order(OrderArgs(token_id=UP, price=0.60, size=5, side="SELL"), opts)
        venue.clob.trade_against(sold["orderID"], 5)  # someone sells them with the bot's wallet
        report = eventually(
            lambda: (
                (r := read_json(tmp_path / "state" / "reconciliation.json"))
                and any(d["kind"] == "ORPHAN_FILL" for d in r["differences"])
                and r
            ),
            timeout=20,
        )
        kinds = sorted(d["kind"] for d in report["differences"])
        assert kinds == ["ORPHAN_FILL", "POSITION_MISMATCH"]  # the start-up difference is kept
        notes = eventually(
            lambda: [a["details"] for a in activity(tmp_path) if "does not know" in a["details"]]
        )
        assert len(notes) == 1
        assert "not booked" in notes[0]
        assert books_shares(tmp_path) == {}
        assert venue.clob.position(UP) == 0
    finally:
        bot.stop()
    assert journal(tmp_path, "SELECT COUNT(*) FROM fills") == [(0,)]
