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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Step, control_trials, latency_result, read

TRIALS = int(os.environ.get("TRIALS", "100"))
CONFIG = "heartbeat_s = 60.0\n\n[risk]\nmax_position_usd = 5\n\n[caps]\nmax_position_usd = 8\n"


def steps(home: Path, i: int) -> list[Step]:
    controls = home / "controls"
    rejected = controls / "ADJUST_RISK.rejected"
    trading = home / "state" / "trading_state.json"
    value = 2 + i % 2  # 2, 3, 2, ...: each trial changes the limit

    def rename_in(text: str, first: Callable[[], object] = lambda: None) -> Callable[[], float]:
        def act() -> float:
            first()
            tmp = controls / ".adjust.tmp"
            tmp.write_text(text)
            t0 = time.perf_counter()
            os.rename(tmp, controls / "ADJUST_RISK")
            return t0

        return act

    def shown() -> bool:
        limits = (read(trading).get("controls") or {}).get("effective_limits") or {}
        return bool(limits.get("max_position_usd") == value)

    return [
        Step(
            "over_cap_to_rejected_ms",
            rename_in('{"max_position_usd": 1000}', lambda: rejected.unlink(missing_ok=True)),
            rejected.exists,
        ),
        Step("within_cap_to_applied_ms", rename_in(f'{{"max_position_usd": {value}}}'), shown),
    ]


def main() -> None:
    times = control_trials(CONFIG, TRIALS, steps)
    print(json.dumps(latency_result("adjust_latency", TRIALS, times, "over_cap_to_rejected_ms"), indent=2))


if __name__ == "__main__":
    main()
