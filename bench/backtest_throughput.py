"""Backtest throughput (issue 5): events per second through the full path, peak memory, a
backtrader comparison on the same data, and the cost of one state-file write.

1. A tape of >= 1,000,000 market events from the simulated market (default settings: 3
   instruments, 1 s ticks, 5-minute windows, seed 7, fixed start time), generated once and
   cached under bench/out/ (git-ignored).
2. `run_backtest` on that tape with the default strategies (canary, edge) and default risk,
   in a fresh output folder, RUNS times (default 3), each in its own process pinned to one
   CPU; peak memory is that process's `ru_maxrss`.
3. backtrader on the same book ticks: each instrument's UP-token series (mid as open/close,
   ask as high, bid as low, the forecast as an extra line) from CSV files written once from
   the tape, and a strategy analogous to `edge`; `stdstats=False`. BT_RUNS runs (default 1).
   The ratio compares it with step 2 run with `edge` alone (RUNS runs), the same rule.
4. `engine.write_state()` with 1,000 open positions and 1,000 open orders: as it runs after a
   fill (the other markets' books unchanged since the last write), and after a new book in
   every market (every position's mark and P&L recomputed); then its parts: the projections,
   the serialisation and one atomic file replacement. Median over STATE_RUNS (default 100).

Events (bars) per second are given per second of wall time and per second of the child's
own CPU time (`cpu_events_per_s`): the machines are shared, and the CPU figure is what a core
of its own would give. Targets: issue 13's, 200,000 events/s and 10x backtrader.

Everything heavy runs in child processes (this file re-invoked with a sub-command), so the
parent stays small and each child's `ru_maxrss` is its own. Prints JSON.

    .venv/bin/python bench/backtest_throughput.py                    # the benchmark
    TOP=25 .venv/bin/python bench/backtest_throughput.py profile [EVENTS]   # cProfile, ~200k events
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

from bench.common import machine, percentiles  # noqa: E402

OUT = ROOT / "bench" / "out" / "backtest_throughput"
EVENTS = int(os.environ.get("EVENTS", "1000000"))
RUNS = int(os.environ.get("RUNS", "3"))
BT_RUNS = int(os.environ.get("BT_RUNS", "1"))
STATE_RUNS = int(os.environ.get("STATE_RUNS", "100"))
SEED = 7
T0_MS = 1_800_000_000_000  # 2027-01-15T08:00:00Z: on a 5-minute boundary, so windows align

TARGET_EVENTS_PER_S = 200_000  # issue 13 (issue 5 asked 100,000)
TARGET_PEAK_MB = 150
TARGET_RATIO = 10.0  # issue 13 (issue 5 asked 5)
TARGET_STATE_WRITE_MS = 5.0

# the backtrader strategy, analogous to `edge` with its defaults
BT_EDGE = 0.05  # min_edge
BT_MIN_LEFT_S = 20  # min_seconds_left
BT_HOLD_BARS = 60  # hold N bars (1 bar = 1 s), or to the window's last bar
BT_SIZE = 5  # shares: the market's minimum size, what `edge` buys with the default risk
BT_WINDOW_BARS = 300  # 5-minute windows of 1 s bars; the tape starts on a window boundary


# ---------------------------------------------------------------------------
# helpers shared by the children


def _pin_one_cpu() -> int | None:
    """Run on one core: the last CPU this process may use."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _peak_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _config(overrides: dict[str, Any] | None = None) -> Any:
    from bot.config import load_config

    return load_config(None, {"market.seed": SEED, **(overrides or {})})


def tape_path(events: int) -> Path:
    from bot.feeds.simulated import fingerprint

    return OUT / f"tape-{fingerprint(_config().market)}-{T0_MS}-{events}.jsonl.gz"


# ---------------------------------------------------------------------------
# children: each prints one JSON object on stdout


def child_generate(events: int) -> dict[str, Any]:
    """Write the simulated market's events to a tape until `events` (whole batches)."""
    from bot.feeds.simulated import SimulatedMarket
    from bot.feeds.tape import TapeWriter
    from bot.model import BookTick

    path = tape_path(events)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    market = _config().market
    sim = SimulatedMarket(market, T0_MS)
    count = books = 0
    started = time.perf_counter()
    with TapeWriter(tmp, source="bench/backtest_throughput", flush_interval_s=3600, flush_every=50_000) as w:
        while count < events:
            for event in sim.next_batch():
                w.write(event)
                count += 1
                books += type(event) is BookTick
    os.replace(tmp, path)
    return {
        "instruments": len(market.instruments),
        "seed": market.seed,
        "events": count,
        "book_events": books,
        "market_days": round((sim.peek_ms() - T0_MS) / 86_400_000, 2),
        "generate_s": round(time.perf_counter() - started, 2),
    }


