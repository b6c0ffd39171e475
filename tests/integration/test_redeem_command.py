"""`bot redeem` end to end: a LIVE bot's won position, the bot stopped, redeemed on the local
Polygon node, and closed as WON when the bot starts again (the tokens are gone, the collateral
paid)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.testing.chain_server import ChainServer
from bot.testing.clob_server import ClobServer
from tests.integration.test_live_e2e import CONDITION, KEY, UP
from tests.integration.test_live_engine_faults import (
    BUY_ONCE,
    THIRD,
    THIRD_DOWN,
    THIRD_UP,
    _end,
    live_config,
    make_server,
    start,
)
from tests.support import activity, eventually


def two_markets() -> ClobServer:
    """CONDITION ends in 15 s (the bot looks for its resolution once the window ends); THIRD
    stays open, which keeps the bot running after CONDITION resolves."""
    server = make_server(end_in_s=15)
    server.add_market(THIRD, (THIRD_UP, THIRD_DOWN), end_date_iso=_end(1800), question="SOL up?")
    server.set_book(THIRD_UP, bids=[(0.45, 100)], asks=[(0.47, 100)])
    server.set_book(THIRD_DOWN, bids=[(0.53, 100)], asks=[(0.55, 100)])
    return server


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
    server = two_markets()
    chain = ChainServer(server.exchange, owner_of=lambda address: server.api_key).start()
    toml = live_config(server, BUY_ONCE.format(at="ask"), (CONDITION, THIRD)).replace(
        "[polymarket]\n", f'[polymarket]\nrpc_url = "{chain.url}"\n', 1
    )
    bot = start(tmp_path, server, toml)
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
        bot = start(tmp_path, server, toml.replace(f'"{CONDITION}", ', ""))
        bot.wait_ready(timeout=30)
        eventually(lambda: len(bot.trading_state()["active_positions"]) == 1, timeout=20)
        assert closed_as_won(tmp_path)
    finally:
        bot.stop()
        chain.stop()
        server.stop()


def test_an_eoa_without_rpc_url_is_told_what_to_set(tmp_path: Path) -> None:
    server = make_server()
    try:
        (tmp_path / "bot.toml").write_text(live_config(server, ""))
        result = redeem(tmp_path, {"POLYMARKET_PRIVATE_KEY": KEY})
        assert result.returncode == 2
        assert "rpc_url is not set" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        server.stop()


def test_auto_redeem_redeems_a_win_while_the_bot_runs(tmp_path: Path) -> None:
    server = two_markets()
    chain = ChainServer(server.exchange, owner_of=lambda address: server.api_key, receipt_after=1).start()
    settings = f'[polymarket]\nauto_redeem = true\nredeem_interval_s = 0.2\nrpc_url = "{chain.url}"\n'
    toml = live_config(server, BUY_ONCE.format(at="ask"), (CONDITION, THIRD)).replace(
        "[polymarket]\n", settings, 1
    )
    bot = start(tmp_path, server, toml)
    try:
        bot.wait_ready(timeout=30)
        eventually(lambda: len(bot.trading_state()["active_positions"]) == 2, timeout=20)
        before = server.balance()
        server.resolve(CONDITION, UP)  # our UP won
        eventually(lambda: len(bot.trading_state()["active_positions"]) == 1, timeout=90)
        assert server.position(UP) == 0
        assert server.balance() == before + 10
        assert len(chain.transactions) == 1
        lines = [a for a in activity(tmp_path) if a["type"] == "REDEMPTION"]
        assert [a["state"] for a in lines][-1] == "REDEEMED", lines
        assert any("transaction 0x" in a["details"] for a in lines)
        assert closed_as_won(tmp_path)
    finally:
        bot.stop()
        chain.stop()
        server.stop()


def test_auto_redeem_with_a_wallet_that_cannot_redeem_stops_the_start(tmp_path: Path) -> None:
    server = make_server()
    try:
        toml = live_config(server, "auto_redeem = true\nsignature_type = 2\n")
        bot = start(tmp_path, server, toml)
        code = bot.proc.wait(timeout=60)
        err = bot.proc.stderr.read() if bot.proc.stderr else ""
        assert code == 2, err
        assert "POLYMARKET_BUILDER_API_KEY" in err
        assert "Traceback" not in err
    finally:
        server.stop()
