"""Research path figures (issue 13): what pricing by the underlying, the audit and the
baselines cost, and what parsing the data once saves a sweep. Prints JSON; medians of RUNS
(default 3) runs, each in a fresh output folder, in this process, one core.

Data: tests/research_data.py (rows per token, both tokens, one book every 2 s, 5-minute
windows; WINDOWS windows, default 400 = 120,000 rows, 60,000 book ticks) and its 1-second
underlying series.

    .venv/bin/python bench/research.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.backtest import open_source, run_backtest  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.feeds.underlying import PricingStats, priced  # noqa: E402
from bot.sweep import parse_sweep, run_sweep  # noqa: E402
from tests.research_data import write_research_data  # noqa: E402

RUNS = int(os.environ.get("RUNS", "3"))
WINDOWS = int(os.environ.get("WINDOWS", "400"))


def median_time(fn: object, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="touchtrader-research-"))
    books, _ = write_research_data(tmp, windows=WINDOWS)
    bare = tmp / "bare"
    bare.mkdir()
    (bare / "books.csv").write_bytes(books.read_bytes())
    # canary ignores the forecast: with and without the underlying it makes the same trades,
    # so the difference is the cost of pricing every tick
    config = load_config(None, {"strategies.enabled": ["canary"]})
    edge = load_config(None, {"strategies.enabled": ["edge"]})
    n = [0]

    def out() -> Path:
        n[0] += 1
        return tmp / f"out-{n[0]}"

    source = open_source(books)
    events = source.total or 0
    ticks = sum(1 for e in source.events if type(e).__name__ == "BookTick")
    load_s = median_time(lambda: open_source(books))
    series = source.series
    assert series is not None

    def price_all() -> None:
        for _ in priced(source.events, series, PricingStats()):
            pass

    pricing = median_time(price_all)
    plain = median_time(lambda: run_backtest(bare / "books.csv", config, out()))
    with_series = median_time(lambda: run_backtest(books, config, out()))
    edge_s = median_time(lambda: run_backtest(books, edge, out()))
    with_baselines = median_time(lambda: run_backtest(books, edge, out(), baselines=True), runs=1)
    grid = parse_sweep(["risk.max_position_usd=2,5", "strategies.params.edge.min_edge=0.03,0.05"])
    sweep_s = median_time(
        lambda: run_sweep(
            books, None, {"strategies.enabled": ["edge"]}, grid, out(), workers=1, executor="serial"
        ),
        runs=1,
    )
    print(
        json.dumps(
            {
                "rows": 2 * ticks,
                "events": events,
                "book_ticks": ticks,
                "runs": RUNS,
                "underlying_prices": len(series.ts),
                "load_data_and_series_s_median": round(load_s, 3),
                "pricing_only_s_median": round(pricing, 3),
                "pricing_only_events_per_s": round(events / pricing),
                "backtest_without_underlying_s_median": round(plain, 3),
                "backtest_with_underlying_s_median": round(with_series, 3),
                "events_per_s_without_underlying": round(events / plain),
                "events_per_s_with_underlying": round(events / with_series),
                "pricing_overhead_pct": round(100 * (with_series - plain) / plain, 1),
                "edge_with_underlying_s_median": round(edge_s, 3),
                "edge_with_3_baselines_s": round(with_baselines, 3),
                "sweep_4_runs_serial_s": round(sweep_s, 3),
                "sweep_per_run_s": round(sweep_s / 4, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