def child_csv(tape: Path, folder: Path) -> dict[str, Any]:
    """One CSV per instrument from the tape's book ticks, for backtrader's GenericCSVData."""
    from bot.feeds.tape import read_tape
    from bot.model import ONE, BookTick, WindowOpened

    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    instrument: dict[str, str] = {}
    rows: dict[str, list[str]] = {}
    for event in read_tape(tape):
        if type(event) is WindowOpened:
            instrument[event.market.market_id] = event.market.instrument
        elif type(event) is BookTick:
            mid = (event.bid + event.ask) / 2 / ONE
            rows.setdefault(instrument[event.market_id], []).append(
                f"{event.ts_ms // 1000},{mid!r},{event.ask / ONE!r},{event.bid / ONE!r},{mid!r},"
                f"{event.ask_size / ONE!r},{(event.fair_forecast or 0) / ONE!r}\n"
            )
    for name, lines in rows.items():
        with open(tmp / f"{name}.csv", "w") as fh:
            fh.write("datetime,open,high,low,close,volume,forecast\n")
            fh.writelines(lines)
    os.replace(tmp, folder)
    return {name: len(lines) for name, lines in rows.items()}


def child_ours(tape: Path, out: Path, overrides: str = "{}") -> dict[str, Any]:
    cpu = _pin_one_cpu()
    from bot.backtest import run_backtest

    config = _config(json.loads(overrides))
    baseline = _peak_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = run_backtest(tape, config, out)
    wall, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "events": result.events,
        "events_per_s": round(result.events_per_s),
        # per second of this process's own CPU time: what a shared core's other work leaves out
        "cpu_events_per_s": round(result.events / cpu_s),
        "engine_s": round(result.seconds, 2),
        "wall_s": round(wall, 2),
        "wall_events_per_s": round(result.events / wall),
        "trades": result.summary["trades"],
        "net_pnl": result.summary["net_pnl"],
        "peak_rss_mb": _peak_mb(),
        "rss_after_imports_mb": baseline,
        "cpu": cpu,
    }


def child_backtrader(folder: Path) -> dict[str, Any]:
    cpu = _pin_one_cpu()
    import backtrader as bt

    class TapeCSV(bt.feeds.GenericCSVData):
        lines = ("forecast",)
        params = (
            ("dtformat", 1),  # Unix seconds: no strptime
            ("timeframe", bt.TimeFrame.Seconds),
            ("compression", 1),
            ("datetime", 0),
            ("time", -1),
            ("open", 1),
            ("high", 2),
            ("low", 3),
            ("close", 4),
            ("volume", 5),
            ("openinterest", -1),
            ("forecast", 6),
        )

    class EdgeLike(bt.Strategy):
        """Per instrument, once per 5-minute window and not in its last 20 s: buy UP when
        forecast − ask >= 0.05, sell UP short (≈ buy DOWN) when bid − forecast >= 0.05;
        close after BT_HOLD_BARS bars or on the window's last bar."""

        def __init__(self) -> None:
            self.entered = [0] * len(self.datas)  # bar number of the entry
            self.window = [-1] * len(self.datas)  # window of the last entry
            self.closed_trades = 0

        def notify_trade(self, trade: Any) -> None:
            if trade.isclosed:
                self.closed_trades += 1

        def next(self) -> None:
            for i, d in enumerate(self.datas):
                bar = len(d)
                window, in_window = divmod(bar - 1, BT_WINDOW_BARS)
                if self.getposition(d).size:
                    if bar - self.entered[i] >= BT_HOLD_BARS or in_window == BT_WINDOW_BARS - 1:
                        self.close(d)
                    continue
                if window == self.window[i] or in_window >= BT_WINDOW_BARS - BT_MIN_LEFT_S:
                    continue
                fair = d.forecast[0]
                if fair - d.high[0] >= BT_EDGE:
                    self.buy(d, size=BT_SIZE)
                elif d.low[0] - fair >= BT_EDGE:
                    self.sell(d, size=BT_SIZE)
                else:
                    continue
                self.entered[i], self.window[i] = bar, window

    files = sorted(folder.glob("*.csv"))
    baseline = _peak_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    cerebro = bt.Cerebro(stdstats=False)
    for f in files:
        cerebro.adddata(TapeCSV(dataname=str(f)), name=f.stem)
    cerebro.addstrategy(EdgeLike)
    cerebro.broker.setcash(100.0)
    (strategy,) = cerebro.run()
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    bars = sum(len(d) for d in strategy.datas)
    return {
        "bars": bars,
        "bars_per_s": round(bars / seconds),
        "cpu_bars_per_s": round(bars / cpu_s),
        "seconds": round(seconds, 2),
        "trades": strategy.closed_trades,
        "peak_rss_mb": _peak_mb(),
        "rss_after_imports_mb": baseline,
        "cpu": cpu,
        "version": bt.__version__,
    }


