"""`bot watch` in a real pseudo-terminal, following a real bot through its files."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from tests.support import BotProcess, eventually

pytest.importorskip("rich")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


class Terminal:
    """A 140x50 pseudo-terminal running a command; collects what it prints."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 140, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "50"}
        env.pop("TOUCHTRADER_HOME", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.raw = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO once the command has exited
                return
            if not chunk:
                return
            self.raw += chunk

    def text(self, start: int = 0) -> str:
        return ANSI.sub("", self.raw[start:].decode("utf-8", "replace"))

    def wait_for(self, needle: str, start: int = 0, timeout: float = 20) -> None:
        eventually(lambda: needle in self.text(start), timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        os.close(self.master)


def test_watch_follows_a_running_bot_and_shows_it_stopped(bot: BotProcess) -> None:
    bot.start()
    bot.wait_ready()
    term = Terminal("watch", "--home", str(bot.home))
    try:
        term.wait_for("ALIVE")
        term.wait_for("positions")
        term.wait_for("recent activity")
        term.wait_for("ORDER_PLACED")
        mark = len(term.raw)
        bot.touch("PAUSE")
        term.wait_for("controls in effect: PAUSE", start=mark)
        term.wait_for("state PAUSED", start=mark)
        mark = len(term.raw)
        bot.stop()  # SIGTERM: the final state says is_alive false
        term.wait_for("DEAD", start=mark)
        term.wait_for("files in controls/: PAUSE", start=mark)
        term.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert term.proc.wait(timeout=10) == 0
        assert "Traceback" not in term.text()
    finally:
        term.close()


def test_watch_of_a_stopped_bot_prints_one_view_when_not_on_a_terminal(bot: BotProcess) -> None:
    bot.start()
    bot.wait_ready()
    eventually(lambda: bot.trading_state()["active_positions"] or bot.trading_state()["open_orders"], 30)
    bot.stop()
    out = subprocess.run(
        [sys.executable, "-m", "bot", "watch", "--home", str(bot.home)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr
    assert "DEAD" in out.stdout
    assert "stopped" in out.stdout
    state = bot.trading_state()
    for p in state["active_positions"]:
        assert p["market_name"] in out.stdout
    assert f"positions ({len(state['active_positions'])})" in out.stdout or "positions: none" in out.stdout
    assert f"open orders ({len(state['open_orders'])})" in out.stdout or "open orders: none" in out.stdout


def test_watch_refuses_a_folder_that_is_not_a_home(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot", "watch", "--home", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "not a bot home" in out.stderr
