"""A real-format file from disk to summary (issue 13): the wall time of `bot backtest FILE`
as a person runs it, and its peak memory for files of growing length.

The data: the rows per token of bench/load_formats.py (5-minute BTC windows, both tokens of
each market every second, Polymarket's column names `market`, `asset_id`, `side`, `winner`,
77-digit token ids, unix-ms times), as CSV and as Parquet (when pyarrow is installed),
written once under bench/out/load_formats/ (git-ignored). The columns are mapped with
`--option columns=...`, as a user of such an export does.

1. Wall time: `python -m bot backtest FILE --out DIR --quiet` in a fresh process, from its
   start to its exit (summary.json, trades.csv, the report and the state files written),
   RUNS times per format (default 3), median reported; once as it runs by default (the
   default strategies, then the three baselines on the same data) and once with
   `--skip-baselines` (the backtest alone). The process is not pinned: it is the command a
   person runs.
2. Memory: the peak RSS (`ru_maxrss` of the child, from wait4), wall and CPU time of the
   same command for files of SIZES rows (default 250000,500000,1000000,2000000), CSV and
   Parquet, by default and with `--skip-baselines`, one run each; and for the bot's own tape
   of as many events (the simulated market of bench/backtest_throughput.py, default
   strategies, `--skip-baselines`), which is streamed. Each run also says whether the file
   was streamed (summary.json `data.loading`). `table` is the same as rows of text.

    .venv/bin/python bench/real_file.py                      # RUNS=3 ROWS=1000000
    SIZES=250000,1000000 RUNS=1 .venv/bin/python bench/real_file.py
    TREE=../other-checkout .venv/bin/python bench/real_file.py      # another tree's `bot`, same files
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402
from bench.load_formats import COLUMNS, OUT  # noqa: E402

ROWS = int(os.environ.get("ROWS", "1000000"))
RUNS = int(os.environ.get("RUNS", "3"))
SIZES = [int(s) for s in os.environ.get("SIZES", "250000,500000,1000000,2000000").split(",") if s]
TARGET_S = 10.0
# the source tree whose `bot` runs (its .venv's python), to compare branches: default this one
TREE = Path(os.environ.get("TREE", str(ROOT)))
PYTHON = (
    str(TREE / ".venv" / "bin" / "python") if (TREE / ".venv" / "bin" / "python").exists() else sys.executable
)


def files(rows: int) -> dict[str, Path]:
    """The CSV and Parquet files of `rows` rows, written once, by a child process: on Linux
    a child's `ru_maxrss` starts at its parent's RSS when forked, so the parent stays small."""
    if importlib.util.find_spec("pyarrow") is None:
        raise SystemExit("bench/real_file.py needs pyarrow to write its data: pip install -e '.[data]'")
    command = [sys.executable, __file__, "generate", str(rows)]
    written = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {fmt: Path(path) for fmt, path in json.loads(written).items()}


def tape(events: int) -> Path:
    """The simulated market's tape of `events` events (bench/backtest_throughput.py's), written
    once by a child process."""
    bench = str(ROOT / "bench" / "backtest_throughput.py")
    path = Path(
        json.loads(
            subprocess.run(
                [sys.executable, bench, "tape-path", str(events)], capture_output=True, text=True, check=True
            ).stdout
        )["path"]
    )
    if not path.exists():
        subprocess.run([sys.executable, bench, "generate", str(events)], capture_output=True, check=True)
    return path


def run(path: Path, *extra: str) -> dict[str, Any]:
    """`bot backtest PATH` in a fresh process: wall seconds, peak RSS, what it found."""
    out = Path(tempfile.mkdtemp(prefix="real-", dir=OUT)) / "results"
    log = out.with_name("output.txt")
    command = [PYTHON, "-m", "bot", "backtest", str(path), "--out", str(out), "--quiet"]
    if not path.name.endswith(".jsonl.gz"):
        command += ["--option", f"columns={json.dumps(COLUMNS)}"]
    command += extra
    try:
        with open(log, "wb") as fh:
            started = time.perf_counter()
            proc = subprocess.Popen(command, cwd=TREE, stdout=fh, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{log.read_text()}")
        summary = json.loads((out / "summary.json").read_bytes())
        timing = json.loads((out / "timing.json").read_bytes())
        return {
            "seconds": round(seconds, 2),
            # the child's own CPU time: on a shared machine, the wall time's floor
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
            "events": timing["events"],
            "engine_events_per_s": timing["events_per_s"],
            "trades": summary["trades"],
            "net_pnl": summary["net_pnl"],
            "streamed": summary["data"].get("loading", {}).get("streamed"),
        }
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def wall_times(paths: dict[str, Path]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for fmt, path in paths.items():
        for label, extra in (("default", ()), ("skip_baselines", ("--skip-baselines",))):
            runs = [run(path, *extra) for _ in range(RUNS)]
            median = statistics.median(r["seconds"] for r in runs)
            result[f"{fmt}_{label}"] = {
                "file_mb": round(path.stat().st_size / 1e6, 1),
                "runs": runs,
                "median_s": median,
                "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
                "target_s": TARGET_S,
                "meets_target": median <= TARGET_S,
            }
    return result


def memory(sizes: list[int]) -> dict[str, Any]:
    """Peak RSS, wall and CPU by length: the CSV and Parquet files (streamed when in time
    order and long enough), by default and with `--skip-baselines`, and the bot's own tape
    (streamed) of the same number of rows (events)."""
    result: dict[str, Any] = {}
    for rows in sizes:
        for fmt, path in files(rows).items():
            for label, extra in (("default", ()), ("skip_baselines", ("--skip-baselines",))):
                r = run(path, *extra)
                result.setdefault(f"{fmt}_{label}", []).append({"rows": rows, **r})
        r = run(tape(rows), "--skip-baselines")
        result.setdefault("tape_skip_baselines", []).append({"rows": rows, **r})
    return result


def table(by_rows: dict[str, Any]) -> list[str]:
    """One line per run: what, rows, wall s, CPU s, peak MB, streamed."""
    return [
        f"{what:<22} {r['rows']:>9,} rows {r['seconds']:>7.2f} s wall {r['cpu_s']:>7.2f} s CPU"
        f" {r['peak_rss_mb']:>7.1f} MB streamed={r['streamed']}"
        for what, runs in by_rows.items()
        for r in runs
    ]


def main() -> None:
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    paths = files(ROWS)
    result = {
        "benchmark": "real_file",
        "rows": ROWS,
        "tree": str(TREE),
        "command": "python -m bot backtest FILE --out DIR --quiet --option columns=...",
        "wall": wall_times(paths) if RUNS else {},
        "memory_by_rows": (by_rows := memory(SIZES)),
        "table": table(by_rows),
        "total_s": round(time.perf_counter() - started, 1),
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["generate"]:
        from bench.load_formats import generate

        csv_path, pq_path = generate(int(sys.argv[2]))
        print(json.dumps({"csv": str(csv_path), "parquet": str(pq_path)}))
    else:
        main()