def build_state_engine(home: Path, n_markets: int = 500) -> Any:
    """An engine in `home` with 2 positions and 2 resting entry bids in each of `n_markets`."""
    from bot.clock import SimulatedClock
    from bot.journal import Journal, Restored
    from bot.layout import Paths
    from bot.model import ONE, Action, BookTick, Intent, Market, Order, OrderType, Outcome, Position
    from bot.strategies import build_strategies
    from bot.venues.paper import PaperVenue
    from bot.wiring import build_engine

    class NoFeed:
        def peek_ms(self) -> None:
            return None

        def next_batch(self) -> list[Any]:
            return []

    paths = Paths(home)
    for folder in (paths.state, paths.controls, paths.logs):
        folder.mkdir(parents=True)
    engine = build_engine(
        config=_config({"heartbeat_s": 3600.0}),
        paths=paths,
        journal=Journal(":memory:"),
        venue=PaperVenue(cash=10_000 * ONE),
        feed=NoFeed(),
        clock=SimulatedClock(T0_MS),
        strategies=build_strategies(("canary", "edge"), {}),
        restored=Restored(cash=0, open_orders=[], positions=[], markets=[], clock_ms=None),
        start_ms=T0_MS,
        wallet="0x1234567890abcdef1234567890abcdef12345678",
    )
    engine.portfolio.deposit(10_000 * ONE, T0_MS, "bench")
    for i in range(n_markets):
        start = T0_MS + (i % 12) * 300_000
        m = Market(f"I{i}-UPDOWN-5M-{i:04d}Z", f"I{i}", f"I{i} up or down", start, start + 300_000, 100.0)
        engine.markets[m.market_id] = m
        engine.market_names[m.market_id] = m.name
        engine.portfolio.marks[m.market_id] = BookTick(
            T0_MS, m.market_id, 480_000, 50 * ONE, 500_000, 50 * ONE
        )
        for k, outcome in enumerate((Outcome.UP, Outcome.DOWN)):
            engine.portfolio.positions[(m.market_id, outcome)] = Position(
                market_id=m.market_id,
                outcome=outcome,
                shares=5 * ONE,
                cost=2_500_000,
                bought=5 * ONE,
                bought_cost=2_500_000,
                opened_ms=T0_MS,
                entry_edge=60_000,
                strategy="edge",
                position_id=2 * i + k + 1,
                state="MONITORING",
                stop_price=450_000,
                target_price=650_000,
                peak=520_000,
            )
            order_id = f"B{2 * i + k:06d}"
            engine.orders.orders[order_id] = Order(
                order_id=order_id,
                market_id=m.market_id,
                outcome=outcome,
                action=Action.BUY,
                price=300_000,
                size=5 * ONE,
                order_type=OrderType.GTD,
                intent=Intent.ENTRY,
                created_ms=T0_MS,
                expires_ms=T0_MS + 30_000,
                strategy="edge",
                edge=55_000,
                reason="fair 0.355 vs ask 0.30",
            )
    return engine


