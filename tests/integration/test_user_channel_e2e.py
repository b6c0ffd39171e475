"""`bot run --mode live` as a real subprocess against the local CLOB and its user websocket:
a fill arrives by the socket and is booked once; a fill made while the socket is down is
booked once by the REST re-read that follows the reconnect. The REST poll's interval is
long (60 s), so a fill booked within the deadlines below came by the socket or the re-sync."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.testing.clob_server import ClobServer
from tests.schema_check import assert_valid
from tests.support import eventually
from tests.venue import UP, LiveVenue, VenueBot

pytestmark = pytest.mark.venue(user_ws=True)  # the conftest's venue, with its user websocket


def live_bot(home: Path, venue: LiveVenue) -> VenueBot:
    """LIVE with a slow REST poll: BuyOnce rests 10 shares at the bid."""
    polymarket = {"poll_interval_s": 60, "ws_silence_s": 5}
    buy_once = {"params": {"buy_once": {"at": "bid", "shares": 10}}}
    venue.write_home(home, heartbeat_s=0.3, polymarket=polymarket, strategies=buy_once)
    return venue.bot(home, "live")


def journal_fills(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "state" / "bot.db")
    try:
        return [r[0] for r in conn.execute("SELECT fill_id FROM fills ORDER BY fill_id")]
    finally:
        conn.close()


def venue_trades(clob: ClobServer) -> list[str]:
    rows = clob.exchange.trades(clob.creds[0], {}).get("data") or []
    return sorted({r["id"] for r in rows})


def test_fills_come_by_the_socket_and_a_dropped_socket_is_healed_over_rest(
    tmp_path: Path, venue: LiveVenue
) -> None:
    clob, user = venue.clob, venue.user_ws
    bot = live_bot(tmp_path, venue).start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: user.signed_in() == 1, timeout=20)
        eventually(lambda: bot.trading_state()["open_orders"], timeout=20)
        # another trader sells 4 shares into our resting bid: the socket brings the fill
        clob.cross(UP, 0.45, 4)
        order = eventually(
            lambda: (o := bot.trading_state()["open_orders"]) and o[0]["filled_shares"] == 4 and o[0],
            timeout=15,
        )
        assert order["status"] == "PARTIALLY_FILLED"
        [first] = venue_trades(clob)
        assert (first, "MATCHED") in user.pushed
        eventually(lambda: (first, "CONFIRMED") in user.pushed, timeout=15)  # a second event, same trade
        assert journal_fills(tmp_path) == [first]
        # the socket goes down and stays down while the next fill happens: nothing pushes it
        user.refuse(True)
        user.drop()
        eventually(lambda: user.signed_in() == 0, timeout=10)
        clob.cross(UP, 0.45, 3)
        eventually(lambda: len(venue_trades(clob)) == 2, timeout=10)
        second = next(t for t in venue_trades(clob) if t != first)
        eventually(lambda: second in user.missed, timeout=10)  # nobody connected to push it to
        user.refuse(False)  # back: the reconnect re-reads over REST, and books the fill once
        order = eventually(
            lambda: (o := bot.trading_state()["open_orders"]) and o[0]["filled_shares"] == 7 and o[0],
            timeout=20,
        )
        assert journal_fills(tmp_path) == sorted([first, second])
        conn = eventually(lambda: (c := bot.connection("user"))["reconnects"] >= 1 and c, timeout=10)
        assert conn["state"] == "connected"
        assert conn["last_resync"] is not None
        assert_valid("status", bot.status())
    finally:
        bot.stop()
    assert journal_fills(tmp_path) == venue_trades(clob)  # each venue trade booked exactly once
    out, err = bot.proc.communicate() if bot.proc else ("", "")
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".gz":
            data = path.read_bytes()
            assert not any(s.encode() in data for s in bot.secrets), f"a secret leaked into {path}"
    assert not any(s in (out or "") + (err or "") for s in bot.secrets)
