"""kill -9 at random moments: state files always parse, restarts resume the journal's state."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from tests.support import BotProcess, activity, eventually, read_json


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


def test_sigkill_many_times_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(1)
    bot = BotProcess(tmp_path).start()
    bot.wait_ready()
    reader = Reader(tmp_path / "state")
    reader.start()
    kills = 0
    try:
        for _ in range(8):
            time.sleep(rng.uniform(0.1, 0.7))  # a random moment to pull the plug
            bot.kill()
            kills += 1
            before = journal_snapshot(tmp_path)
            starts = sum(1 for a in activity(tmp_path) if a["type"] == "BOT_STARTED")
            bot = BotProcess(tmp_path).start()
            bot.wait_ready()
            started = eventually(lambda n=starts: nth_start(tmp_path, n))
            assert started["restored"] == before, f"restart {kills} came back different"
        bot.stop()
    finally:
        reader.running = False
        reader.join()
        bot.stop()
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
