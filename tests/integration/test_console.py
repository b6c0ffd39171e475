"""The `bot run` terminal stream, through a pipe (no colour) and a pseudo-terminal (colour)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.support import FAST_CONFIG, activity, eventually

# every entry is refused for the same reason: a max position below the market minimum
CONFIG = "console_summary_s = 0.5\n" + FAST_CONFIG + "\n[risk]\nmax_position_usd = 0.5\n"
FOLDED = re.compile(r"^ {9}RISK_REJECTED +x(\d+) more like: max position \$0.50 leaves", re.M)


class Echo:
    """`bot run` without --quiet; its stdout read as it comes, from a pipe or a pty."""

    def __init__(self, home: Path, tty: bool, env: dict[str, str] | None = None) -> None:
        (home / "bot.toml").write_text(CONFIG)
        base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
        self.chunks: list[bytes] = []
        self.master = -1
        out: int = subprocess.PIPE
        if tty:
            self.master, out = os.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--home", str(home)],
            stdout=out,
            stderr=subprocess.PIPE,
            env={**base, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        if tty:
            os.close(out)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536) if self.master >= 0 else self.proc.stdout.read1(65536)  # type: ignore[union-attr]
            except OSError:  # the pty closes with EIO when the bot has exited
                return
            if not data:
                return
            self.chunks.append(data)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace").replace("\r\n", "\n")

    def stop(self) -> list[str]:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=20) == 0, self.proc.stderr.read()  # type: ignore[union-attr]
        self.reader.join(timeout=10)
        if self.master >= 0:
            os.close(self.master)
        self.proc.stderr.close()  # type: ignore[union-attr]
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.text.splitlines()


def _folded_twice(echo: Echo) -> bool:
    text = echo.text
    # a summary due before the first state/status.json says so; at least one must show the state
    return (
        text.count(" SUMMARY ") >= 2
        and re.search(r" SUMMARY +PAPER ", text) is not None
        and len(FOLDED.findall(text)) >= 1
    )


def test_a_pipe_gets_short_plain_lines_a_summary_and_rejections_folded_into_counts(tmp_path: Path) -> None:
    echo = Echo(tmp_path, tty=False)
    try:
        eventually(lambda: _folded_twice(echo), timeout=60)
    finally:
        lines = echo.stop()
    assert lines, "no output"
    assert all(len(line) <= 120 for line in lines), max(lines, key=len)
    assert not any("\x1b[" in line for line in lines)
    summaries = [line for line in lines if " SUMMARY " in line]
    # on a loaded machine the first summary can come before the first state/status.json
    early = [line for line in summaries if re.search(r" SUMMARY +no state/status.json yet$", line)]
    assert summaries[: len(early)] == early, summaries
    summaries = summaries[len(early) :]
    assert re.search(
        r"^\d\d:\d\d:\d\d SUMMARY +PAPER ACTIVE \| balance \$[\d,]+\.\d\d \| P&L today [+-]\$[\d,]+\.\d\d"
        r" \| positions \d+ \| trades today \d+$",
        summaries[0],
    )
    # nothing lost: every rejection in the log is either a line of its own or in a count
    shown = sum(1 for line in lines if re.match(r"^\d\d:\d\d:\d\d RISK_REJECTED ", line))
    counted = sum(int(m.group(1)) for line in lines if (m := FOLDED.match(line)))
    logged = sum(1 for a in activity(tmp_path) if a["type"] == "RISK_REJECTED")
    assert counted > shown > 0
    assert shown + counted == logged, (shown, counted, logged)
    assert (tmp_path / "logs" / "bot.log").read_text().count("RISK_REJECTED") == logged  # the log keeps all


def test_a_terminal_gets_colour_unless_no_color_is_set(tmp_path: Path) -> None:
    for env, coloured in (({}, True), ({"NO_COLOR": "1"}, False)):
        home = tmp_path / ("colour" if coloured else "plain")
        home.mkdir()
        echo = Echo(home, tty=True, env=env)
        try:
            eventually(lambda echo=echo: echo.text.count(" SUMMARY ") >= 1, timeout=60)  # type: ignore[misc]
        finally:
            lines = echo.stop()
        assert ("\x1b[1;34m" in echo.text) is coloured, echo.text[:500]
        assert ("\x1b[" in echo.text) is coloured
        plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
        assert all(len(line) <= 120 for line in plain), max(plain, key=len)
        assert any(line.startswith(tuple("0123456789")) and " BOT_STARTED " in line for line in plain)
