"""The bot as a real subprocess, driven only through its files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import FAST_CONFIG, BotProcess, activity, eventually, read_json


def test_pause_blocks_entries_and_resume_restores(bot: BotProcess) -> None:
    bot.start().wait_ready()
    bot.touch("PAUSE")
    status = eventually(lambda: (s := bot.status())["trading_state"] == "PAUSED" and s)
    assert status["risk"]["can_trade"] is False
    assert "PAUSE" in status["risk"]["reason"]
    controls = bot.trading_state()["controls"]
    assert controls["in_effect"] == ["PAUSE"]
    assert controls["last"]["control"] == "PAUSE" and controls["last"]["result"] == "APPLIED"
    assert bot.trading_state()["open_orders"] == [] or all(
        o["intent"] == "EXIT" for o in bot.trading_state()["open_orders"]
    )
    (bot.home / "controls" / "PAUSE").unlink()
    eventually(lambda: bot.status()["trading_state"] == "ACTIVE" and bot.status()["risk"]["can_trade"])


def test_old_spelling_pause_trading_txt_works(bot: BotProcess) -> None:
    bot.start().wait_ready()
    bot.touch("PAUSE_TRADING.txt")
    eventually(lambda: bot.status()["trading_state"] == "PAUSED")


def _flattens(home: Path) -> int:
    return sum(1 for a in activity(home) if a["type"] == "CONTROL_APPLIED" and a.get("control") == "FLATTEN")


def test_flatten_closes_everything_and_removes_the_file(bot: BotProcess) -> None:
    bot.start().wait_ready()
    exits: list[dict[str, object]] = []
    for _ in range(5):  # a window lasts 0.75 s of wall time: what was open may settle first
        eventually(lambda: bot.trading_state()["stats"]["total_active_positions"] > 0, timeout=20)
        bot.touch("PAUSE")  # so that no new entry follows the flatten
        eventually(lambda: bot.status()["trading_state"] == "PAUSED")
        done = _flattens(bot.home)
        bot.touch("FLATTEN")
        eventually(lambda: not (bot.home / "controls" / "FLATTEN").exists())
        eventually(lambda n=done: _flattens(bot.home) > n)
        state = eventually(
            lambda: (s := bot.trading_state())["controls"]["last"]["control"] == "FLATTEN" and s
        )
        assert state["open_orders"] == []
        assert state["active_positions"] == []
        assert state["stats"]["total_active_positions"] == 0
        exits = [a for a in activity(bot.home) if a["type"] == "POSITION_EXIT" and "FLATTEN" in a["details"]]
        if exits:
            break
        (bot.home / "controls" / "PAUSE").unlink()  # everything settled before the flatten: again
        eventually(lambda: bot.status()["trading_state"] == "ACTIVE")
    assert exits, "flatten sold nothing"


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
    assert "EMERGENCY_STOP" in again.stderr and "rm " in again.stderr
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
    assert bot.proc is not None and bot.proc.poll() is None, "the first bot must keep running"


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
