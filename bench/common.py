"""Shared helpers: start the bot as a real subprocess in a temporary home and poll its files."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def start_bot(config: str) -> tuple[Path, subprocess.Popen[bytes]]:
    home = Path(tempfile.mkdtemp(prefix="touchtrader-bench-"))
    (home / "bot.toml").write_text(config)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--home", str(home), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    wait_for(lambda: read(home / "state" / "status.json").get("pid") == proc.pid, 30, proc)
    return home, proc


def read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return {}


def wait_for(check: Any, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"bot exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.001)
    raise SystemExit(f"timed out after {timeout}s")


def wait_state(status: Path, wanted: str, timeout: float = 2.0) -> float:
    """perf_counter() when status.json first shows `trading_state == wanted`, read every 0.2 ms."""
    return until(
        lambda: read(status).get("trading_state") == wanted, timeout, f"status.json showing {wanted}"
    )


def until(check: Callable[[], object], timeout: float, what: str) -> float:
    """perf_counter() when `check()` first holds, asked every 0.2 ms."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if check():
            return time.perf_counter()
        time.sleep(0.0002)
    raise SystemExit(f"no {what} within {timeout}s")


@dataclass(frozen=True)
class Step:
    """One timed step of a trial: the clock starts just before `act()` (or when `act()` says
    it started, when it returns a perf_counter() time), and stops when `done()` holds."""

    name: str
    act: Callable[[], float | None]
    done: Callable[[], object]
    timeout: float = 5.0


def control_trials(
    config: str, trials: int, steps: Callable[[Path, int], list[Step]]
) -> dict[str, list[float]]:
    """Start the bot on `config` in a new home, run `trials` trials of `steps(home, i)` one
    after the other, stop the bot; each step's times in ms, by name."""
    home, proc = start_bot(config)
    times: dict[str, list[float]] = {}
    try:
        for i in range(trials):
            for step in steps(home, i):
                t0 = time.perf_counter()
                t0 = step.act() or t0
                times.setdefault(step.name, []).append(
                    (until(step.done, step.timeout, step.name) - t0) * 1000
                )
    finally:
        proc.terminate()
        proc.wait(10)
    return times


def latency_result(benchmark: str, trials: int, times: dict[str, list[float]], gated: str) -> dict[str, Any]:
    """The figures: percentiles per step, and the issue's target (p50 <= 10 ms, p99 <= 50 ms)
    for the step named `gated`."""
    stats = {name: percentiles(samples) for name, samples in times.items()}
    return {
        "benchmark": benchmark,
        "trials": trials,
        **stats,
        "target": {"p50_ms": 10, "p99_ms": 50},
        "meets_target": stats[gated]["p50"] <= 10 and stats[gated]["p99"] <= 50,
        "machine": machine(),
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p90": pick(0.90),
        "p99": pick(0.99),
        "max": round(ordered[-1], 3),
    }


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
