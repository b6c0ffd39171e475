"""Issue 4 figures: order round trip against the local CLOB server, and `bot status` start time.

- round trip: `OrderManager.execute(signal, LIVE)` (every risk gate, signing with
  py-clob-client-v2, POST /order over HTTP to the local server on 127.0.0.1, parsing, the
  journal rows) until the order is acknowledged; 50 orders, each resting then cancelled;
- `bot status`: a fresh `python -m bot status` process, 20 runs, with py-clob-client-v2
  installed; it must not import the client (target under 150 ms).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine
from bot.clock import SimulatedClock
from bot.config import load_config
from bot.journal import Journal, Restored
from bot.layout import Paths
from bot.model import ONE, Action, BookTick, Outcome, Signal, WindowOpened, now_ms
from bot.strategies import build_strategies
from bot.testing.clob_server import ClobServer
from bot.venues.polymarket import PolymarketCredentials, PolymarketVenue
from bot.wiring import build_engine

KEY = "0x" + "11" * 32
CONDITION = "0x" + "ab" * 32


class NoFeed:
    def peek_ms(self) -> None:
        return None

    def next_batch(self) -> list:  # type: ignore[type-arg]
        return []


def round_trip(n: int = 50) -> list[float]:
    server = ClobServer().start()
    server.add_market(CONDITION, ("111", "222"), question="bench")
    server.set_book("111", bids=[(0.45, 1000)], asks=[(0.47, 1000)])
    home = Path(tempfile.mkdtemp(prefix="touchtrader-bench-"))
    paths = Paths(home)
    for folder in (paths.state, paths.controls, paths.logs):
        folder.mkdir(parents=True)
    venue = PolymarketVenue(server.url, credentials=PolymarketCredentials(KEY, *server.creds))
    [market] = venue.validate_markets([CONDITION])
    config = load_config(
        None, {"mode": "live", "risk.max_open_orders": 1000, "risk.max_orders_per_window": 1000}
    )
    start = now_ms()
    engine = build_engine(
        config=config,
        paths=paths,
        journal=Journal(home / "state" / "bot.db"),
        venue=venue,
        feed=NoFeed(),
        clock=SimulatedClock(start),
        strategies=build_strategies(("edge",), {}),
        restored=Restored.empty(),
        start_ms=start,
        wallet=venue.address,
        operator_controls=False,
    )
    engine.step(WindowOpened(start, market))
    engine.step(BookTick(start, market.market_id, 450_000, 1000 * ONE, 470_000, 1000 * ONE))
    times = []
    for i in range(n):
        signal = Signal(start + i, "edge", market.market_id, Outcome.UP, Action.BUY, 450_000, size=5 * ONE)
        t = time.perf_counter()
        result = engine.orders.execute(signal, engine.mode)
        times.append((time.perf_counter() - t) * 1000)
        assert result.executed, result.reason
        engine.orders.cancel([result.order.order_id], engine.mode, start + i, "bench")  # type: ignore[union-attr]
        engine.commit()
    server.stop()
    return times


def status_start(runs: int = 20) -> tuple[list[float], bool]:
    home = Path(tempfile.mkdtemp(prefix="touchtrader-bench-"))
    (home / "state").mkdir()
    cmd = [sys.executable, "-m", "bot", "status", "--home", str(home)]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True)
        times.append((time.perf_counter() - t) * 1000)
    probe = (
        "import sys; from typer.testing import CliRunner; from bot.cli import app;"
        f" CliRunner().invoke(app, ['status', '--home', {str(home)!r}]);"
        " print(any(m.startswith(('py_clob_client_v2', 'eth_account', 'bot.engine', 'bot.venues'))"
        " for m in sys.modules))"
    )
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
    return times, imported == "True"


def main() -> None:
    trips = round_trip()
    starts, imports_heavy = status_start()
    python_alone = []
    for _ in range(10):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True)
        python_alone.append((time.perf_counter() - t) * 1000)
    result = {
        "benchmark": "live_roundtrip",
        "order_round_trip_ms": {
            "n": len(trips),
            "p50": round(statistics.median(trips), 2),
            "p90": round(sorted(trips)[int(0.9 * len(trips))], 2),
            "max": round(max(trips), 2),
        },
        "bot_status_start_ms": {
            "n": len(starts),
            "p50": round(statistics.median(starts), 1),
            "max": round(max(starts), 1),
        },
        "python_startup_alone_ms": round(statistics.median(python_alone), 1),
        "bot_status_imports_client_or_engine": imports_heavy,
        "target_status_ms": 150,
        "meets_target": statistics.median(starts) < 150 and not imports_heavy,
        "machine": machine(),
        "cpu_load_note": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
