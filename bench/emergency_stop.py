"""EMERGENCY_STOP with 200 resting orders and 50 positions: time until the process is gone
and status.json holds the final state (is_alive false).

Target (issue 2): within 250 ms on 2 cores. 25 instruments × 2 tokens give 50 positions;
the benchmark strategy (bench/ladder.py) rests 200 bids that never fill.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine, percentiles, read, start_bot, wait_for

RUNS = int(os.environ.get("RUNS", "5"))
NAMES = [f"I{i:02d}" for i in range(25)]
CONFIG = f"""
heartbeat_s = 60.0
speed = 50.0
[market]
instruments = {json.dumps(NAMES)}
start_prices = {json.dumps([100.0] * len(NAMES))}
window_s = 3600
[paper]
starting_balance = 100000.0
[risk]
max_position_usd = 10.0
max_open_orders = 1000
max_total_exposure_usd = 100000.0
max_orders_per_window = 10      # 2 positions and up to 8 resting bids per market
max_consecutive_losses = 1000
daily_loss_limit_usd = 100000.0
[exits]                         # hold the positions: no stop-loss or take-profit exits
stop_loss_pct = 0
take_profit_pct = 0
[strategies]
enabled = ["bench.ladder:Ladder"]
"""


def one_run() -> dict[str, float]:
    home, proc = start_bot(CONFIG)
    state = home / "state"

    def built() -> bool:
        stats = read(state / "trading_state.json").get("stats", {})
        return stats.get("total_open_orders", 0) >= 200 and stats.get("total_active_positions", 0) >= 50

    wait_for(built, 60, proc)
    stats = read(state / "trading_state.json")["stats"]
    t0 = time.perf_counter()
    (home / "controls" / "EMERGENCY_STOP").touch()
    proc.wait(10)
    gone = time.perf_counter()
    final = read(state / "status.json")
    assert final.get("is_alive") is False, final
    after = read(state / "trading_state.json")["stats"]
    return {
        "exit_ms": round((gone - t0) * 1000, 3),
        "open_orders_before": stats["total_open_orders"],
        "positions_before": stats["total_active_positions"],
        "open_orders_after": after["total_open_orders"],
        "positions_after": after["total_active_positions"],
    }


def main() -> None:
    runs = [one_run() for _ in range(RUNS)]
    exit_ms = percentiles([r["exit_ms"] for r in runs])
    print(
        json.dumps(
            {
                "benchmark": "emergency_stop",
                "runs": runs,
                "touch_to_exit_with_final_state_ms": exit_ms,
                "target_ms": 250,
                "meets_target": exit_ms["max"] <= 250,
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
