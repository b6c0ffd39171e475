"""Cost of the risk envelope on the hot path, with 100 open positions.

- per signal: every pre-trade gate (`OrderManager.check`: trading state, control files on
  disk, exposure sums over open orders and positions, the risk gates); target < 20 µs;
- per tick: the exit decision for the market's positions (peak update + `exits.decide`);
- per changing step: the runtime invariants (`breaker.check`) over 100 positions.

In-process, real objects, a real SQLite journal in memory. Prints JSON.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine
from bot import breaker, exits
from bot.clock import SimulatedClock
from bot.config import load_config
from bot.journal import Journal, Restored
from bot.layout import Paths
from bot.model import ONE, Action, BookTick, Market, Outcome, Signal, WindowOpened, book_for
from bot.strategies import build_strategies
from bot.venues.paper import PaperVenue
from bot.wiring import build_engine

T0 = 1_800_000_000_000
N_MARKETS = 50  # x 2 tokens = 100 positions


class NoFeed:
    def peek_ms(self) -> None:
        return None

    def next_batch(self) -> list:  # type: ignore[type-arg]
        return []


def build() -> tuple:  # type: ignore[type-arg]
    home = Path(tempfile.mkdtemp(prefix="touchtrader-bench-"))
    paths = Paths(home)
    for folder in (paths.state, paths.controls, paths.logs):
        folder.mkdir(parents=True)
    config = load_config(
        None,
        {
            "risk.max_total_exposure_usd": 100_000.0,
            "risk.max_open_orders": 1000,
            "market.instruments": [f"I{i}" for i in range(N_MARKETS)],
            "market.start_prices": [100.0] * N_MARKETS,
        },
    )
    journal = Journal(":memory:")
    venue = PaperVenue(cash=10_000 * ONE)
    engine = build_engine(
        config=config,
        paths=paths,
        journal=journal,
        venue=venue,
        feed=NoFeed(),
        clock=SimulatedClock(T0),
        strategies=build_strategies(("canary", "edge"), {}),
        restored=Restored.empty(),
        start_ms=T0,
        wallet="BENCH",
    )
    engine.portfolio.deposit(10_000 * ONE, T0, "bench")
    markets = []
    for i in range(N_MARKETS):
        m = Market(f"M{i}", f"I{i}", f"market {i}", T0, T0 + 3_600_000, 100.0)
        markets.append(m)
        engine.step(WindowOpened(T0, m))
        engine.step(BookTick(T0 + 1, m.market_id, 480_000, 500 * ONE, 500_000, 500 * ONE))
        for outcome in (Outcome.UP, Outcome.DOWN):
            price = book_for(engine.portfolio.marks[m.market_id], outcome)[2]
            sig = Signal(T0 + 2, "edge", m.market_id, outcome, Action.BUY, price, size=5 * ONE)
            engine.orders.execute(sig, engine.mode)
    engine.end_step()
    return engine, markets


def per_call_us(fn, number: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    runs = [timeit.timeit(fn, number=number) / number * 1e6 for _ in range(7)]
    return {"median_us": round(statistics.median(runs), 3), "min_us": round(min(runs), 3)}


def main() -> None:
    engine, markets = build()
    assert len(engine.portfolio.positions) == 2 * N_MARKETS, len(engine.portfolio.positions)
    market = markets[7]
    signal = Signal(T0 + 10, "edge", market.market_id, Outcome.UP, Action.BUY, 500_000)
    venue = engine.venue

    def risk_check() -> None:
        engine.orders.check(signal, venue)

    tick = BookTick(T0 + 10, market.market_id, 470_000, 100 * ONE, 490_000, 100 * ONE)

    def exit_check() -> None:
        for outcome in (Outcome.UP, Outcome.DOWN):
            p = engine.portfolio.positions[(market.market_id, outcome)]
            bid = book_for(tick, outcome)[0]
            if bid > p.peak:
                p.peak = bid
            exits.decide(p, bid, tick.ts_ms, market.window_end_ms, engine.portfolio.policy_for(p.strategy))

    orders, portfolio = engine.orders, engine.portfolio
    cap = engine.risk.max_exposure

    def invariants() -> None:
        breaker.check(orders, portfolio, venue, engine.last_event_ms, cap)
        breaker.check_state_files(engine.files, engine.heartbeat_s)

    t = time.perf_counter()
    deep = breaker.check_journal(engine.journal, portfolio)
    deep_ms = (time.perf_counter() - t) * 1000
    assert deep == "", deep
    signal_cost = per_call_us(risk_check, 5000)
    result = {
        "benchmark": "risk_checks",
        "open_positions": len(engine.portfolio.positions),
        "per_signal_pre_trade_gates": signal_cost,
        "per_tick_exit_decision": per_call_us(exit_check, 20000),
        "per_changing_step_invariants": per_call_us(invariants, 2000),
        "heartbeat_deep_invariants_ms": round(deep_ms, 3),
        "target_per_signal_us": 20,
        "meets_target": signal_cost["median_us"] < 20,
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
