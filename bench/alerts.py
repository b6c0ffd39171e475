"""What [alerts] costs the control path: median `touch controls/PAUSE` -> status.json PAUSED
with alerts off, and with every control posted (events = ["CONTROL"]) to a receiver that
answers at once, one where nothing listens (refused), and one that never answers (hung).

The alerts leave the engine's thread through a bounded queue, so a dead or slow receiver
should move the PAUSE acknowledgement by nothing more than the noise. TRIALS (default 100).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine, percentiles, read, start_bot, wait_state
from bot.testing.webhook_server import WebhookServer, dead_url

TRIALS = int(os.environ.get("TRIALS", "100"))
BASE = "heartbeat_s = 60.0\n"
ALERTS = '[alerts]\nevents = ["CONTROL"]\ntimeout_s = 30.0\nbackoff_s = 0.1\njson.url_env = "TT_BENCH_HOOK"\n'


def trial_run(config: str) -> dict[str, object]:
    home, proc = start_bot(config)
    status = home / "state" / "status.json"
    pause = home / "controls" / "PAUSE"
    pause_ms: list[float] = []
    try:
        for _ in range(TRIALS):
            t0 = time.perf_counter()
            pause.touch()
            pause_ms.append((wait_state(status, "PAUSED") - t0) * 1000)
            pause.unlink()
            wait_state(status, "ACTIVE")
        alerts = read(status).get("alerts")
    finally:
        proc.terminate()
        proc.wait(30)
    return {"pause_to_status_ms": percentiles(pause_ms), "alerts": alerts}


def main() -> None:
    results: dict[str, object] = {"off": trial_run(BASE)}
    with WebhookServer() as hooks:
        for name, url in (("answering", hooks.url("/json")), ("refused", dead_url("/json"))):
            os.environ["TT_BENCH_HOOK"] = url
            results[name] = trial_run(BASE + ALERTS)
        hooks.hang.set()
        os.environ["TT_BENCH_HOOK"] = hooks.url("/json")
        results["hung"] = trial_run(BASE + ALERTS)
    medians = {k: v["pause_to_status_ms"]["p50"] for k, v in results.items()}  # type: ignore[index]
    print(
        json.dumps(
            {
                "benchmark": "alerts_control_latency",
                "trials": TRIALS,
                "median_pause_ms": medians,
                "runs": results,
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
