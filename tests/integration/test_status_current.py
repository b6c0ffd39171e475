"""status.json is written with trading_state.json: with a heartbeat of a minute, a fill shows
in both files at once, with the same balance, positions and write time; the names every file
uses and the epoch seconds beside the times agree across the files; jq reads them."""

from __future__ import annotations

import math
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support import FAST_CONFIG, BotProcess, eventually, read_json

SLOW_HEARTBEAT = FAST_CONFIG.replace("heartbeat_s = 0.5", "heartbeat_s = 60.0")


def _both(bot: BotProcess) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """status.json and trading_state.json of one write (the same last_updated), with a position."""
    status, trading = bot.status(), bot.trading_state()
    if status["last_updated"] != trading["last_updated"] or not trading["active_positions"]:
        return None
    return status, trading


def test_a_fill_shows_in_status_json_without_waiting_for_the_heartbeat(tmp_path: Path) -> None:
    assert SLOW_HEARTBEAT != FAST_CONFIG
    bot = BotProcess(tmp_path, SLOW_HEARTBEAT).start()
    try:
        first = bot.wait_ready()
        assert first["heartbeat_s"] == 60.0
        status, trading = eventually(lambda: _both(bot), timeout=30)
        assert status["account"]["balance"] == trading["balance"]["usdc"]
        assert status["account"]["open_positions"] == len(trading["active_positions"])
        for row, copy in zip(trading["active_positions"], status["active_positions"], strict=True):
            # the first names and the names every file uses, with the same values
            assert copy["symbol"] == copy["market_id"] == row["market_id"]
            assert copy["quantity"] == copy["shares"] == row["shares"]
            assert copy["entry"] == copy["entry_price"] == row["entry_price"]
            assert copy["stop"] == copy["stop_price"] == row["stop_price"]
            assert copy["target"] == copy["target_price"] == row["target_price"]
            assert copy["unrealized_pnl"] == row["pnl"]
            assert copy["market_name"] == row["market_name"]
            assert row["entry_time"] == row["entry_date"]
        assert status["timestamp"] == status["last_updated"]
        assert (
            status["timestamp_epoch_s"] == status["last_updated_epoch_s"] == trading["last_updated_epoch_s"]
        )
        assert first["timestamp_epoch_s"] + 60 > status["timestamp_epoch_s"], "written before the heartbeat"
        assert trading["trading_state_reason"] is None
        assert status["reason"] is None
        today = eventually(lambda: (t := read_json(tmp_path / "state" / "trades_today.json"))["trades"] and t)
        for trade in today["trades"]:
            assert trade["market_name"] == trade["market"]
            assert trade["entry_time_epoch_s"] == _epoch(trade["entry_time"])
        _jq_reads_the_times(tmp_path / "state")
    finally:
        bot.stop()


def _epoch(iso: str) -> float:
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp(), 3)


def _jq_reads_the_times(state: Path) -> None:
    """What state/README.md tells an agent to run: fromdate after dropping the milliseconds
    gives the whole seconds of the `_epoch_s` field beside the time."""
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    for name in ("status.json", "trading_state.json", "trades_today.json"):
        program = '[(.last_updated | sub("\\\\.[0-9]+Z$"; "Z") | fromdate), .last_updated_epoch_s]'
        out = subprocess.run(
            [jq, "-c", program, str(state / name)], capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0, out.stderr
        whole, epoch = (float(x) for x in out.stdout.strip().strip("[]").split(","))
        assert whole == math.floor(epoch), (name, out.stdout)
