"""Which folder is the home, is it one, and does a bot run there (pid checks without a lock)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.home import NotAHome, is_home, pid_alive, require, resolve, running
from tests.support import eventually


def test_resolve_prefers_the_option_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUCHTRADER_HOME", "/srv/bot")
    assert resolve("/x") == Path("/x")
    assert resolve(None) == Path("/srv/bot")
    monkeypatch.setenv("TOUCHTRADER_HOME", "  ")
    assert resolve(None) == Path(".")


def test_a_home_has_a_journal_or_a_state_file(tmp_path: Path) -> None:
    assert not is_home(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "bot.lock").write_text("1\n")  # a lock alone is not a home
    assert not is_home(tmp_path)
    with pytest.raises(NotAHome, match="not a bot home"):
        require(tmp_path)
    (tmp_path / "state" / "trades_today.json").write_text("{}")
    assert require(tmp_path) == tmp_path


def _status(home: Path, **fields: object) -> None:
    (home / "state").mkdir(exist_ok=True)
    (home / "state" / "status.json").write_text(json.dumps(fields))


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_running_checks_the_pid_is_a_live_bot(tmp_path: Path) -> None:
    assert running(tmp_path).pid is None
    other = subprocess.Popen(["sleep", "30"])  # a live pid that is not a bot: a reused pid
    bot = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "bot"])
    for proc in (other, bot):  # exec'd: /proc shows the new program (empty just before)
        eventually(lambda proc=proc: Path(f"/proc/{proc.pid}/cmdline").read_bytes())
    try:
        _status(tmp_path, pid=other.pid, is_alive=True)
        assert running(tmp_path).pid is None
        _status(tmp_path, pid=bot.pid, is_alive=True)
        assert running(tmp_path).pid == bot.pid
        _status(tmp_path, pid=bot.pid, is_alive=False, reason="EMERGENCY_STOP")
        assert running(tmp_path).pid is None
        assert "EMERGENCY_STOP" in running(tmp_path).why
        (tmp_path / "state" / "bot.lock").write_text(f"{bot.pid}\n")  # starting: lock before status
        _status(tmp_path, pid=other.pid, is_alive=False)
        assert running(tmp_path).pid == bot.pid
        bot.kill()
        eventually(lambda: not pid_alive(bot.pid))  # a zombie until reaped: not alive either
    finally:
        for proc in (other, bot):
            proc.kill()
            proc.wait()
    assert "is not running" in running(tmp_path).why
