"""Time from a file's creation in inbox/ (the rename of a whole file) to the bot's answer
in inbox/done/, for forecasts and for order intents, against a real `bot run` in PAPER.

Target (issue 14): acknowledged within p50 <= 10 ms and p99 <= 50 ms. The client writes
each file under a temporary name, renames it into inbox/ and polls every 0.2 ms for
done/NAME.accepted.json, the way a fast agent would; the next file goes in once the answer
is there. Every order intent is accepted and placed (a resting buy at 0.01), so the time
includes the risk gates, the paper venue, the journal commit and the answer.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine, percentiles, start_bot

TRIALS = int(os.environ.get("TRIALS", "200"))
CONFIG = """
heartbeat_s = 60.0

[market]
window_s = 3600

[paper]
starting_balance = 100000

[risk]
max_position_usd = 1000
max_market_exposure_usd = 1000
max_total_exposure_usd = 1000
max_open_orders = 10000
max_orders_per_window = 10000

[strategies]
enabled = ["forecast"]

[strategies.params.forecast]
min_edge = 0.99
"""


def submit(
    inbox: Path, name: str, item: dict[str, Any], timeout: float = 5.0
) -> tuple[float, dict[str, Any]]:
    """Milliseconds from the rename into inbox/ to the answer seen, and the answer."""
    tmp = inbox / f".{name}.tmp"
    tmp.write_bytes(json.dumps(item).encode())
    done = inbox / "done"
    answers = (done / f"{name}.accepted.json", done / f"{name}.rejected.json")
    t0 = time.perf_counter()
    os.rename(tmp, inbox / f"{name}.json")
    while time.perf_counter() - t0 < timeout:
        for path in answers:
            try:
                data = json.loads(path.read_bytes())
            except (FileNotFoundError, ValueError):
                continue
            return (time.perf_counter() - t0) * 1000, data
        time.sleep(0.0002)
    raise SystemExit(f"no answer to inbox/{name}.json within {timeout}s")


def main() -> None:
    home, proc = start_bot(CONFIG)
    inbox = home / "inbox"
    forecast_ms: list[float] = []
    order_ms: list[float] = []
    refused: list[str] = []
    try:
        for i in range(TRIALS):
            until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
            item = {
                "kind": "forecast",
                "market": "BTC",
                "probability": 0.5,
                "valid_until": until,
                "source": "bench",
            }
            ms, answer = submit(inbox, f"f{i}", item)
            forecast_ms.append(ms)
            if answer["result"] != "accepted":
                refused.append(answer["reason"])
            item = {"kind": "order", "market": "ETH", "outcome": "UP", "shares": 5, "limit_price": 0.01}
            ms, answer = submit(inbox, f"o{i}", {**item, "source": "bench"})
            order_ms.append(ms)
            if answer["result"] != "accepted":
                refused.append(answer["reason"])
    finally:
        proc.terminate()
        proc.wait(10)
    forecasts, orders = percentiles(forecast_ms), percentiles(order_ms)
    result = {
        "benchmark": "inbox_latency",
        "trials": TRIALS,
        "forecast_to_answer_ms": forecasts,
        "order_to_answer_ms": orders,
        "not_accepted": refused[:5],
        "target": {"p50_ms": 10, "p99_ms": 50},
        "meets_target": all(s["p50"] <= 10 and s["p99"] <= 50 for s in (forecasts, orders)) and not refused,
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
