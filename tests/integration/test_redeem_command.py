"""`bot redeem` end to end: a LIVE bot's won position, the bot stopped, redeemed on the local
Polygon node, and closed as WON when the bot starts again (the tokens are gone, the collateral
paid)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.testing.chain_server import ChainServer
from tests.integration.test_live_engine_faults import (
    THIRD,
    THIRD_DOWN,
    THIRD_UP,
    live_home,
    open_venue,
    start,
)
from tests.support import activity, eventually
from tests.venue import CONDITION, KEY, UP, LiveVenue


def two_markets() -> LiveVenue:
    """CONDITION ends in 15 s (the bot looks for its resolution once the window ends); THIRD
    stays open, which keeps the bot running after CONDITION resolves."""
    venue = open_venue(end_in_s=15)
    venue.add_market(THIRD, (THIRD_UP, THIRD_DOWN), question="SOL up?")
    return venue


def closed_as_won(home: Path) -> bool:
    return any("WON" in a["details"] for a in activity(home) if a["type"] == "POSITION_EXIT")


def redeem(home: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "redeem", "--home", str(home), "--wait", "30", *extra],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_bot_redeem_redeems_a_stopped_bots_win_and_the_next_start_books_it(tmp_path: Path) -> None:
    venue = two_markets()
    server = venue.clob
    chain = ChainServer(server.exchange, owner_of=lambda address: server.api_key).start()
    bot = start(tmp_path, venue, polymarket={"rpc_url": chain.url})
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: bot.trading_state()["active_positions"], timeout=20)
        server.resolve(CONDITION, UP)  # our UP won: $10 once redeemed
        eventually(
            lambda: [
                p for p in bot.trading_state()["active_positions"] if p["lifecycle"] == "AWAITING_REDEMPTION"
            ],
            timeout=60,
        )
        # a running bot owns the journal: the command refuses and says what to do
        running = redeem(tmp_path, bot.env)
        assert running.returncode == 3, running.stderr
        assert "auto_redeem = true" in running.stderr
        assert "Traceback" not in running.stderr
        bot.stop()
        before = server.balance()
        done = redeem(tmp_path, bot.env)
        assert done.returncode == 0, done.stderr
        assert "REDEEMED" in done.stdout
        assert "$10.00" in done.stdout
        assert server.position(UP) == 0
        assert server.balance() == before + 10
        assert server.position(THIRD_UP) == 10  # the open market's position is not touched
        assert len(chain.transactions) == 1
        again = redeem(tmp_path, bot.env)  # already redeemed (booked at the next start): not sent twice
        assert again.returncode == 0
        assert "REDEEMED" in again.stdout
        assert len(chain.transactions) == 1
        assert KEY.removeprefix("0x") not in done.stdout + done.stderr
        # the resolved market is closed: the next start trades the open one only
        bot = start(tmp_path, venue, markets=(THIRD,), polymarket={"rpc_url": chain.url})
        bot.wait_ready(timeout=30)
        eventually(lambda: len(bot.trading_state()["active_positions"]) == 1, timeout=20)
        assert closed_as_won(tmp_path)
    finally:
        bot.stop()
        chain.stop()
        venue.stop()


def test_an_eoa_without_rpc_url_is_told_what_to_set(tmp_path: Path) -> None:
    venue = open_venue()
    try:
        live_home(tmp_path, venue, exits=None, strategies=None)
        result = redeem(tmp_path, {"POLYMARKET_PRIVATE_KEY": KEY})
        assert result.returncode == 2
        assert "rpc_url is not set" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        venue.stop()


def test_auto_redeem_redeems_a_win_while_the_bot_runs(tmp_path: Path) -> None:
    venue = two_markets()
    server = venue.clob
    chain = ChainServer(server.exchange, owner_of=lambda address: server.api_key, receipt_after=1).start()
    bot = start(
        tmp_path, venue, polymarket={"auto_redeem": True, "redeem_interval_s": 0.2, "rpc_url": chain.url}
    )
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: len(bot.trading_state()["active_positions"]) == 2, timeout=20)
        before = server.balance()
        server.resolve(CONDITION, UP)  # our UP won
        eventually(lambda: len(bot.trading_state()["active_positions"]) == 1, timeout=90)
        assert server.position(UP) == 0
        assert server.balance() == before + 10
        assert len(chain.transactions) == 1

        # the activity feed is its own file: its REDEEMED line may land after the state file
        def redemptions() -> list[dict[str, Any]]:
            return [a for a in activity(tmp_path) if a["type"] == "REDEMPTION"]

        eventually(lambda: [a["state"] for a in redemptions()][-1:] == ["REDEEMED"], timeout=30)
        lines = redemptions()
        assert any("transaction 0x" in a["details"] for a in lines)
        assert closed_as_won(tmp_path)
    finally:
        bot.stop()
        chain.stop()
        venue.stop()


def test_auto_redeem_with_a_wallet_that_cannot_redeem_stops_the_start(tmp_path: Path) -> None:
    venue = open_venue()
    try:
        redeem_on_a_safe = {"auto_redeem": True, "signature_type": 2}
        bot = start(tmp_path, venue, polymarket=redeem_on_a_safe, exits=None, strategies=None)
        code = bot.proc.wait(timeout=60)
        err = bot.proc.stderr.read() if bot.proc.stderr else ""
        assert code == 2, err
        assert "POLYMARKET_BUILDER_API_KEY" in err
        assert "Traceback" not in err
    finally:
        venue.stop()
