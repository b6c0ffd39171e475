"""Runtime risk controls, HALTED and session limits, through files on a running bot."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support import FAST_CONFIG, BotProcess, activity, eventually


def runtime_rows(home: Path) -> dict[str, object]:
    conn = sqlite3.connect(f"file:{home / 'state' / 'bot.db'}?mode=ro", uri=True)
    try:
        return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM runtime_controls")}
    finally:
        conn.close()


def last_control(bot: BotProcess, file: str) -> dict[str, object]:
    return eventually(lambda: (c := bot.trading_state()["controls"]["last"]) and c["file"] == file and c)


def test_adjust_risk_number_applies_persists_and_sizes_orders(tmp_path: Path) -> None:
    # it waits for entries after the change: no session limit (losses in a row) may stop them
    config = FAST_CONFIG + "\n[risk]\nmax_consecutive_losses = 100000\ndaily_loss_limit_usd = 100000.0\n"
    bot = BotProcess(tmp_path, config).start()
    try:
        _adjust_risk_number(bot)
    finally:
        bot.stop()


def _adjust_risk_number(bot: BotProcess) -> None:
    bot.wait_ready()
    bot.touch("ADJUST_RISK", "3\n")
    control = last_control(bot, "ADJUST_RISK")
    assert control["result"] == "APPLIED"
    assert "max_position_usd=3" in str(control["reason"])
    assert not (bot.home / "controls" / "ADJUST_RISK").exists()
    assert bot.trading_state()["controls"]["effective_limits"]["max_position_usd"] == 3
    assert runtime_rows(bot.home)["max_position_usd"] == "3"
    applied_at = len(activity(bot.home))
    eventually(lambda: sum(a["type"] == "ORDER_PLACED" for a in activity(bot.home)[applied_at:]) >= 2, 20)
    conn = sqlite3.connect(f"file:{bot.home / 'state' / 'bot.db'}?mode=ro", uri=True)
    placed_after = conn.execute(
        "SELECT MAX(price_micros * size_micros / 1000000) FROM orders WHERE intent='ENTRY'"
        " AND created_ms > (SELECT MAX(ts_ms) FROM controls WHERE name='ADJUST_RISK')"
    ).fetchone()[0]
    conn.close()
    assert placed_after is not None
    assert placed_after <= 3_000_000


def test_bad_adjust_risk_files_are_rejected_and_set_aside(bot: BotProcess) -> None:
    bot.start().wait_ready()
    cases = {
        "hello": "not a number",
        "-5": "greater than 0",
        "1e308": "above the owner's cap",
        '{"max_position_usd": 2, "leverage": 10}': "unknown key 'leverage'",
        '{"max_position_usd": "lots"}': "is not a number",
        '{"allowed_instruments": "BTC"}': "expected a list",
        '{"allowed_instruments": ["DOGE"]}': "'DOGE' is not one of the configured instruments",
        '{"trading_mode": "live"}': "never switch the bot to LIVE",
        "[1, 2]": "not a number",
    }
    rejected = bot.home / "controls" / "ADJUST_RISK.rejected"
    for content, expected in cases.items():
        before = len([a for a in activity(bot.home) if a["type"] == "CONTROL_REJECTED"])
        bot.touch("ADJUST_RISK", content)
        eventually(
            lambda n=before: len([a for a in activity(bot.home) if a["type"] == "CONTROL_REJECTED"]) > n
        )
        text = rejected.read_text()
        assert expected in text.splitlines()[0], (content, text)
        assert not (bot.home / "controls" / "ADJUST_RISK").exists()
    huge = bot.home / "controls" / "ADJUST_RISK"
    huge.write_bytes(b"1" * 100_000)
    eventually(lambda: "larger than" in (bot.home / "controls" / "ADJUST_RISK.rejected").read_text())
    assert bot.trading_state()["controls"]["effective_limits"]["max_position_usd"] == 5
    assert "max_position_usd" not in runtime_rows(bot.home)
    assert bot.status()["trading_state"] == "ACTIVE"


def test_bot_adjust_writes_the_same_file_and_limits_instruments(bot: BotProcess) -> None:
    bot.start().wait_ready()
    cmd = [sys.executable, "-m", "bot", "adjust", "allowed_instruments=BTC", "--home", str(bot.home)]
    subprocess.run(cmd, check=True, capture_output=True)
    control = last_control(bot, "ADJUST_RISK")
    assert control["result"] == "APPLIED"
    mark = len(activity(bot.home))
    eventually(lambda: sum(a["type"] == "MARKET_RESOLVED" for a in activity(bot.home)[mark:]) >= 6, 20)
    placed = [a for a in activity(bot.home)[mark:] if a["type"] == "ORDER_PLACED" and "BUY" in a["details"]]
    assert all(a["market"].startswith("BTC-") for a in placed)


def test_halted_by_a_broken_invariant_then_reset(bot: BotProcess) -> None:
    bot.start().wait_ready()
    db = sqlite3.connect(bot.home / "state" / "bot.db", timeout=10)
    with db:
        db.execute(
            "INSERT INTO cash (ts_ms, mode, kind, amount_micros, ref) VALUES (0, 'PAPER', 'DEPOSIT', 1, 'x')"
        )
    status = eventually(lambda: (s := bot.status())["trading_state"] == "HALTED" and s, timeout=15)
    assert "journal_cash" in status["reason"]
    assert status["risk"]["can_trade"] is False
    assert any("HALTED" in e["details"] for e in status["errors"])
    with db:
        db.execute("DELETE FROM cash WHERE ref='x'")
    db.close()
    bot.touch("RESET")
    eventually(lambda: bot.status()["trading_state"] == "ACTIVE", timeout=10)
    assert not (bot.home / "controls" / "RESET").exists()
    assert "halted" not in runtime_rows(bot.home)
    conn = sqlite3.connect(f"file:{bot.home / 'state' / 'bot.db'}?mode=ro", uri=True)
    assert (
        conn.execute("SELECT COUNT(*) FROM controls WHERE name='RESET' AND result='APPLIED'").fetchone()[0]
        == 1
    )
    conn.close()


def test_runtime_controls_and_halted_survive_a_restart(tmp_path: Path) -> None:
    bot = BotProcess(tmp_path).start()
    try:
        bot.wait_ready()
        bot.touch("ADJUST_RISK", '{"max_position_usd": 2.5, "allowed_strategies": ["edge"]}')
        last_control(bot, "ADJUST_RISK")
        db = sqlite3.connect(tmp_path / "state" / "bot.db", timeout=10)
        with db:
            db.execute(
                "INSERT INTO cash (ts_ms, mode, kind, amount_micros, ref) VALUES (0, 'PAPER', 'FEE', -1, 'x')"
            )
        db.close()
        eventually(lambda: bot.status()["trading_state"] == "HALTED", timeout=15)
        bot.kill()
        again = BotProcess(tmp_path).start()
        try:
            status = again.wait_ready()
            assert status["trading_state"] == "HALTED"
            limits = again.trading_state()["controls"]["effective_limits"]
            assert limits["max_position_usd"] == 2.5
            assert limits["allowed_strategies"] == ["edge"]
        finally:
            again.stop()
    finally:
        bot.stop()


def test_session_limit_blocks_entries_until_reset(tmp_path: Path) -> None:
    config = FAST_CONFIG + "\n[risk]\nmax_consecutive_losses = 1\n"
    bot = BotProcess(tmp_path, config).start()
    try:
        bot.wait_ready()
        status = eventually(lambda: (s := bot.status())["risk"]["can_trade"] is False and s, timeout=30)
        assert status["trading_state"] == "ACTIVE"
        assert "losing trades in a row" in status["risk"]["reason"]
        assert status["risk"]["consecutive_losses"] >= 1
        bot.touch("RESET")
        eventually(lambda: bot.status()["risk"]["consecutive_losses"] == 0, timeout=10)
    finally:
        bot.stop()