def child_state(runs: int) -> dict[str, Any]:
    """write_state() with 1,000 positions and 1,000 orders, on the repository's disk."""
    cpu = None  # not pinned: the engine thread and the state-file writer thread, as in a bot
    import orjson

    from bot import state, statefiles

    OUT.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="state-", dir=OUT))
    try:
        engine = build_state_engine(home)
        folder = engine.paths.state
        engine.write_state(heartbeat=True)  # warm-up; status.json is not due again for an hour
        engine.files.flush()
        projection = state.trading_state(engine.snapshot(for_status=False))
        sizes = {name: (folder / name).stat().st_size for name in ("trading_state.json", "trades_today.json")}

        def timed(fn: Any, before: Any = None) -> dict[str, float]:
            samples = []
            for _ in range(runs):
                if before is not None:
                    before()
                t = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - t) * 1000)
            return percentiles(samples)

        from bot.model import BookTick

        moves = [0]

        def move_every_market() -> None:
            """A new book in every market: each position's mark and P&L must be recomputed."""
            moves[0] += 1
            bid = 480_000 + 10_000 * (moves[0] % 2)
            marks = engine.portfolio.marks
            for market_id, tick in marks.items():
                marks[market_id] = BookTick(
                    T0_MS + moves[0], market_id, bid, tick.bid_size, bid + 20_000, tick.ask_size
                )

        option = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
        target = folder / "trading_state.json"

        def snap() -> Any:
            return engine.snapshot(for_status=False)

        result = {
            "open_positions": len(engine.portfolio.positions),
            "open_orders": len(engine.orders.orders),
            # each sample starts with the writer thread idle, as after any pause between writes
            "write_state_ms": timed(engine.write_state, engine.files.flush),
            "write_state_every_market_moved_ms": timed(
                engine.write_state, lambda: (engine.files.flush(), move_every_market())
            ),
            "write_state_until_on_disk_ms": timed(lambda: (engine.write_state(), engine.files.flush())),
            # the snapshot the engine takes, then the projection
            "trading_state_projection_ms": timed(lambda: state.trading_state(snap())),
            "trades_today_projection_ms": timed(lambda: state.trades_today(snap())),
            "trading_state_dumps_ms": timed(lambda: orjson.dumps(projection, option=option)),
            "one_atomic_write_ms": timed(lambda: statefiles.write_json(target, projection)),
            "file_bytes": sizes,
            "cpu": cpu,
        }
        engine.files.close()
        engine.activity.close()
        engine.journal.close()
        return result
    finally:
        shutil.rmtree(home, ignore_errors=True)


def child_profile(events: int) -> None:
    """cProfile one backtest; top 25 by cumulative and by own time, to stdout."""
    import cProfile
    import pstats

    from bot.backtest import run_backtest

    tape = tape_path(events)
    if not tape.exists():
        child_generate(events)
    out = OUT / f"profile-{os.getpid()}"
    shutil.rmtree(out, ignore_errors=True)
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        result = run_backtest(tape, _config(), out)
        profiler.disable()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"{result.events:,} events, {result.events_per_s:,.0f} events/s under cProfile")
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    stats.sort_stats("cumulative").print_stats(int(os.environ.get("TOP", "25")))
    stats.sort_stats("tottime").print_stats(int(os.environ.get("TOP", "25")))


# ---------------------------------------------------------------------------
# the parent: small, imports nothing heavy


