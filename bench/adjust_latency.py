"""Time from an ADJUST_RISK file appearing in controls/ to the bot's acknowledgement in its files.

Two kinds of trial, alternating:
- refused: a value over the owner's cap; acknowledged when `controls/ADJUST_RISK.rejected`
  exists (the bot writes it with the reason, then removes ADJUST_RISK);
- applied: a value within the cap; acknowledged when `state/trading_state.json` shows it in
  `controls.effective_limits.max_position_usd`.

Each file is written under a hidden name and renamed into place (the documented way), and
the clock starts just before the rename. The reader polls every 0.2 ms. Before the fix, a
refusal waited out the half-second grace given to files that may be half written.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine, percentiles, read, start_bot

TRIALS = int(os.environ.get("TRIALS", "100"))
CONFIG = "heartbeat_s = 60.0\n\n[risk]\nmax_position_usd = 5\n\n[caps]\nmax_position_usd = 8\n"


def _rename_in(controls: Path, text: str) -> float:
    tmp = controls / ".adjust.tmp"
    tmp.write_text(text)
    t0 = time.perf_counter()
    os.rename(tmp, controls / "ADJUST_RISK")
    return t0


def _until(check: object, timeout: float = 5.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if check():  # type: ignore[operator]
            return time.perf_counter()
        time.sleep(0.0002)
    raise SystemExit(f"no acknowledgement within {timeout}s ({check})")


def main() -> None:
    home, proc = start_bot(CONFIG)
    controls = home / "controls"
    rejected = controls / "ADJUST_RISK.rejected"
    trading = home / "state" / "trading_state.json"
    refused_ms: list[float] = []
    applied_ms: list[float] = []
    try:
        for i in range(TRIALS):
            rejected.unlink(missing_ok=True)
            t0 = _rename_in(controls, '{"max_position_usd": 1000}')
            refused_ms.append((_until(rejected.exists) - t0) * 1000)
            value = 2 + i % 2  # 2, 3, 2, ...: each trial changes the limit

            def shown(v: int = value) -> bool:
                limits = (read(trading).get("controls") or {}).get("effective_limits") or {}
                return bool(limits.get("max_position_usd") == v)

            t0 = _rename_in(controls, f'{{"max_position_usd": {value}}}')
            applied_ms.append((_until(shown) - t0) * 1000)
    finally:
        proc.terminate()
        proc.wait(10)
    refused = percentiles(refused_ms)
    result = {
        "benchmark": "adjust_latency",
        "trials": TRIALS,
        "over_cap_to_rejected_ms": refused,
        "within_cap_to_applied_ms": percentiles(applied_ms),
        "target": {"p50_ms": 10, "p99_ms": 50},
        "meets_target": refused["p50"] <= 10 and refused["p99"] <= 50,
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
