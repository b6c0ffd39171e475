"""Operator commands against a real bot: the home is checked, and stop/flatten wait for an answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import BotProcess, eventually, read_json

WRITERS = [
    ["pause"],
    ["resume"],
    ["flatten"],
    ["stop"],
    ["adjust", "max_position_usd=3"],
    ["reset"],
    ["trades"],
    ["compare", "1"],
]


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60):
    base = {k: v for k, v in os.environ.items() if k != "TOUCHTRADER_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**base, **(env or {})},
    )


@pytest.mark.parametrize("args", WRITERS, ids=lambda a: a[0])
def test_a_folder_that_is_not_a_home_is_refused_and_nothing_is_written(
    tmp_path: Path, args: list[str]
) -> None:
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "is not a bot home" in lines[0], out.stderr
    assert list(tmp_path.iterdir()) == []  # no controls/ folder, no stray EMERGENCY_STOP
    explicit = cli(*args, "--home", str(tmp_path / "typo"))
    assert explicit.returncode == 2
    assert "no such folder" in explicit.stderr


def test_home_comes_from_the_option_then_the_environment_then_the_current_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "state").mkdir(parents=True)
    (home / "state" / "status.json").write_text('{"is_alive": false, "pid": 1, "reason": "test"}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert cli("pause", cwd=elsewhere, env={"TOUCHTRADER_HOME": str(home)}).returncode == 0
    assert (home / "controls" / "PAUSE").exists()
    assert cli("resume", cwd=home).returncode == 0
    assert not (home / "controls" / "PAUSE").exists()
    # --home wins over the environment
    wrong = cli("pause", "--home", str(elsewhere), env={"TOUCHTRADER_HOME": str(home)})
    assert wrong.returncode == 2
    assert not (home / "controls" / "PAUSE").exists()
    # bot status reads the same home
    status = cli("status", "--json", cwd=elsewhere, env={"TOUCHTRADER_HOME": str(home)})
    assert '"reason": "test"' in status.stdout


def test_stop_and_flatten_without_a_running_bot_say_so_at_once(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "status.json").write_text('{"is_alive": false, "pid": 999999, "reason": "x"}')
    for command, file in (("flatten", "FLATTEN"), ("stop", "EMERGENCY_STOP")):
        out = cli(command, "--home", str(tmp_path), "--timeout", "30")
        assert out.returncode == 1, out
        assert "no bot is running" in out.stderr
        assert (tmp_path / "controls" / file).exists()  # it acts when a bot starts


def test_flatten_then_stop_are_acknowledged_by_the_running_bot(bot: BotProcess) -> None:
    bot.start()
    bot.wait_ready()
    home = str(bot.home)
    out = cli("flatten", "--home", home, "--timeout", "20")
    assert out.returncode == 0, out
    assert "FLATTEN" in out.stdout
    assert "done by the bot" in out.stdout or "acknowledged" in out.stdout
    assert f"pid {bot.pid}" in out.stdout
    out = cli("stop", "--home", home, "--timeout", "20")
    assert out.returncode == 0, out
    assert "EMERGENCY_STOP acknowledged" in out.stdout, out.stdout
    assert bot.wait_exit() == 0
    status = read_json(bot.home / "state" / "status.json")
    assert status["is_alive"] is False
    assert status["risk"]["emergency_stop"] is True


def test_a_bot_that_does_not_answer_gives_exit_4(bot: BotProcess) -> None:
    bot.start()
    bot.wait_ready()
    os.kill(bot.pid, 19)  # SIGSTOP: alive but deaf
    try:
        out = cli("flatten", "--home", str(bot.home), "--timeout", "0.5")
        assert out.returncode == 4, out
        assert "did not acknowledge FLATTEN within 0.5 s" in out.stderr
    finally:
        os.kill(bot.pid, 18)  # SIGCONT
    # once it runs again it flattens: the file goes away
    eventually(lambda: not (bot.home / "controls" / "FLATTEN").exists(), timeout=20)


def test_bot_run_takes_its_home_from_the_environment_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "controls").mkdir(parents=True)
    (home / "controls" / "EMERGENCY_STOP").touch()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = cli("run", "--quiet", cwd=elsewhere, env={"TOUCHTRADER_HOME": str(home)})
    assert out.returncode == 3
    assert str(home) in out.stderr
    assert list(elsewhere.iterdir()) == []


def test_pause_without_a_running_bot_says_the_file_waits(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "status.json").write_text('{"is_alive": false, "pid": 999999}')
    out = cli("pause", "--home", str(tmp_path))
    assert out.returncode == 0
    assert "no bot is running" in out.stderr
    assert (tmp_path / "controls" / "PAUSE").exists()


def test_pause_resume_adjust_and_reset_report_the_bots_answer(bot: BotProcess) -> None:
    bot.start()
    bot.wait_ready()
    home = str(bot.home)
    out = cli("pause", "--home", home)
    assert out.returncode == 0, out
    assert f"PAUSE APPLIED by the bot (pid {bot.pid})" in out.stdout, out
    assert bot.status()["trading_state"] == "PAUSED"
    assert "already in effect" in cli("pause", "--home", home).stdout
    out = cli("resume", "--home", home)
    assert out.returncode == 0, out
    assert "entries resume" in out.stdout, out
    out = cli("adjust", "max_position_usd=3", "--home", home)
    assert out.returncode == 0
    assert "ADJUST_RISK APPLIED" in out.stdout
    assert "max_position_usd=3" in out.stdout
    out = cli("adjust", "max_position_usd=300", "--home", home)
    assert out.returncode == 2, out
    assert "ADJUST_RISK REJECTED" in out.stderr, out
    assert "cap" in out.stderr, out
    out = cli("reset", "--home", home)
    assert out.returncode == 0, out
    assert "RESET APPLIED" in out.stdout, out


def test_a_deaf_bot_gives_exit_4_for_pause_too(bot: BotProcess) -> None:
    bot.start()
    bot.wait_ready()
    os.kill(bot.pid, 19)  # SIGSTOP
    try:
        out = cli("pause", "--home", str(bot.home), "--timeout", "0.5")
        assert out.returncode == 4, out
        assert "did not answer PAUSE within 0.5 s" in out.stderr, out
    finally:
        os.kill(bot.pid, 18)  # SIGCONT
    eventually(lambda: bot.status()["trading_state"] == "PAUSED", timeout=20)