def _child(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    tape = Path(_child("tape-path", str(EVENTS))["path"])
    tape_info_file = tape.with_name(tape.name + ".info.json")
    cached = tape.exists() and tape_info_file.exists()
    if cached:
        tape_info = json.loads(tape_info_file.read_text())
    else:
        tape_info = _child("generate", str(EVENTS))
        tape_info_file.write_text(json.dumps(tape_info))
    has_bt = importlib.util.find_spec("backtrader") is not None
    csv_folder = tape.with_name(tape.name.removesuffix(".jsonl.gz") + "-csv")
    if has_bt and not csv_folder.exists():
        _child("csv", str(tape), str(csv_folder))

    ours = []
    for i in range(RUNS):
        out = OUT / f"run-{os.getpid()}-{i}"
        shutil.rmtree(out, ignore_errors=True)
        try:
            ours.append(_child("ours", str(tape), str(out)))
        finally:
            shutil.rmtree(out, ignore_errors=True)
    # the strategy backtrader runs is edge's rule alone: so is this run, for the ratio
    ours_edge = []
    for i in range(RUNS if has_bt else 0):
        out = OUT / f"run-{os.getpid()}-edge-{i}"
        shutil.rmtree(out, ignore_errors=True)
        try:
            ours_edge.append(
                _child("ours", str(tape), str(out), json.dumps({"strategies.enabled": ["edge"]}))
            )
        finally:
            shutil.rmtree(out, ignore_errors=True)
    theirs = [_child("backtrader", str(csv_folder)) for _ in range(BT_RUNS if has_bt else 0)]
    state_write = _child("state", str(STATE_RUNS))

    ours_eps = statistics.median(r["events_per_s"] for r in ours)
    edge_eps = statistics.median(r["events_per_s"] for r in ours_edge) if ours_edge else None
    ours_wall_eps = statistics.median(r["wall_events_per_s"] for r in ours)
    bt_bps = statistics.median(r["bars_per_s"] for r in theirs) if theirs else None
    ours_cpu = statistics.median(r["cpu_events_per_s"] for r in ours)
    edge_cpu = statistics.median(r["cpu_events_per_s"] for r in ours_edge) if ours_edge else None
    bt_cpu = statistics.median(r["cpu_bars_per_s"] for r in theirs) if theirs else None
    peak = max(r["peak_rss_mb"] for r in ours)
    write_ms = state_write["write_state_ms"]["p50"]
    result = {
        "benchmark": "backtest_throughput",
        "tape": {
            "file": str(tape.relative_to(ROOT)),
            "bytes": tape.stat().st_size,
            "cached": cached,
            **tape_info,
        },
        "ours": {
            "runs": ours,
            "median_events_per_s": round(ours_eps),
            "median_cpu_events_per_s": round(ours_cpu),
            "median_wall_events_per_s": round(ours_wall_eps),
            "trades": ours[0]["trades"],
            "peak_rss_mb": peak,
            "target_events_per_s": TARGET_EVENTS_PER_S,
            "meets_throughput_target": ours_eps >= TARGET_EVENTS_PER_S,
            "target_peak_rss_mb": TARGET_PEAK_MB,
            "meets_memory_target": peak <= TARGET_PEAK_MB,
        },
        "backtrader": {
            "runs": theirs,
            "median_bars_per_s": round(bt_bps),
            "median_cpu_bars_per_s": round(bt_cpu) if bt_cpu else None,
            "strategy": f"edge-like: min edge {BT_EDGE}, hold {BT_HOLD_BARS} bars, size {BT_SIZE}",
        }
        if bt_bps
        else {"skipped": "backtrader is not installed: .venv/bin/pip install -e '.[bench]'"},
        "ours_edge_only": {
            "runs": ours_edge,
            "median_events_per_s": round(edge_eps) if edge_eps else None,
            "median_cpu_events_per_s": round(edge_cpu) if edge_cpu else None,
            "strategy": "edge alone, the rule the backtrader strategy implements",
        },
        "ratio_ours_over_backtrader": round(edge_eps / bt_bps, 2) if bt_bps and edge_eps else None,
        "ratio_default_strategies_over_backtrader": round(ours_eps / bt_bps, 2) if bt_bps else None,
        "cpu_ratio_ours_over_backtrader": round(edge_cpu / bt_cpu, 2) if bt_cpu and edge_cpu else None,
        "target_ratio": TARGET_RATIO,
        "meets_ratio_target": edge_eps / bt_bps >= TARGET_RATIO if bt_bps and edge_eps else None,
        "state_write": {
            **state_write,
            "target_ms": TARGET_STATE_WRITE_MS,
            "meets_target": write_ms <= TARGET_STATE_WRITE_MS,
        },
        "total_s": round(time.perf_counter() - started, 1),
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


def _dispatch(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "profile":
        OUT.mkdir(parents=True, exist_ok=True)
        child_profile(int(args[0]) if args else 200_000)
        return
    if command == "tape-path":
        result: Any = {"path": str(tape_path(int(args[0])))}
    elif command == "generate":
        result = child_generate(int(args[0]))
    elif command == "csv":
        result = child_csv(Path(args[0]), Path(args[1]))
    elif command == "ours":
        result = child_ours(Path(args[0]), Path(args[1]), *args[2:])
    elif command == "backtrader":
        result = child_backtrader(Path(args[0]))
    elif command == "state":
        result = child_state(int(args[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        _dispatch(sys.argv[1:])
    else:
        main()
