"""Settlement of rolling windows, LIVE against the local Gamma, CLOB and Polygon servers on a
market clock 20 times the wall clock (the fixture of test_rolling_windows.py):

- a window Gamma resolves 50/50 (outcomePrices ["0.5","0.5"]) settles every position in it at
  0.5 a share, is redeemed once on chain for exactly that, and closes as SPLIT;
- a bot killed (SIGKILL) while it holds a window takes the window back at its next start,
  compares the position with the venue's balance, books the resolution once and redeems
  once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.startup import JOURNAL_NAME
from bot.testing.chain_server import ChainServer
from tests.integration.test_rolling_windows import SERIES, lines, on, rolling_home
from tests.integration.test_rolling_windows import market as market
from tests.support import eventually, read_json
from tests.venue import LiveVenue, MarketClock, VenueBot

MICRO = 1_000_000


@pytest.fixture
def chain(request: pytest.FixtureRequest) -> Iterator[ChainServer]:
    """The local Polygon node on the test's market (`market` or `slow_market`)."""
    name = "slow_market" if "slow_market" in request.fixturenames else "market"
    m: LiveVenue = request.getfixturevalue(name)
    server = ChainServer(m.clob.exchange, owner_of=lambda address: m.clob.api_key, receipt_after=1)
    with server:
        yield server


def live_bot(home: Path, m: LiveVenue, chain: ChainServer, **overrides: Any) -> VenueBot:
    """LIVE on the rolling windows, redeeming won positions on the local node."""
    redeem = {"auto_redeem": True, "redeem_interval_s": 0.2, "rpc_url": chain.url}
    rolling_home(home, m, redeem, **overrides)
    return m.bot(home, "live")


def trades(home: Path, market_id: str) -> list[dict[str, Any]]:
    return [
        t for t in read_json(home / "state" / "trades_today.json")["trades"] if t["market_id"] == market_id
    ]


def settlements(home: Path, market_id: str) -> list[int]:
    with sqlite3.connect(home / "state" / JOURNAL_NAME) as db:
        rows = db.execute(
            "SELECT amount_micros FROM cash WHERE kind='SETTLEMENT' AND ref=? ORDER BY entry_id", (market_id,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def bought(home: Path, market_id: str) -> tuple[int, int, int]:
    """(shares, cost, fees) of every BUY fill in the market, in micros."""
    with sqlite3.connect(home / "state" / JOURNAL_NAME) as db:
        row = db.execute(
            "SELECT SUM(shares_micros), SUM(price_micros * shares_micros / 1000000), SUM(fee_micros)"
            " FROM fills WHERE market_id=? AND action='BUY'",
            (market_id,),
        ).fetchone()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


def test_a_window_resolved_fifty_fifty_pays_half_a_share_once(
    tmp_path: Path,
    market: LiveVenue,
    chain: ChainServer,
) -> None:
    m = market
    w = m.condition(1)
    m.gamma.set_winner(m.slug(1), "Split")
    bot = live_bot(tmp_path, m, chain).start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: on(tmp_path, "ORDER_FILLED", w), timeout=60)
        m.clob.resolve(w, None)  # the exchange's side: redeemable for 0.5 a token
        resolved = eventually(lambda: on(tmp_path, "MARKET_RESOLVED", w), timeout=60)
        assert "SPLIT" in str(resolved[0]["details"])
        held = eventually(
            lambda: [a for a in on(tmp_path, "POSITION_EXIT", w) if "50/50" in str(a["details"])], timeout=30
        )
        assert "0.5 a share" in str(held[0]["details"])
        closed = eventually(
            lambda: [t for t in trades(tmp_path, w) if t["status"] == "CLOSED"] or None, timeout=90
        )
        redemption = [a for a in on(tmp_path, "REDEMPTION", w) if a.get("state") == "REDEEMED"]
        assert len(redemption) == 1, on(tmp_path, "REDEMPTION", w)
        assert bot.status()["is_alive"]
    finally:
        bot.stop()
    shares, cost, fees = bought(tmp_path, w)
    assert shares > 0
    paid = settlements(tmp_path, w)
    assert len(paid) == len(closed), "each position booked once"
    assert sum(paid) == shares // 2, "at 0.5 a share"
    assert len(chain.redeemed(w)) == 1, "redeemed once"
    assert m.clob.position(m.gamma.token_ids(m.slug(1))[0]) == 0
    assert m.clob.position(m.gamma.token_ids(m.slug(1))[1]) == 0
    assert [t["exit_reason"] for t in closed] == ["SPLIT"] * len(closed)
    assert all(t["exit_price"] == 0.5 for t in closed)
    assert sum(round(t["pnl"] * MICRO) for t in closed) == shares // 2 - cost - fees
    with sqlite3.connect(tmp_path / "state" / JOURNAL_NAME) as db:
        (said,) = db.execute("SELECT winning_outcome FROM markets WHERE market_id=?", (w,)).fetchone()
    assert said == "SPLIT"
    assert not [a for a in lines(tmp_path, "ERROR") if w in str(a)]


def held(home: Path, market_id: str) -> list[tuple[str, int]]:
    """(side, shares) of the journal's open positions in the market."""
    with sqlite3.connect(home / "state" / JOURNAL_NAME) as db:
        rows = db.execute(
            "SELECT outcome, shares_micros FROM positions WHERE market_id=? AND status='OPEN'", (market_id,)
        ).fetchall()
    return [(str(o), int(s)) for o, s in rows]


def killed_holding(bot: VenueBot, market_id: str) -> list[tuple[str, int]]:
    """Start the bot, SIGKILL it once it holds the market: what the journal holds then."""
    bot.start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: held(bot.home, market_id), timeout=60)
    finally:
        bot.kill()
        bot.stop()
    return held(bot.home, market_id)


