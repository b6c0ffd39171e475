"""The files real runs write, checked against the shipped JSON Schemas (bot/schemas/*.json).

Every snapshot read while the bot runs is validated, until the files have shown
positions, open and closed trades, a signal, an applied control and (DRY_RUN, LIVE) open
orders, feed health and the reconciliation report; a field written but
not in a schema fails here (the schemas are closed: additionalProperties false)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import bot
from tests.integration.test_live_e2e import live_bot
from tests.schema_check import assert_valid
from tests.support import FAST_CONFIG, BotProcess, eventually, read_json
from tests.venue import CONDITION, UP, LiveVenue

FILES = ("status", "trading_state", "trades_today")
# losing streaks must not stop entries before every kind of row has been seen
CONFIG = FAST_CONFIG + (
    "\n[risk]\nmax_open_orders = 7\nmax_consecutive_losses = 1000\ndaily_loss_limit_usd = 90\n"
    "\n[caps]\nmax_position_usd = 8\n"
)


def snapshot(state: Path) -> dict[str, Any]:
    """The three files, each validated against its schema."""
    files = {name: read_json(state / f"{name}.json") for name in FILES}
    for name, data in files.items():
        assert_valid(name, data)
    return files


def test_paper_run_and_its_backtest_write_files_their_schemas_describe(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proc = BotProcess(home, CONFIG).start()
    seen: set[str] = set()
    try:
        proc.wait_ready()
        adjust = {"max_position_usd": 4}
        assert_valid("adjust_risk", adjust)
        # as README.md "For agents" says: a hidden temporary name, then a rename into place
        tmp = home / "controls" / ".adjust.tmp"
        tmp.write_text(json.dumps(adjust))
        tmp.rename(home / "controls" / "ADJUST_RISK")

        def covered() -> bool:
            files = snapshot(home / "state")
            ts, status, today = files["trading_state"], files["status"], files["trades_today"]
            seen.update(
                what
                for what, there in (
                    ("order", ts["open_orders"]),
                    ("position", ts["active_positions"]),
                    ("status position", status["active_positions"]),
                    ("closed", [t for t in today["trades"] if t["status"] == "CLOSED"]),
                    ("open trade", [t for t in today["trades"] if t["status"] == "OPEN"]),
                    ("signal", status["last_signal"]),
                    ("control", ts["controls"]["last"]),
                    ("scorecard", any(c["trades"] for c in ts["strategy_scorecard"].values())),
                )
                if there
            )
            return len(seen - {"order"}) == 7  # paper orders mostly fill at once: DRY_RUN below rests one

        try:
            eventually(covered, timeout=60, interval=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; seen only {sorted(seen)}") from None
        status = eventually(
            lambda: (
                (s := snapshot(home / "state")["status"])["limits"]["max_position_usd"]["source"]
                == "ADJUST_RISK"
                and s
            )
        )
    finally:
        proc.stop()
    final = snapshot(home / "state")
    assert final["status"]["is_alive"] is False
    assert final["status"]["next_update_epoch_s"] is None

    limits = status["limits"]
    assert limits["max_position_usd"] == {
        "value": 4,
        "source": "ADJUST_RISK",
        "cap": 8,
        "cap_source": "bot.toml [caps]",
        "adjustable": True,
    }
    assert limits["max_open_orders"] == {
        "value": 7,
        "source": "bot.toml",
        "cap": 7,
        "cap_source": "bot.toml",
        "adjustable": False,
    }
    assert limits["max_total_exposure_usd"]["value"] == 50
    assert limits["max_total_exposure_usd"]["source"] == ("default")
    assert limits["daily_loss_limit_usd"]["cap"] == 90
    assert limits["daily_loss_limit_usd"]["adjustable"]
    assert limits["max_consecutive_losses"]["value"] == 1000
    assert status["version"] == bot.__version__
    assert 0 < status["uptime_s"] < 120
    assert status["timestamp_epoch_s"] - status["started_epoch_s"] == pytest.approx(
        status["uptime_s"], abs=0.002
    )
    assert {m["instrument"] for m in status["markets"]} == {"BTC", "ETH", "SOL"}
    for m in status["markets"]:
        assert m["window_start"] < m["window_end"]

    shown = subprocess.run(
        [sys.executable, "-m", "bot", "status", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 1  # stopped
    assert f"  run:       touchtrader {bot.__version__} since {final['status']['started_at']}" in shown.stdout
    assert "position $4.00 (cap $8.00, ADJUST_RISK); market $10.00; total $50.00;" in shown.stdout
    assert "open orders 7 (bot.toml); losses in a row 1000 (bot.toml)" in shown.stdout

    # the same session's tape through `bot backtest`: its state files too
    tape = home / "logs" / "tapes" / "session-1.jsonl.gz"
    out = tmp_path / "replay"
    args = ["backtest", str(tape), "--quiet", "--config", str(home / "bot.toml"), "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    replay = snapshot(out / "state")
    assert replay["status"]["mode"] == "BACKTEST"
    assert replay["status"]["is_alive"] is False
    assert [t for t in replay["trades_today"]["trades"] if t["status"] == "CLOSED"]
    assert replay["status"]["limits"]["max_open_orders"]["source"] == "bot.toml"
    # every signal line, the session's and the backtest's: the simulated market's P(UP) comes
    # without the model's inputs, and the line says so
    for logs in (home / "logs", out / "logs"):
        signals = [json.loads(line) for line in (logs / "signals.jsonl").read_text().splitlines()]
        assert signals
        for line in signals:
            assert_valid("signal", line)
        assert all(s["fair_value"] is None and s["fair_value_reason"] for s in signals)


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_documented_jq_reads_the_timestamps(tmp_path: Path) -> None:
    """state/README.md: jq 1.6's fromdate cannot read milliseconds; these expressions can."""
    proc = BotProcess(tmp_path).start()
    try:
        proc.wait_ready()
        path = tmp_path / "state" / "status.json"
        # one version of the file for jq and for Python, once markets are watched
        text = eventually(lambda: (t := path.read_text()) and json.loads(t)["markets"] and t)
    finally:
        proc.stop()
    status = json.loads(text)

    def jq(program: str, *args: str) -> str:
        run = subprocess.run(
            ["jq", "-r", *args, program], input=text, capture_output=True, text=True, timeout=30
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    assert int(jq('.timestamp | sub("\\\\.[0-9]+Z$"; "Z") | fromdate')) == int(status["timestamp_epoch_s"])
    assert int(jq('.market_time | sub("\\\\.[0-9]+Z$"; "Z") | fromdate')) == int(
        status["market_time_epoch_s"]
    )
    age = float(jq("now - .timestamp_epoch_s"))
    assert 0 <= age < time.time() - status["timestamp_epoch_s"] + 5
    left = float(
        jq("[.markets[].window_end_epoch_s] | min - $now", "--argjson", "now", jq(".market_time_epoch_s"))
    )
    soonest = min(m["window_end_epoch_s"] for m in status["markets"])
    assert left == pytest.approx(soonest - status["market_time_epoch_s"], abs=0.001)


def test_dry_run_and_live_files_match_their_schemas(tmp_path: Path, venue: LiveVenue) -> None:
    """DRY_RUN against the local CLOB server: a resting order, then a position, and the feeds;
    then LIVE in the same home: the reconciliation report."""
    dry = tmp_path / "dry"
    dry.mkdir()
    proc = live_bot(dry, venue, "dry-run", at="bid").start()
    try:
        proc.wait_ready(timeout=30)
        files = eventually(lambda: (f := snapshot(dry / "state"))["trading_state"]["open_orders"] and f, 20)
        assert files["trading_state"]["mode"] == "DRY_RUN"
        venue.clob.set_book(UP, bids=[(0.40, 100)], asks=[(0.44, 100)])  # the ask crosses the resting bid
        files = eventually(
            lambda: (f := snapshot(dry / "state"))["trading_state"]["active_positions"] and f, 20
        )
        files = eventually(lambda: (f := snapshot(dry / "state"))["status"]["feeds"] and f)
        assert [m["market_id"] for m in files["status"]["markets"]] == [CONDITION]
    finally:
        proc.stop()
    snapshot(dry / "state")

    live = tmp_path / "live"
    live.mkdir()
    proc = live_bot(live, venue, "live").start()
    try:
        proc.wait_ready(timeout=30)
        report = read_json(live / "state" / "reconciliation.json")
        assert report["status"] == "OK"
        assert_valid("reconciliation", report)
        eventually(lambda: snapshot(live / "state")["trading_state"]["active_positions"], 20)
    finally:
        proc.stop()
    snapshot(live / "state")
