"""Figures: exact money, and `bot status` and scripts/check_bot.sh print the same text."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.figures import micros_of, num, pct, usd

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_bot.sh"
needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")


def test_usd_is_exact_with_at_least_two_decimals() -> None:
    assert usd(12_300_000) == "$12.30"
    assert usd(4_996_100) == "$4.9961"
    assert usd(-250_000) == "-$0.25"
    assert usd(1) == "$0.000001"
    assert usd(0) == "$0.00"
    assert usd(1_500_000, sign=True) == "+$1.50"
    assert usd(123_456_789_012_345) == "$123456789.012345"


def test_num_and_pct() -> None:
    assert [num(m) for m in (530_000, 12_500_000, 5_000_000, 10_000_000, 0, -70_000)] == [
        "0.53",
        "12.5",
        "5",
        "10",
        "0",
        "-0.07",
    ]
    assert (pct(2, 3), pct(1, 2), pct(0, 0), pct(1, 8)) == ("66.7%", "50.0%", "n/a", "12.5%")
    assert pct(1, 16) == "6.3%"  # 6.25 rounds half up, in integers


def _jq_defs() -> str:
    match = re.search(r"^defs='(.*?)^'", SCRIPT.read_text(), re.S | re.M)
    assert match, "check_bot.sh defines its figures in defs='...'"
    return match.group(1)


@needs_jq
def test_jq_and_python_print_the_same_figures() -> None:
    rng = random.Random(7)
    micros = [0, 1, -1, 9, 10_000, -250_000, 999_999, 1_000_000, 4_996_100, 12_300_000, 10**14 + 7]
    micros += [rng.randrange(-(10**12), 10**12) for _ in range(300)]
    micros += [rng.randrange(-(10**8), 10**8) // 10_000 * 10_000 for _ in range(100)]
    values = [m / 1_000_000 for m in micros]  # as the bot writes them: the exact decimal
    assert [micros_of(v) for v in values] == micros
    program = _jq_defs() + " .[] | [(. | usd), (. | num)] | @tsv"
    out = subprocess.run(
        ["jq", "-r", program], input=json.dumps(values), capture_output=True, text=True, check=True
    )
    got = [tuple(line.split("\t")) for line in out.stdout.splitlines()]
    assert got == [(usd(m), num(m)) for m in micros]
    pairs = [(w, n) for n in range(1, 40) for w in range(n + 1)]
    program = _jq_defs() + " .[] | pct(.[0]; .[1])"
    out = subprocess.run(
        ["jq", "-r", program], input=json.dumps(pairs), capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == [pct(w, n) for w, n in pairs]


def _home(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    status = {
        "is_alive": False,
        "pid": 999999,
        "reason": "test",
        "mode": "PAPER",
        "trading_state": "STOPPED",
        "timestamp": "2026-11-22T03:05:24.000Z",
        "market_time": "2026-11-22T03:05:24.000Z",
        "account": {"balance": 100.0, "daily_pnl": -0.000125, "open_positions": 1, "daily_trades": 3},
        "risk": {"can_trade": False, "reason": "stopped", "consecutive_losses": 0, "emergency_stop": False},
        "errors": [],
    }
    trading = {
        "stats": {
            "total_open_orders": 1,
            "total_locked_in_orders": 2.65,
            "available_balance": 97.35,
            "total_capital_deployed": 4.9961,
            "total_active_positions": 1,
        },
        "active_positions": [
            {
                "market_name": "BTC up or down",
                "side": "UP",
                "shares": 12.5,
                "entry_price": 0.4,
                "current_price": 0.53,
                "pnl": 1.6239,
                "pnl_percent": 32.5,
            }
        ],
        "controls": {"in_effect": ["PAUSE", "HALTED"], "last": None},
    }
    today = {"summary": {"total_trades": 3, "open_trades": 1, "closed_trades": 3, "wins": 2, "total_pnl": 10}}
    for name, data in (("status", status), ("trading_state", trading), ("trades_today", today)):
        (state / f"{name}.json").write_text(json.dumps(data))
    return tmp_path


@needs_jq
def test_status_and_check_bot_agree_and_print_no_python_reprs(tmp_path: Path) -> None:
    home = _home(tmp_path)
    ours = subprocess.run(
        [sys.executable, "-m", "bot", "status", "--home", str(home)], capture_output=True, text=True
    ).stdout
    theirs = subprocess.run([str(SCRIPT), str(home)], capture_output=True, text=True).stdout
    figures = re.findall(r"-?\$[0-9.]+|[0-9.]+%|n/a", ours)
    assert {"$100.00", "-$0.000125", "$2.65", "$97.35", "$1.6239", "$10.00", "66.7%"} <= set(figures)
    for figure in figures:
        assert figure in theirs, (figure, theirs)
    assert "12.5 @ 0.4" in theirs
    assert "12.5 @ 0.4" in ours.replace("  ", " ").replace("  ", " ")
    assert "in effect PAUSE, HALTED" in ours
    assert not re.search(r"\[|\{|\bNone\b|\bTrue\b|\bFalse\b", ours), ours


@needs_jq
def test_no_reason_is_null_and_check_bot_prints_none(tmp_path: Path) -> None:
    """schema_version 2: no reason is null, which jq's `if` and `//` treat as absent."""
    home = _home(tmp_path)
    status_file = home / "state" / "status.json"
    status = json.loads(status_file.read_text())
    status.update(reason=None, trading_state="ACTIVE")
    status_file.write_text(json.dumps(status))
    theirs = subprocess.run([str(SCRIPT), str(home)], capture_output=True, text=True).stdout
    assert "state ACTIVE\n" in theirs, theirs
    assert "stopped: no reason recorded" in theirs, theirs
