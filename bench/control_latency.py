"""Time from `touch controls/PAUSE` to state/status.json showing PAUSED (and back on rm).

Target (issue 2): p50 <= 10 ms and p99 <= 50 ms over at least 200 trials on 2 cores.
The reader polls status.json every 0.2 ms, the way a fast operator script would.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Step, control_trials, latency_result, read

TRIALS = int(os.environ.get("TRIALS", "200"))
CONFIG = "heartbeat_s = 60.0\n"


def steps(home: Path, _: int) -> list[Step]:
    status = home / "state" / "status.json"
    pause = home / "controls" / "PAUSE"

    def state(wanted: str) -> Callable[[], bool]:
        return lambda: read(status).get("trading_state") == wanted

    return [
        Step("pause_to_status_ms", pause.touch, state("PAUSED"), 2.0),
        Step("resume_to_status_ms", pause.unlink, state("ACTIVE"), 2.0),
    ]


def main() -> None:
    times = control_trials(CONFIG, TRIALS, steps)
    print(json.dumps(latency_result("control_latency", TRIALS, times, "pause_to_status_ms"), indent=2))


if __name__ == "__main__":
    main()