def test_a_window_held_through_a_kill_is_taken_back_settled_once_and_redeemed_once(
    tmp_path: Path,
    market: LiveVenue,
    chain: ChainServer,
) -> None:
    """Killed (SIGKILL) holding window 1; down until window 1 resolved and window 3 opened
    (more than a window back); the next start takes window 1 back from the journal, checks the
    position against the venue, books the resolution once and redeems it once."""
    m = market
    w = m.condition(1)
    ((side, shares),) = killed_holding(live_bot(tmp_path, m, chain), w)
    up, down = m.gamma.token_ids(m.slug(1))
    m.gamma.set_winner(m.slug(1), "Up" if side == "UP" else "Down")  # the held side wins
    eventually(lambda: m.clock.now_ms() >= (m.clock.first_s + 3 * 300) * 1000, timeout=60)  # window 3 is open
    m.clob.resolve(w, up if side == "UP" else down)
    assert m.clob.position(up if side == "UP" else down) * MICRO == shares
    again = live_bot(tmp_path, m, chain).start()
    try:
        again.wait_ready(timeout=30)
        eventually(lambda: on(tmp_path, "MARKET_RESOLVED", w), timeout=60)
        eventually(lambda: not held(tmp_path, w), timeout=90)  # redeemed: the position closed
        assert again.status()["is_alive"]
    finally:
        again.stop()
    taken = [a for a in on(tmp_path, "DISCOVERY", w) if "taken back after the restart" in str(a["details"])]
    assert len(taken) == 1
    assert len(on(tmp_path, "MARKET_RESOLVED", w)) == 1
    assert settlements(tmp_path, w) == [shares], "booked once, $1 a share"
    assert len(chain.redeemed(w)) == 1, "redeemed once"
    reconciliation = read_json(tmp_path / "state" / "reconciliation.json")
    assert reconciliation["status"] == "OK", reconciliation
    (trade,) = [t for t in trades(tmp_path, w) if t["status"] == "CLOSED"]
    assert trade["exit_reason"] == "WON"


@pytest.fixture
def slow_market() -> Iterator[LiveVenue]:
    """The rolling fixture at 10× (a window lasts 30 s of wall time): time for a kill and a
    restart inside one window."""
    clock = MarketClock.into_window(10.0, seconds_in=120)  # window 1 opens three market minutes after start
    with LiveVenue.start(series=SERIES, clock=clock) as m:
        m.list_windows(4, up=(0.55, 0.57), fee_rate=0.07)
        yield m


