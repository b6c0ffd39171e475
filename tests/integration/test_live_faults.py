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
from tests.integration.test_live_e2e import CONDITION, DOWN, KEY, UP, LiveBot, config
from tests.integration.test_live_e2e import server as server  # the one-market venue fixture
from tests.support import activity, eventually, read_json


class FaultBot(LiveBot):
    def __init__(self, home: Path, server: ClobServer, at: str = "ask", extra: str = "") -> None:
        super().__init__(home, server, "live", at=at)
        (home / "bot.toml").write_text(config(server, at) + extra)


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


def status_after(bot: LiveBot, seconds: float) -> None:
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


def test_a_fresh_home_halts_on_shares_the_journal_never_saw(tmp_path: Path, server: ClobServer) -> None:
    server.set_position(DOWN, 7)  # bought by hand, or by a run whose journal is gone
    bot = FaultBot(tmp_path, server)
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
        assert order_posts(server) == []  # HALTED: no entry
    finally:
        bot.stop()


def test_a_market_added_to_the_config_is_checked_for_holdings(tmp_path: Path, server: ClobServer) -> None:
    other = "0x" + "ef" * 32
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    server.add_market(other, ("333", "444"), end_date_iso=end, question="Will ETH be up?")
    server.set_book("333", bids=[(0.45, 100)], asks=[(0.47, 100)])
    bot = FaultBot(tmp_path, server, at="bid")
    bot.start()
    try:
        assert bot.wait_ready(timeout=30)["trading_state"] == "ACTIVE"
    finally:
        bot.stop()
    server.set_position("444", 3)
    again = FaultBot(tmp_path, server, at="bid")
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


def test_a_post_answered_500_that_landed_and_filled_is_booked_once(
    tmp_path: Path, server: ClobServer
) -> None:
    server.lose_next_response("POST", "/order", 500)  # the order takes 10 at 0.47; the answer is lost
    bot = FaultBot(tmp_path, server)
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=20)
        status_after(bot, 3)  # well past the 1 s backoff after which the bot used to re-enter
        assert len(order_posts(server)) == 1
        assert len(venue_orders(server)) == 1
        assert bot.status()["trading_state"] == "ACTIVE"
        assert not [a for a in activity(tmp_path) if "does not know" in a["details"]]
        [(status,)] = journal(tmp_path, "SELECT status FROM orders")
        assert status == "FILLED"
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, server)
    assert_books_match_the_wallet(tmp_path, server)


def test_a_fill_for_an_order_nobody_knows_is_booked_as_an_orphan_and_halts(
    tmp_path: Path, server: ClobServer
) -> None:
    from py_clob_client_v2 import ApiCreds, ClobClient, OrderArgs, PartialCreateOrderOptions

    bot = FaultBot(tmp_path, server, at="bid")
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["open_orders"], timeout=20)
        client = ClobClient(server.url, 137, key=KEY, creds=ApiCreds(*server.creds))
        opts = PartialCreateOrderOptions(tick_size="0.01", neg_risk=False)
        stranger = client.create_and_post_order(OrderArgs(token_id=UP, price=0.40, size=5, side="BUY"), opts)
        server.trade_against(stranger["orderID"], 5)  # it fills; the bot's own still rests at 0.45
        status = eventually(lambda: (s := bot.status())["trading_state"] == "HALTED" and s, timeout=20)
        assert "did not know" in status["reason"]
        report = read_json(tmp_path / "state" / "reconciliation.json")
        [diff] = [d for d in report["differences"] if d["kind"] == "ORPHAN_FILL"]
        assert diff["order_id"] == stranger["orderID"]
        assert diff["shares"] == 5
        assert diff["action"] == "BUY"
        assert report["status"] == "MISMATCH"
        eventually(lambda: books_shares(tmp_path).get("UP") == 5)
        assert len(order_posts(server)) == 2  # the bot's entry and the stranger's, nothing else
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, server)
    assert_books_match_the_wallet(tmp_path, server)


