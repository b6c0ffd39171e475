"""Time from `touch controls/PAUSE` to state/status.json showing PAUSED (and back on rm).

Target (issue 2): p50 <= 10 ms and p99 <= 50 ms over at least 200 trials on 2 cores.
The reader polls status.json every 0.2 ms, the way a fast operator script would.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine, percentiles, start_bot, wait_state

TRIALS = int(os.environ.get("TRIALS", "200"))
CONFIG = "heartbeat_s = 60.0\n"


def main() -> None:
    home, proc = start_bot(CONFIG)
    status = home / "state" / "status.json"
    pause = home / "controls" / "PAUSE"
    pause_ms: list[float] = []
    resume_ms: list[float] = []
    try:
        for _ in range(TRIALS):
            t0 = time.perf_counter()
            pause.touch()
            pause_ms.append((wait_state(status, "PAUSED") - t0) * 1000)
            t0 = time.perf_counter()
            pause.unlink()
            resume_ms.append((wait_state(status, "ACTIVE") - t0) * 1000)
    finally:
        proc.terminate()
        proc.wait(10)
    pause_stats = percentiles(pause_ms)
    result = {
        "benchmark": "control_latency",
        "trials": TRIALS,
        "pause_to_status_ms": pause_stats,
        "resume_to_status_ms": percentiles(resume_ms),
        "target": {"p50_ms": 10, "p99_ms": 50},
        "meets_target": pause_stats["p50"] <= 10 and pause_stats["p99"] <= 50,
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
