"""The bot as a real subprocess, driven only through its files."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support import FAST_CONFIG, BotProcess, activity, eventually, read_json


def test_pause_blocks_entries_and_resume_restores(bot: BotProcess) -> None:
    bot.start().wait_ready()
    bot.touch("PAUSE")
    status = eventually(lambda: (s := bot.status())["trading_state"] == "PAUSED" and s)
    assert status["risk"]["can_trade"] is False
    assert "PAUSE" in status["risk"]["reason"]
    controls = bot.trading_state()["controls"]
    assert controls["in_effect"] == ["PAUSE"]
    assert controls["last"]["control"] == "PAUSE"
    assert controls["last"]["result"] == "APPLIED"
    assert bot.trading_state()["open_orders"] == [] or all(
        o["intent"] == "EXIT" for o in bot.trading_state()["open_orders"]
    )
    (bot.home / "controls" / "PAUSE").unlink()
    # can_trade may still be false for a session limit (losses in a row): not PAUSE's doing
    eventually(
        lambda: (
            (s := bot.status())["trading_state"] == "ACTIVE" and "PAUSE" not in (s["risk"]["reason"] or "")
        )
    )


def test_old_spelling_pause_trading_txt_works(bot: BotProcess) -> None:
    bot.start().wait_ready()
    bot.touch("PAUSE_TRADING.txt")
    eventually(lambda: bot.status()["trading_state"] == "PAUSED")


# Twenty-minute windows at 40x (30 s of wall time each); canary buys at once and holds to
# resolution, edge never trades: a position stays open long enough for a FLATTEN to reach it.
HOLDING_CONFIG = """
heartbeat_s = 0.5
state_refresh_s = 0.2
speed = 40

[market]
window_s = 1200
tick_s = 1.0

[strategies.params.canary]
seconds_before_end = 1190
ttl_s = 5

[strategies.params.edge]
min_edge = 0.99
"""


def held_long(bot: BotProcess, margin_s: float) -> bool:
    """An open position whose window ends at least `margin_s` of market time from now."""
    state = bot.trading_state()
    now = datetime.fromisoformat(state["market_time"])
    return any(
        (datetime.fromisoformat(p["window_end"]) - now).total_seconds() >= margin_s
        for p in state["active_positions"]
    )


def flatten_done(state: dict[str, Any]) -> bool:
    """This trading_state.json was written after the FLATTEN finished (it shows that)."""
    return any(
        a["type"] == "CONTROL_APPLIED" and a["details"].startswith("FLATTEN")
        for a in state["recent_activity"]
    )


def test_flatten_closes_everything_and_removes_the_file(tmp_path: Path) -> None:
    bot = BotProcess(tmp_path, HOLDING_CONFIG).start()
    try:
        bot.wait_ready()
        # 600 s of market time: 15 s of wall time before that position could settle
        eventually(lambda: held_long(bot, 600), timeout=40)
        held = bot.trading_state()["active_positions"]
        bot.touch("PAUSE")  # so that no new entry follows the flatten
        bot.touch("FLATTEN")  # at once: one round trip to the bot, not two
        eventually(lambda: not (bot.home / "controls" / "FLATTEN").exists())
        state = eventually(lambda: flatten_done(s := bot.trading_state()) and s)
        assert state["open_orders"] == []
        assert state["active_positions"] == []
        assert state["stats"]["total_active_positions"] == 0
        assert state["controls"]["in_effect"] == ["PAUSE"]
        feed = activity(bot.home)
        exits = [a for a in feed if a["type"] == "POSITION_EXIT" and "FLATTEN" in a["details"]]
        tail = "\n".join(f"{a['type']} {a['market']} {a['details']}" for a in feed[-20:])
        assert exits, f"flatten sold nothing; held then: {held}\n{tail}"
    finally:
        bot.stop()


def test_emergency_stop_exits_releases_lock_and_blocks_restart(bot: BotProcess, tmp_path: Path) -> None:
    bot.start().wait_ready()
    bot.touch("EMERGENCY_STOP")
    assert bot.wait_exit() == 0
    status = bot.status()
    assert status["is_alive"] is False
    assert "EMERGENCY_STOP" in status["reason"]
    assert status["risk"]["emergency_stop"] is True
    assert (bot.home / "controls" / "EMERGENCY_STOP").exists(), "the file must stay"
    again = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--home", str(bot.home), "--quiet"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert again.returncode == 3
    assert "EMERGENCY_STOP" in again.stderr
    assert "rm " in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    # the lock was released: once the file is cleared, a new run starts
    subprocess.run(
        [sys.executable, "-m", "bot", "resume", "--clear-emergency", "--home", str(bot.home)], check=True
    )
    second = BotProcess(bot.home, FAST_CONFIG).start()
    try:
        second.wait_ready()
    finally:
        second.stop()


def test_second_instance_is_refused_with_the_running_pid(bot: BotProcess) -> None:
    bot.start().wait_ready()
    other = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--home", str(bot.home), "--quiet"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert other.returncode == 3
    assert f"pid {bot.pid}" in other.stderr
    assert bot.proc is not None, "the first bot must keep running"
    assert bot.proc.poll() is None, "the first bot must keep running"


def test_junk_in_controls_is_rejected_and_the_loop_goes_on(bot: BotProcess) -> None:
    bot.start().wait_ready()
    controls = bot.home / "controls"
    (controls / "HELLO").write_text("what is this")
    (controls / "FLATTEN.txt").mkdir()
    os.symlink(controls / "nowhere", controls / "PAUSE")
    os.mkfifo(controls / "EMERGENCY_STOP.txt")
    (controls / "binary").write_bytes(os.urandom(200_000))

    def rejected() -> set[str]:
        return {a["details"].split(":")[0] for a in activity(bot.home) if a["type"] == "CONTROL_REJECTED"}

    found = eventually(
        lambda: (r := rejected()) >= {"HELLO", "FLATTEN.txt", "PAUSE", "EMERGENCY_STOP.txt", "binary"} and r
    )
    assert found
    details = [a["details"] for a in activity(bot.home) if a["type"] == "CONTROL_REJECTED"]
    assert any("known: PAUSE, FLATTEN, EMERGENCY_STOP" in d for d in details)
    assert any("dangling" in d for d in details)
    assert any("directory" in d for d in details)
    assert any("not a regular file" in d for d in details)
    beat = bot.status()["timestamp"]
    eventually(lambda: bot.status()["timestamp"] != beat)  # still beating
    assert bot.status()["trading_state"] == "ACTIVE"


def test_control_present_at_startup_acts_before_the_first_order(tmp_path: Path) -> None:
    (tmp_path / "controls").mkdir()
    (tmp_path / "controls" / "PAUSE").write_text("")
    bot = BotProcess(tmp_path).start()
    try:
        status = bot.wait_ready()
        assert status["trading_state"] == "PAUSED"
        eventually(lambda: any(a["type"] == "MARKET_RESOLVED" for a in activity(tmp_path)), timeout=20)
        assert not any(a["type"] == "ORDER_PLACED" for a in activity(tmp_path))
    finally:
        bot.stop()


def test_sigterm_writes_a_final_state(bot: BotProcess) -> None:
    bot.start().wait_ready()
    import signal

    bot.kill(signal.SIGTERM)
    status = read_json(bot.home / "state" / "status.json")
    assert status["is_alive"] is False
    assert status["trading_state"] == "STOPPED"
    assert "SIGTERM" in status["reason"]
