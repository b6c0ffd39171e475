"""Wall time of the operator commands as a person runs them: a fresh `bot` process each time.

- `bot flatten` against a running bot, until it has printed the acknowledgement and exited
  (interpreter start, typer, the file, the bot's answer in status.json);
- `bot stop` until the bot has acknowledged EMERGENCY_STOP and exited (a new bot each trial);
- `bot status` (exit 1: the bot has stopped), `bot sessions`, `bot pnl --by strategy` and
  `bot trades --limit 0 --json` on the home the trials left behind;
- `bot pause` (create the file, no waiting) as the floor: a fresh interpreter and typer.
  What `bot flatten` and `bot stop` add to it is the wait for the bot's answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, machine, percentiles, start_bot

TRIALS = int(os.environ.get("TRIALS", "20"))
CONFIG = "heartbeat_s = 60.0\nspeed = 40\n[market]\nwindow_s = 30\n"


def timed(*args: str, expect: int = 0) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env)
    elapsed = (time.perf_counter() - t0) * 1000
    if out.returncode != expect:
        raise SystemExit(f"bot {' '.join(args)} exited {out.returncode}: {out.stderr or out.stdout}")
    return elapsed


def main() -> None:
    flatten_ms, stop_ms, pause_ms = [], [], []
    home, proc = start_bot(CONFIG)
    try:
        for _ in range(TRIALS):
            flatten_ms.append(timed("flatten", "--home", str(home)))
            pause_ms.append(timed("pause", "--home", str(home)))
            timed("resume", "--home", str(home))
    finally:
        proc.terminate()
        proc.wait(10)
    for _ in range(TRIALS):
        home, proc = start_bot(CONFIG)
        try:
            stop_ms.append(timed("stop", "--home", str(home)))
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
    status_ms = [timed("status", "--home", str(home), expect=1) for _ in range(TRIALS)]  # stopped: exit 1
    queries = {"status_ms": percentiles(status_ms)}
    queries |= {
        name: percentiles([timed(*args, "--home", str(home)) for _ in range(TRIALS)])
        for name, args in (
            ("sessions_ms", ("sessions",)),
            ("pnl_by_strategy_ms", ("pnl", "--by", "strategy")),
            ("trades_all_json_ms", ("trades", "--limit", "0", "--json")),
        )
    }
    result = {
        "benchmark": "operator_commands",
        "trials": TRIALS,
        "pause_floor_ms": percentiles(pause_ms),
        "flatten_acknowledged_ms": percentiles(flatten_ms),
        "stop_acknowledged_and_exited_ms": percentiles(stop_ms),
        **queries,
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
