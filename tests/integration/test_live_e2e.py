"""`bot run --mode live` and `--mode dry-run` as real subprocesses against a local CLOB V2
server on 127.0.0.1, driven through files; the real py-clob-client-v2 signs the orders."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.testing.clob_server import ClobServer
from tests.support import activity, eventually, read_json
from tests.venue import CONDITION, KEY, UP, LiveVenue, VenueBot


def live_bot(home: Path, venue: LiveVenue, mode: str, at: str = "ask", key: str = KEY) -> VenueBot:
    """BuyOnce at the ask (or the bid) of the venue's one market."""
    venue.write_home(home, strategies={"params": {"buy_once": {"at": at}}})
    return venue.bot(home, mode, key=key)


def posts(server: ClobServer, path: str, method: str = "POST") -> int:
    return sum(1 for r in server.requests if r.method == method and r.path == path)


def assert_no_secret_in(home: Path, secrets: list[str], *texts: str) -> None:
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".gz":
                import gzip

                data = gzip.decompress(data) if data else data
            for secret in secrets:
                assert secret.encode() not in data, f"a secret leaked into {path}"
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_live_order_fills_then_flatten_uses_cancel_all(tmp_path: Path, venue: LiveVenue) -> None:
    bot = live_bot(tmp_path, venue, "live").start()
    try:
        status = bot.wait_ready(timeout=30)
        assert status["mode"] == "LIVE"
        state = eventually(lambda: (s := bot.trading_state())["active_positions"] and s, timeout=20)
        position = state["active_positions"][0]
        assert position["side"] == "UP"
        assert position["shares"] == 10
        assert position["entry_price"] == 0.47
        assert state["balance"]["wallet"].startswith("0x")
        assert "..." in state["balance"]["wallet"]
        assert posts(venue.clob, "/order") == 1
        assert read_json(tmp_path / "state" / "reconciliation.json")["status"] == "OK"
        eventually(lambda: bot.status()["feeds"][CONDITION]["age_s"] is not None)
        bot.touch("FLATTEN")
        eventually(lambda: not (tmp_path / "controls" / "FLATTEN").exists(), timeout=20)
        state = eventually(lambda: (s := bot.trading_state())["active_positions"] == [] and s)
        assert posts(venue.clob, "/cancel-all", "DELETE") >= 1
        assert state["stats"]["total_open_orders"] == 0
        exits = [a for a in activity(tmp_path) if a["type"] == "POSITION_EXIT"]
        assert exits
        assert "FLATTEN" in exits[-1]["details"]
    finally:
        bot.stop()
    out, err = bot.proc.communicate() if bot.proc else ("", "")
    assert_no_secret_in(tmp_path, bot.secrets, out or "", err or "")


def test_live_resting_order_partial_fill_then_emergency_stop(tmp_path: Path, venue: LiveVenue) -> None:
    bot = live_bot(tmp_path, venue, "live", at="bid").start()
    try:
        bot.wait_ready(timeout=30)
        order = eventually(lambda: (o := bot.trading_state()["open_orders"]) and o[0], timeout=20)
        assert order["price"] == 0.45
        assert order["status"] == "OPEN"
        venue.clob.cross(UP, 0.45, 4)  # another trader sells 4 shares into our bid
        order = eventually(
            lambda: (o := bot.trading_state()["open_orders"]) and o[0]["filled_shares"] == 4 and o[0],
            timeout=20,
        )
        assert order["status"] == "PARTIALLY_FILLED"
        bot.touch("EMERGENCY_STOP")
        assert bot.wait_exit(timeout=30) == 0
        final = bot.status()
        assert final["is_alive"] is False
        assert final["risk"]["emergency_stop"] is True
        assert posts(venue.clob, "/cancel-all", "DELETE") >= 1
        assert [o for o in venue.clob.exchange.orders(live_only=True)] == []
    finally:
        bot.stop()