def test_a_re_sent_intent_is_the_same_signed_order_and_the_venue_dedupes_it(
    tmp_path: Path, server: ClobServer
) -> None:
    # a 425 means "not placed", so the bot retries after its backoff; suppose the venue placed
    # it anyway: the re-send is the same signed order and the venue refuses it as a duplicate
    server.fail_next("POST", "/order", 425, process=True)
    bot = FaultBot(tmp_path, server, at="bid")
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: order_posts(server), timeout=20)
        sizes = iter(range(101, 10_000))

        def nudged() -> bool:  # the strategy evaluates on book changes: keep the book moving
            server.set_book(UP, bids=[(0.45, next(sizes))], asks=[(0.47, 100)])
            return len(order_posts(server)) >= 2

        eventually(nudged, timeout=20, interval=0.2)
        order = eventually(
            lambda: (o := bot.trading_state()["open_orders"]) and o[0]["status"] == "OPEN" and o[0]
        )
        first, second = order_posts(server)
        assert first == second  # same salt, timestamp, amounts and signature
        [row] = venue_orders(server)
        assert order["order_id"] == row["id"]
        server.cross(UP, 0.45, 10)
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=20)
        status_after(bot, 2)
        assert len(order_posts(server)) == 2
        assert len(venue_orders(server)) == 1
        assert bot.status()["trading_state"] == "ACTIVE"
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, server)
    assert_books_match_the_wallet(tmp_path, server)


def test_the_weekly_engine_restart_is_waited_out_without_halting(tmp_path: Path, server: ClobServer) -> None:
    bot = FaultBot(tmp_path, server, at="bid")
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["open_orders"], timeout=20)
        start = len(server.requests)
        server.outage(6, status=425)  # every path answers 425 for 6 s
        server.cross(UP, 0.45, 10)  # the order fills during the restart
        eventually(lambda: any("venue busy" in a["details"] for a in activity(tmp_path)), timeout=20)
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=40)  # it resumed by itself
        during = [r for r in server.requests[start:] if r.at <= server.requests[start].at + 6]
        # backing off 1, 2, 4 s: a few requests, not the feed's and the poll's every 0.2 s (~90)
        assert len(during) < 30, [(r.method, r.path) for r in during]
        status = bot.status()
        assert status["trading_state"] == "ACTIVE"
        assert not [a for a in activity(tmp_path) if "HALTED" in a["details"]]
        [back] = [a["details"] for a in activity(tmp_path) if "venue answering again" in a["details"]]
        assert int(back.split("after ")[1].split(" s")[0]) >= 4  # it waited the restart out
        assert len(order_posts(server)) == 1
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, server)
    assert_books_match_the_wallet(tmp_path, server)


def test_refusals_for_no_balance_or_allowance_trip_the_breaker(tmp_path: Path, server: ClobServer) -> None:
    server.fail_next("POST", "/order", 400, count=100, error="not enough balance / allowance")
    bot = FaultBot(tmp_path, server, at="bid")
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        sizes = iter(range(101, 10_000))

        def halted() -> dict[str, Any] | None:  # the strategy signals on book changes: move it
            server.set_book(UP, bids=[(0.45, next(sizes))], asks=[(0.47, 100)])
            status = bot.status()
            return status if status["trading_state"] == "HALTED" else None

        status = eventually(halted, timeout=30, interval=0.2)
        assert "no balance or allowance" in status["reason"]
        assert "venue_fatal" in status["reason"]
        assert len(order_posts(server)) == 3
        status_after(bot, 2)
        for _ in range(5):
            server.set_book(UP, bids=[(0.45, next(sizes))], asks=[(0.47, 100)])
        status_after(bot, 1)
        assert len(order_posts(server)) == 3  # HALTED: no more entries
        assert venue_orders(server) == []
    finally:
        bot.stop()
    assert_books_match_the_wallet(tmp_path, server)


@pytest.mark.parametrize("tick", [0.001, 0.0001])
def test_flatten_on_a_fine_tick_market_is_accepted_by_the_venue(tmp_path: Path, tick: float) -> None:
    srv = ClobServer().start()
    try:
        end = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        srv.add_market(CONDITION, (UP, DOWN), end_date_iso=end, question="Will BTC be up?", tick=tick)
        bid, ask = (0.451, 0.473) if tick == 0.001 else (0.4513, 0.4737)
        srv.set_book(UP, bids=[(bid, 100)], asks=[(ask, 100)])
        srv.set_book(DOWN, bids=[(0.53, 100)], asks=[(0.55, 100)])
        # 10.01 shares: a FAK sell at 0.451 receives 4.51451 (5 decimals) before rounding
        bot = FaultBot(tmp_path, srv, extra="shares = 10.01\n")
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
    finally:
        srv.stop()


