"""Reading a tape, per event (issue 13): `for e in read_tape(path)` alone (case `read`), and
the whole backtest as bench/backtest_throughput.py's `child_ours` runs it with `edge` alone
(`edge`) or the default strategies (`default`), in CPU time on one core, on the 1M-event
tape of bench/backtest_throughput.py (made by it; EVENTS to pick another of its tapes).

With OTHER set to another source tree (its own .venv), the two trees run alternately,
RUNS pairs (default 3), each run a fresh process pinned to one core, and the medians are
compared; without OTHER, this tree alone:

    OTHER=../main .venv/bin/python bench/tape_read.py     # prints JSON
    CASES="read edge default" .venv/bin/python bench/tape_read.py   # default: read edge
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EVENTS = int(os.environ.get("EVENTS", "1000000"))
RUNS = int(os.environ.get("RUNS", "3"))
CASES = os.environ.get("CASES", "read edge").split()

# run in a tree's interpreter, cwd = the tree: prints the CPU seconds of the work and the events
_CHILD = """
import json, os, sys, tempfile, time
from pathlib import Path
os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
tape, case = Path(sys.argv[1]), sys.argv[2]
if case == "read":
    from bot.feeds.tape import read_tape
    started = time.process_time()
    events = sum(1 for _ in read_tape(tape))
    cpu = time.process_time() - started
else:
    from bot.backtest import run_backtest
    from bot.config import load_config
    strategies = {"strategies.enabled": ["edge"]} if case == "edge" else {}
    config = load_config(None, {"market.seed": 7, **strategies})
    with tempfile.TemporaryDirectory() as out:
        started = time.process_time()
        events = run_backtest(tape, config, Path(out) / "run").events
        cpu = time.process_time() - started
print(json.dumps({"cpu_s": cpu, "events": events}))
"""


def _tape() -> Path:
    from bench.backtest_throughput import tape_path

    path = tape_path(EVENTS)
    if not path.exists():
        sys.exit(
            f"bench/tape_read.py: {path} is missing; EVENTS={EVENTS} bench/backtest_throughput.py makes it"
        )
    return path


def _run(tree: Path, tape: Path, case: str) -> float:
    """ns of CPU per event of one run in `tree`."""
    out = subprocess.run(
        [str(tree / ".venv/bin/python"), "-c", _CHILD, str(tape), case],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return got["cpu_s"] / got["events"] * 1e9


def main() -> None:
    tape = _tape()
    trees = {"this": ROOT}
    if os.environ.get("OTHER"):
        trees["other"] = Path(os.environ["OTHER"]).resolve()
    result: dict[str, object] = {
        "tape": tape.name,
        "runs": RUNS,
        "trees": {k: str(v) for k, v in trees.items()},
    }
    for case in CASES:
        samples: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(RUNS):
            for name in reversed(trees):  # other first, then this: alternately
                samples[name].append(_run(trees[name], tape, case))
        medians = {name: round(statistics.median(s), 1) for name, s in samples.items()}
        entry: dict[str, object] = {
            "ns_per_event_cpu": {name: [round(x, 1) for x in s] for name, s in samples.items()},
            "median_ns": medians,
        }
        if "other" in medians:
            entry["change"] = f"{(medians['this'] / medians['other'] - 1) * 100:+.1f} %"
        result[case] = entry
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