def test_dry_run_logs_the_payload_and_never_posts(tmp_path: Path, venue: LiveVenue) -> None:
    bot = live_bot(tmp_path, venue, "dry-run").start()
    try:
        bot.wait_ready(timeout=30)
        state = eventually(lambda: (s := bot.trading_state())["active_positions"] and s, timeout=20)
        assert state["mode"] == "DRY_RUN"
        log = tmp_path / "logs" / "dry_run_orders.jsonl"
        record = json.loads(log.read_text().splitlines()[0])
        assert record["request"]["path"] == "/order"
        assert record["signed"] is True
        assert record["book"]["up"]["ask"] == 0.47
        assert posts(venue.clob, "/order") == 0
    finally:
        bot.stop()
    conn = sqlite3.connect(tmp_path / "state" / "bot.db")
    assert conn.execute("SELECT DISTINCT mode FROM positions").fetchall() == [("DRY_RUN",)]
    conn.close()
    assert_no_secret_in(tmp_path, bot.secrets)


def test_restart_with_an_order_the_journal_lacks_halts_with_a_report(
    tmp_path: Path, venue: LiveVenue
) -> None:
    bot = live_bot(tmp_path, venue, "live", at="bid").start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["open_orders"], timeout=20)
    finally:
        bot.stop()
    from py_clob_client_v2 import ApiCreds, ClobClient, OrderArgs, PartialCreateOrderOptions

    client = ClobClient(venue.clob.url, 137, key=KEY, creds=ApiCreds(*venue.clob.creds))
    opts = PartialCreateOrderOptions(tick_size="0.01", neg_risk=False)
    client.create_and_post_order(OrderArgs(token_id=UP, price=0.40, size=5, side="BUY"), opts)
    again = live_bot(tmp_path, venue, "live", at="bid").start()
    try:
        status = again.wait_ready(timeout=30)
        assert status["trading_state"] == "HALTED"
        report = read_json(tmp_path / "state" / "reconciliation.json")
        assert report["status"] == "MISMATCH"
        assert [d["kind"] for d in report["differences"]] == ["UNKNOWN_OPEN_ORDER"]
        assert report["differences"][0]["price"] == 0.4
    finally:
        again.stop()


def test_restart_books_a_fill_that_happened_while_down(tmp_path: Path, venue: LiveVenue) -> None:
    bot = live_bot(tmp_path, venue, "live", at="bid").start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["open_orders"], timeout=20)
    finally:
        bot.kill(signal.SIGKILL)
    venue.clob.cross(UP, 0.45, 10)  # filled while the bot is down
    again = live_bot(tmp_path, venue, "live", at="bid").start()
    try:
        status = again.wait_ready(timeout=30)
        assert status["trading_state"] == "ACTIVE"
        report = read_json(tmp_path / "state" / "reconciliation.json")
        assert report["status"] == "OK"
        assert report["booked"]
        state = eventually(lambda: (s := again.trading_state())["active_positions"] and s)
        assert state["active_positions"][0]["shares"] == 10
    finally:
        again.stop()


def test_bad_key_and_unknown_market_fail_before_trading(tmp_path: Path, venue: LiveVenue) -> None:
    bad = live_bot(tmp_path, venue, "live", key="0xnot-a-key-5ecret")
    bad.start()
    assert bad.wait_exit(timeout=30) == 2
    _, err = bad.proc.communicate() if bad.proc else ("", "")
    assert "POLYMARKET_PRIVATE_KEY is malformed" in err
    assert "5ecret" not in err
    assert len(err.strip().splitlines()) == 1
    other = tmp_path / "other"
    buy_at_ask = {"params": {"buy_once": {"at": "ask"}}}
    venue.write_home(other, polymarket={"markets": ["0x" + "cd" * 32]}, strategies=buy_at_ask)
    run = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--home", str(other), "--mode", "live", "--quiet"],
        env={**os.environ, "POLYMARKET_PRIVATE_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode in (2, 3)
    assert "0x" + "cd" * 32 in run.stderr
    assert not (other / "state" / "status.json").exists()


def test_a_booked_fill_whose_trade_fails_on_chain_halts_the_bot(tmp_path: Path, venue: LiveVenue) -> None:
    bot = live_bot(tmp_path, venue, "live").start()
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["active_positions"], timeout=20)
        [trade_id] = venue.clob.fail_trades()
        status = eventually(lambda: (s := bot.status())["trading_state"] == "HALTED" and s, timeout=20)
        assert "FAILED on chain" in status["reason"]
        assert trade_id in status["reason"]
        errors = [a for a in activity(tmp_path) if a["type"] == "ERROR"]
        assert any(trade_id in e["details"] for e in errors)
    finally:
        bot.stop()