def test_a_bot_started_during_the_engine_restart_waits_for_it(tmp_path: Path, server: ClobServer) -> None:
    server.outage(3, status=425)
    bot = FaultBot(tmp_path, server)
    bot.start()
    try:
        status = bot.wait_ready(timeout=40)
        assert status["trading_state"] == "ACTIVE"
        assert read_json(tmp_path / "state" / "reconciliation.json")["status"] == "OK"
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=20)
        assert len(order_posts(server)) == 1
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, server)
    assert_books_match_the_wallet(tmp_path, server)


def test_a_restart_that_begins_during_the_start_up_reads_is_waited_out(
    tmp_path: Path, server: ClobServer
) -> None:
    """The markets validate, then the restart begins: the balance read and the reconciliation's
    order poll answer 425. Each is waited out; nothing is skipped, nothing halts."""
    server.fail_next("GET", "/balance-allowance", 425, count=2)  # waits 1 s, then 2 s
    server.fail_next("GET", "/data/orders", 425)
    bot = FaultBot(tmp_path, server)
    bot.start()
    try:
        status = bot.wait_ready(timeout=40)
        assert status["trading_state"] == "ACTIVE"
        assert read_json(tmp_path / "state" / "reconciliation.json")["status"] == "OK"
        started = [a for a in activity(tmp_path) if a["type"] in ("ERROR", "BOT_STARTED")]
        assert started[0]["type"] == "BOT_STARTED", started  # no "venue busy" or failed poll before
        order_reads = [r.at for r in server.requests if r.path == "/data/orders"]
        first_trades = next(r.at for r in server.requests if r.path == "/data/trades")
        assert first_trades - order_reads[0] >= 0.9  # the poll was waited out, then read
        balance_reads = [r.at for r in server.requests if r.path == "/balance-allowance"]
        assert balance_reads[2] - balance_reads[0] >= 2.9  # 1 s, then 2 s
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=20)
        assert len(order_posts(server)) == 1
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, server)
    assert_books_match_the_wallet(tmp_path, server)


def test_a_flatten_sell_answered_500_that_landed_is_booked_once(tmp_path: Path, server: ClobServer) -> None:
    bot = FaultBot(tmp_path, server)
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: books_shares(tmp_path).get("UP") == 10, timeout=20)
        eventually(lambda: bot.status()["feeds"][CONDITION]["age_s"] is not None)
        server.lose_next_response("POST", "/order", 500)  # the FAK sells 10 at 0.45; the answer is lost
        bot.touch("FLATTEN")
        eventually(lambda: books_shares(tmp_path) == {}, timeout=20)
        sizes = iter(range(101, 10_000))

        def flattened() -> bool:  # the engine finishes a FLATTEN on a book tick: keep them coming
            server.set_book(UP, bids=[(0.45, next(sizes))], asks=[(0.47, 100)])
            return not (tmp_path / "controls" / "FLATTEN").exists()

        eventually(flattened, timeout=20, interval=0.2)
        sells = [p for p in order_posts(server) if p["order"]["side"] == "SELL"]
        assert len(sells) == 1  # the exit was UNKNOWN, then found; never sent twice
        assert server.position(UP) == 0
        assert not [a for a in activity(tmp_path) if "does not know" in a["details"]]
    finally:
        bot.stop()
    assert_every_venue_fill_booked_once(tmp_path, server)
    assert_books_match_the_wallet(tmp_path, server)


def test_a_sell_fill_of_shares_the_books_never_held_is_reported_not_booked(
    tmp_path: Path, server: ClobServer
) -> None:
    from py_clob_client_v2 import ApiCreds, ClobClient, OrderArgs, PartialCreateOrderOptions

    server.set_position(UP, 5)  # shares the journal never saw: HALTED at start
    bot = FaultBot(tmp_path, server, at="bid")
    bot.start()
    try:
        assert bot.wait_ready(timeout=30)["trading_state"] == "HALTED"
        client = ClobClient(server.url, 137, key=KEY, creds=ApiCreds(*server.creds))
        opts = PartialCreateOrderOptions(tick_size="0.01", neg_risk=False)
        sold = client.create_and_post_order(OrderArgs(token_id=UP, price=0.60, size=5, side="SELL"), opts)
        server.trade_against(sold["orderID"], 5)  # someone sells them with the bot's wallet
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
        assert server.position(UP) == 0
    finally:
        bot.stop()
    assert journal(tmp_path, "SELECT COUNT(*) FROM fills") == [(0,)]