def test_a_window_still_open_after_a_kill_is_traded_again_its_stop_works(
    tmp_path: Path, slow_market: LiveVenue, chain: ChainServer
) -> None:
    """Killed holding window 1 while it is open; the next start takes it back, subscribes its
    book again and its stop-loss sells the position when the bid falls below the stop."""
    m = slow_market
    w = m.condition(1)
    up, down = m.gamma.token_ids(m.slug(1))
    early = {
        "params": {"canary": {"seconds_before_end": 290, "ttl_s": 5}},
        "exits": {"canary": {"stop_loss_pct": 20}},
    }
    bot = live_bot(tmp_path, m, chain, strategies=early)  # the canary buys as soon as window 1 opens
    ((side, shares),) = killed_holding(bot, w)
    assert m.clock.now_ms() < (m.clock.first_s + 2 * 300) * 1000, "window 1 is still open"
    token = up if side == "UP" else down
    again = live_bot(tmp_path, m, chain, strategies=early).start()
    try:
        again.wait_ready(timeout=30)
        eventually(
            lambda: [a for a in on(tmp_path, "DISCOVERY", w) if "taken back" in str(a["details"])], timeout=30
        )
        m.clob.set_book(token, bids=[(0.20, 100)], asks=[(0.22, 100)])  # far below the 20 % stop
        m.clob.set_book(down if token == up else up, bids=[(0.78, 100)], asks=[(0.80, 100)])
        eventually(lambda: on(tmp_path, "EXIT_TRIGGERED", w), timeout=60)
        sold = eventually(
            lambda: [a for a in on(tmp_path, "ORDER_FILLED", w) if str(a["details"]).startswith("SELL")],
            timeout=60,
        )
        assert f"SELL {shares / MICRO:g} {side}" in str(sold[0]["details"])
        assert again.status()["is_alive"]
    finally:
        again.stop()
    assert m.clob.position(token) == 0
    reconciliation = read_json(tmp_path / "state" / "reconciliation.json")
    assert reconciliation["status"] == "OK", reconciliation
    assert len([a for a in on(tmp_path, "DISCOVERY", w) if "taken back" in str(a["details"])]) == 1


def test_a_restart_holding_a_won_window_compares_the_won_side_not_the_lost_one(
    tmp_path: Path, market: LiveVenue, chain: ChainServer
) -> None:
    """Restarted while a won position awaits redemption: its market is compared with the venue
    (the won tokens match), and the losing tokens the wallet keeps until redemption are no
    difference (the journal closed that side at 0)."""
    m = market
    w = m.condition(1)
    up, down = m.gamma.token_ids(m.slug(1))
    m.gamma.set_winner(m.slug(1), "Up")  # the canary buys the side the book favours: UP
    rolling_home(tmp_path, m)  # no redemption: the won position waits
    bot = m.bot(tmp_path, "live").start()
    try:
        bot.wait_ready(timeout=30)
        eventually(
            lambda: [a for a in on(tmp_path, "POSITION_EXIT", w) if "awaiting" in str(a["details"])],
            timeout=60,
        )
    finally:
        bot.stop()
    ((side, shares),) = held(tmp_path, w)
    assert side == "UP"
    m.clob.resolve(w, up)
    m.clob.set_position(down, 3)  # worthless tokens of the losing side, still in the wallet
    again = m.bot(tmp_path, "live").start()
    try:
        again.wait_ready(timeout=30)
        checked = [a for a in on(tmp_path, "BALANCE_CHECK", w) if "held at the restart" in str(a["details"])]
        assert len(checked) == 1
        reconciliation = read_json(tmp_path / "state" / "reconciliation.json")
        assert reconciliation["status"] == "OK", reconciliation
        assert held(tmp_path, w) == [("UP", shares)]
        m.clob.set_position(up, shares / MICRO - 1)  # now the won side differs: still seen
    finally:
        again.stop()
    third = m.bot(tmp_path, "live").start()
    try:
        third.wait_ready(timeout=30)
        reconciliation = read_json(tmp_path / "state" / "reconciliation.json")
        assert reconciliation["status"] == "MISMATCH", reconciliation
        (difference,) = reconciliation["differences"]
        assert (difference["market"], difference["side"]) == (w, "UP")
    finally:
        third.stop()
