"""Two `bot run` in one home at the same moment: one runs, the other is refused (exit 3) and
never writes state/bot.lock, status.json or a session of its own, not even for an instant."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from tests.support import BotProcess, eventually


def test_two_starts_at_once_one_runs_and_the_refused_one_writes_nothing(tmp_path: Path) -> None:
    first, second = BotProcess(tmp_path), BotProcess(tmp_path)
    first.start()
    second.start()
    lock = tmp_path / "state" / "bot.lock"
    status = tmp_path / "state" / "status.json"
    try:
        pids: set[str] = set()
        # watch the lock file until one of the two has exited (the refused one)
        while first.proc is not None and second.proc is not None:
            if first.proc.poll() is not None or second.proc.poll() is not None:
                break
            if lock.exists():
                pids.add(lock.read_text().strip())
            time.sleep(0.0005)
        refused, winner = (first, second) if first.proc and first.proc.poll() is not None else (second, first)
        assert refused.wait_exit() == 3
        assert refused.proc is not None
        assert refused.proc.stderr is not None
        err = refused.proc.stderr.read().strip()
        assert "another bot is already running" in err, err
        assert len(err.splitlines()) == 1, err
        winner.wait_ready()
        pids.add(lock.read_text().strip())
        assert pids <= {str(winner.pid), ""}, f"bot.lock named {pids}, the running bot is {winner.pid}"
        assert lock.read_text().strip() == str(winner.pid)
        assert eventually(lambda: winner.status()["pid"] == winner.pid)
        # the refused pid as a number of its own: it may also be digits inside a price
        assert not re.search(rf"(?<![\d.]){refused.pid}(?![\d.])", status.read_text())
        conn = sqlite3.connect(f"file:{tmp_path / 'state' / 'bot.db'}?mode=ro", uri=True)
        try:
            sessions = conn.execute("SELECT pid FROM sessions").fetchall()
        finally:
            conn.close()
        assert sessions == [(winner.pid,)]
    finally:
        first.stop()
        second.stop()
