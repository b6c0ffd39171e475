"""kill -9 at random moments: state files always parse, restarts resume the journal's state."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.support import FAST_CONFIG, BotProcess, activity, eventually, read_json


def journal_snapshot(home: Path) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{home / 'state' / 'bot.db'}?mode=ro", uri=True)
    try:
        cash = conn.execute("SELECT SUM(amount_micros) FROM cash WHERE mode='PAPER'").fetchone()[0]
        positions = sorted(
            [m, o, s / 1e6]
            for m, o, s in conn.execute(
                "SELECT market_id, outcome, shares_micros FROM positions WHERE status='OPEN'"
            )
        )
        orders = sorted(
            r[0]
            for r in conn.execute(
                "SELECT order_id FROM orders WHERE status IN ('OPEN','PARTIALLY_FILLED','UNKNOWN')"
            )
        )
    finally:
        conn.close()
    return {"balance": cash / 1e6, "positions": positions, "open_orders": orders}


def nth_start(home: Path, n: int) -> dict[str, Any] | None:
    starts = [a for a in activity(home) if a["type"] == "BOT_STARTED"]
    return starts[n] if len(starts) > n else None


class Reader(threading.Thread):
    """Parses the three state files as fast as it can, counting failures."""

    def __init__(self, state: Path) -> None:
        super().__init__(daemon=True)
        self.state = state
        self.reads = 0
        self.failures: list[str] = []
        self.running = True

    def run(self) -> None:
        while self.running:
            for name in ("status.json", "trading_state.json", "trades_today.json"):
                try:
                    json.loads((self.state / name).read_bytes())
                    self.reads += 1
                except FileNotFoundError:
                    pass
                except ValueError as exc:
                    self.failures.append(f"{name}: {exc}")
            time.sleep(0.001)  # leave the cores to the bot


ZYGOTE = r"""
import contextlib, io, os, sys
import bot.app, bot.cli, bot.config  # imported once: each fork starts without paying for it
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    bot.cli.app(["run", "--help"], standalone_mode=False)  # typer's own imports, too
for line in sys.stdin:
    cmd, arg = line.split(maxsplit=1)
    arg = arg.strip()
    if cmd == "run":
        pid = os.fork()
        if pid == 0:
            fd = os.open(arg + "/child.err", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.argv = ["bot", "run", "--home", arg, "--quiet"]
            code = 0
            try:
                bot.cli.main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        print(pid, flush=True)
    elif cmd == "wait":
        _, status = os.waitpid(int(arg), 0)
        print(status, flush=True)
"""


class Zygote:
    """`bot run` in forks of one process that has already imported the bot: a start costs
    the bot's own start-up (lock, journal, restore), not the interpreter's, so a hundred
    kill -9 fit in a test. Each child is a real process killed with a real SIGKILL."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def _ask(self, line: str) -> int:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def start(self, home: Path) -> int:
        return self._ask(f"run {home}")

    def kill(self, pid: int) -> int:
        """SIGKILL the child; its wait status once it is gone."""
        os.kill(pid, signal.SIGKILL)
        return self._ask(f"wait {pid}")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


KILLS = 100
# no session limit may stop the entries in a hundred restarts' worth of trading
CRASH_CONFIG = (
    FAST_CONFIG
    + """
[risk]
max_consecutive_losses = 100000
daily_loss_limit_usd = 100000.0
"""
)


def test_sigkill_many_times_loses_nothing(tmp_path: Path) -> None:
    """A hundred kill -9: a third during start-up (0-30 ms after the process begins), a third
    as soon as the files show a position or an order, a third at a random moment while it
    trades. Every restart comes back with exactly what the journal held, no state file is
    ever torn, and no start-up leaves a traceback."""
    rng = random.Random(1)
    (tmp_path / "bot.toml").write_text(CRASH_CONFIG)
    zygote = Zygote()
    reader = Reader(tmp_path / "state")
    reader.start()
    during_startup = 0
    busy = 0  # restarts that had positions or resting orders to bring back
    try:
        for kill in range(KILLS):
            before = journal_snapshot(tmp_path) if (tmp_path / "state" / "bot.db").exists() else None
            starts = sum(1 for a in activity(tmp_path) if a["type"] == "BOT_STARTED")
            pid = zygote.start(tmp_path)
            if kill % 3 == 0:
                time.sleep(rng.uniform(0, 0.03))  # somewhere in the start-up
            else:
                eventually(
                    lambda pid=pid: (
                        (s := read_json(tmp_path / "state" / "status.json"))["pid"] == pid and s["is_alive"]
                    ),
                    timeout=30,
                )
                if kill % 3 == 1:  # the moment it holds something (files show only what is committed)
                    eventually(
                        lambda: (
                            (s := read_json(tmp_path / "state" / "trading_state.json"))
                            and (s["active_positions"] or s["open_orders"])
                        ),
                        timeout=30,
                    )
                else:
                    time.sleep(rng.uniform(0, 0.1))  # a random moment to pull the plug
            status = zygote.kill(pid)
            assert os.WIFSIGNALED(status), (
                f"start {kill} ended by itself: {(tmp_path / 'child.err').read_text()}"
            )
            assert os.WTERMSIG(status) == signal.SIGKILL, (
                f"start {kill} ended by itself: {(tmp_path / 'child.err').read_text()}"
            )
            started = nth_start(tmp_path, starts)
            if started is None:
                during_startup += 1
            elif before is not None:
                assert started["restored"] == before, f"restart {kill} came back different"
                busy += bool(before["positions"] or before["open_orders"])
        before = journal_snapshot(tmp_path)
        starts = sum(1 for a in activity(tmp_path) if a["type"] == "BOT_STARTED")
        bot = BotProcess(tmp_path, CRASH_CONFIG).start()  # a real `bot run`, stopped cleanly
        try:
            bot.wait_ready()
            started = eventually(lambda: nth_start(tmp_path, starts))
            assert started["restored"] == before
        finally:
            bot.stop()
    finally:
        reader.running = False
        reader.join()
        zygote.close()
    assert during_startup >= 10, f"only {during_startup} kills landed in a start-up"
    assert busy >= 20, f"only {busy} restarts had positions or orders to bring back"
    assert "Traceback" not in (tmp_path / "child.err").read_text()
    assert reader.reads > 100
    assert reader.failures == []
    # after a clean stop the files, the journal and the ledger agree to the micro
    final = journal_snapshot(tmp_path)
    state = read_json(tmp_path / "state" / "trading_state.json")
    assert state["balance"]["usdc"] == final["balance"]
    assert (
        sorted([p["market_id"], p["side"], p["shares"]] for p in state["active_positions"])
        == final["positions"]
    )
    conn = sqlite3.connect(tmp_path / "state" / "bot.db")
    fills = conn.execute("SELECT COUNT(*), COUNT(DISTINCT fill_id) FROM fills").fetchone()
    assert fills[0] == fills[1]
    for market_id, outcome, shares, status in conn.execute(
        "SELECT market_id, outcome, shares_micros, status FROM positions"
    ):
        bought, sold = conn.execute(
            "SELECT COALESCE(SUM(CASE WHEN action='BUY' THEN shares_micros END), 0),"
            " COALESCE(SUM(CASE WHEN action='SELL' THEN shares_micros END), 0)"
            " FROM fills WHERE market_id=? AND outcome=?",
            (market_id, outcome),
        ).fetchone()
        if status == "OPEN":
            assert shares == bought - sold
    conn.close()
