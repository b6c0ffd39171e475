"""The engine in-process: hours of simulated market through the parts `bot run` wires.

The engine is built by bot.app.build_engine (the wiring `bot run` and backtests share) with
a SimulatedClock and the embedded SimulatedMarket, stopped after N batches. Exact money:
cash reconciles with the journal's ledger and with the positions' P&L; the state files carry
the documented fields; the same seed gives byte-identical orders and fills.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from bot import __version__, state
from bot.app import prepare_home
from bot.clock import SimulatedClock
from bot.config import Config, MarketConfig, RiskConfig
from bot.engine import Engine
from bot.feeds.simulated import SimulatedMarket
from bot.journal import Journal
from bot.model import (
    ONE,
    Action,
    BookTick,
    Market,
    MarketEvent,
    Mode,
    OrderType,
    Outcome,
    Signal,
    TradingState,
    WindowOpened,
    WindowResolved,
    to_float,
    to_micros,
)
from bot.strategies import WindowState, build_strategies
from bot.venues.paper import PaperVenue
from bot.wiring import build_engine

MODE = Mode.PAPER
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOURS = 3
CONFIG = Config(
    market=MarketConfig(
        seed=7,
        window_s=300,
        tick_s=10.0,
        fee_rate=0.02,
        instruments=("BTC", "ETH"),
        start_prices=(97_000.0, 3_100.0),
    ),
    # session limits would stop entries after the first bad hour; keep trading all along
    risk=RiskConfig(daily_loss_limit_usd=1_000.0, max_consecutive_losses=1_000),
    heartbeat_s=3_600.0,  # wall seconds: only the start and the end write status.json
    state_refresh_s=3_600.0,
)
BATCHES = HOURS * 3_600 // 10
FLATTEN_AT = BATCHES // 2


class LimitedFeed:
    """The simulated market, ended after `batches` batches (Engine.run stops at None)."""

    def __init__(self, market: SimulatedMarket, batches: int) -> None:
        self.market = market
        self.left = batches
        self.served = 0
        self.on_batch: Any = None

    def peek_ms(self) -> int | None:
        return self.market.peek_ms() if self.left > 0 else None

    def next_batch(self) -> list[MarketEvent]:
        self.left -= 1
        self.served += 1
        if self.on_batch is not None:
            self.on_batch(self.served)
        return self.market.next_batch()


@dataclass
class Run:
    engine: Engine
    venue: PaperVenue
    journal: Journal
    home: Path
    reason: str
    deposit: int


def run_engine(
    home: Path,
    config: Config = CONFIG,
    flatten_at: int | None = FLATTEN_AT,
    each_batch: Callable[[Engine], None] | None = None,
) -> Run:
    """bot.app._run, minus the wall clock, the file watcher and the signal handlers."""
    paths = prepare_home(home)
    journal = Journal(paths.state / "bot.db")
    restored = journal.restore(MODE)
    feed = LimitedFeed(SimulatedMarket(config.market, START), BATCHES)
    journal.start_session(MODE, __version__, 0, config.to_dict(), START)
    venue = PaperVenue(MODE, id_prefix=f"P{journal.session_id}-")
    engine = build_engine(
        config=config,
        paths=paths,
        journal=journal,
        venue=venue,
        feed=feed,
        clock=SimulatedClock(START),
        strategies=build_strategies(config.strategies.enabled, config.strategies.params),
        restored=restored,
        start_ms=START,
        wallet="0x1234567890abcdef1234567890abcdef12345678",
    )
    deposit = to_micros(round(config.paper.starting_balance, 6))
    engine.portfolio.deposit(deposit, START, "paper starting balance")
    venue.deposit(deposit)
    engine.commit()

    flattened: list[int] = []

    def operator(served: int) -> None:
        # from `flatten_at` on, the first time two positions are open in mid-window: what
        # `touch controls/FLATTEN` does, with the file watcher's wake-up
        mid_window = 60_000 <= feed.market.peek_ms() % 300_000 <= 240_000
        if (
            flatten_at is not None
            and served >= flatten_at
            and not flattened
            and mid_window
            and len(engine.portfolio.positions) >= 2
        ):
            flattened.append(served)
            (paths.controls / "FLATTEN").touch()
            engine.inbox.wake()
        if each_batch is not None:
            each_batch(engine)

    feed.on_batch = operator
    reason = engine.run()
    engine.commit()
    journal.stop_session(engine.clock.now_ms(), reason)
    engine.write_final(reason)
    engine.activity.close()
    return Run(engine, venue, journal, home, reason, deposit)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, Run]]:
    first = run_engine(tmp_path_factory.mktemp("first"))
    second = run_engine(tmp_path_factory.mktemp("second"))
    yield first, second
    first.journal.close()
    second.journal.close()


def rows(journal: Journal, sql: str) -> list[dict[str, Any]]:
    return list(journal.rows(sql))


def test_the_run_trades_fills_exits_and_settles(runs: tuple[Run, Run]) -> None:
    run = runs[0]
    journal = run.journal
    assert run.reason == "end of market data"
    assert run.engine.clock.now_ms() >= START + (BATCHES - 1) * 10_000
    orders = rows(journal, "SELECT * FROM orders")
    fills = rows(journal, "SELECT * FROM fills")
    kinds = {r["kind"] for r in rows(journal, "SELECT DISTINCT kind FROM cash")}
    assert len(orders) >= 20
    assert {o["strategy"] for o in orders} >= {"canary", "edge"}
    assert {f["action"] for f in fills} == {"BUY", "SELL"}  # exits sold something
    assert "TAKER" in {f["liquidity"] for f in fills}
    assert kinds >= {"DEPOSIT", "BUY", "SELL", "FEE", "SETTLEMENT"}
    resolved = rows(journal, "SELECT * FROM markets WHERE winning_outcome IS NOT NULL")
    assert len(resolved) >= HOURS * 12 * 2 - 2  # every window of every instrument resolves
    closed = rows(journal, "SELECT * FROM positions WHERE status='CLOSED'")
    reasons = {p["exit_reason"] for p in closed}
    assert {"WON", "LOST"} <= reasons  # held to resolution
    assert reasons & {"STOP_TRIGGERED", "TP_TRIGGERED"}  # sold on an exit rule
    assert len(closed) >= 10


def test_flatten_was_carried_out_and_trading_resumed(runs: tuple[Run, Run]) -> None:
    run = runs[0]
    controls_rows = rows(run.journal, "SELECT * FROM controls WHERE name='FLATTEN'")
    assert [r["result"] for r in controls_rows] == ["APPLIED"]
    assert "nothing left open" in controls_rows[0]["reason"]
    assert " 0 positions sold" not in controls_rows[0]["reason"]
    flatten_sells = rows(run.journal, "SELECT * FROM orders WHERE intent='EXIT' AND reason='FLATTEN'")
    assert flatten_sells
    assert all(o["order_type"] == "FAK" for o in flatten_sells)
    assert not (run.home / "controls" / "FLATTEN").exists()  # removed once done
    flatten_ms = controls_rows[0]["ts_ms"]
    later = rows(run.journal, f"SELECT * FROM orders WHERE intent='ENTRY' AND created_ms > {flatten_ms}")
    assert later, "entries resumed after the flatten"
    assert run.engine.supervisor.trading_state is TradingState.ACTIVE


def test_cash_reconciles_exactly(runs: tuple[Run, Run]) -> None:
    run = runs[0]
    portfolio, journal = run.engine.portfolio, run.journal
    assert portfolio.cash == run.venue.balance() == journal.cash_balance(MODE)
    deposits = journal.conn.execute("SELECT SUM(amount_micros) FROM cash WHERE kind='DEPOSIT'").fetchone()[0]
    assert deposits == run.deposit
    positions = rows(journal, "SELECT * FROM positions")
    closed = [p for p in positions if p["status"] == "CLOSED"]
    still_open = [p for p in positions if p["status"] == "OPEN"]
    for p in closed:
        assert p["realized_pnl_micros"] == (
            p["sold_value_micros"] - p["bought_cost_micros"] - p["total_fees_micros"]
        ), p
    # an open position's cash effect so far is its realized part less what its shares cost
    expected = (
        deposits
        + sum(p["realized_pnl_micros"] for p in closed)
        + sum(p["realized_pnl_micros"] - p["cost_micros"] - p["fees_micros"] for p in still_open)
    )
    assert portfolio.cash == expected
    # the books in memory agree with the journal
    assert {(p["market_id"], p["outcome"]) for p in still_open} == {
        (m, o.value) for (m, o) in portfolio.positions
    }
    assert not run.engine.supervisor.halted, run.engine.supervisor.halted  # no invariant ever failed
    fees = journal.conn.execute("SELECT SUM(fee_micros) FROM fills").fetchone()[0]
    fee_cash = journal.conn.execute("SELECT SUM(amount_micros) FROM cash WHERE kind='FEE'").fetchone()[0]
    assert fees > 0
    assert fee_cash == -fees
    assert sum(p["total_fees_micros"] for p in positions) == fees


def test_state_files_have_the_documented_fields(runs: tuple[Run, Run]) -> None:
    run = runs[0]
    folder = run.home / "state"
    trading = json.loads((folder / "trading_state.json").read_text())
    status = json.loads((folder / "status.json").read_text())
    today = json.loads((folder / "trades_today.json").read_text())
    assert {
        "schema_version",
        "last_updated",
        "market_time",
        "mode",
        "trading_state",
        "trading_state_reason",
        "balance",
        "open_orders",
        "active_positions",
        "recent_activity",
        "stats",
        "controls",
    } <= set(trading)
    assert set(trading["balance"]) == {"usdc", "wallet"}
    assert trading["balance"]["usdc"] == run.engine.portfolio.cash / ONE
    assert trading["balance"]["wallet"] == "0x1234...5678"
    assert {
        "total_open_orders",
        "total_active_positions",
        "total_capital_deployed",
        "total_locked_in_orders",
        "available_balance",
    } <= set(trading["stats"])
    assert trading["mode"] == "PAPER"
    assert trading["recent_activity"]
    assert {"timestamp", "type", "market", "details"} <= set(trading["recent_activity"][0])
    for position in trading["active_positions"]:
        assert {"market_id", "side", "entry_price", "current_price", "shares", "pnl", "status"} <= set(
            position
        )
    assert {
        "schema_version",
        "timestamp",
        "is_alive",
        "next_update",
        "heartbeat_s",
        "pid",
        "mode",
        "trading_state",
        "reason",
        "market_time",
        "speed",
        "session_id",
        "account",
        "risk",
        "active_positions",
        "last_signal",
        "errors",
    } <= set(status)
    assert status["is_alive"] is False
    assert status["next_update"] is None
    assert status["reason"] == "end of market data"
    assert {"balance", "daily_pnl", "open_positions", "daily_trades"} <= set(status["account"])
    assert status["account"]["balance"] == run.engine.portfolio.cash / ONE
    assert {"can_trade", "reason", "consecutive_losses", "emergency_stop"} <= set(status["risk"])
    assert {"schema_version", "date", "last_updated", "trades", "summary"} <= set(today)
    assert {
        "total_trades",
        "closed_trades",
        "open_trades",
        "wins",
        "losses",
        "total_pnl",
        "total_fees",
        "win_rate",
    } <= set(today["summary"])
    summary = today["summary"]  # fees of every trade today, open ones too, and the two parts
    fees = [Decimal(str(t["fees"])) for t in today["trades"]]
    assert Decimal(str(summary["total_fees"])) == sum(fees) > 0
    assert Decimal(str(summary["closed_fees"])) + Decimal(str(summary["open_fees"])) == sum(fees)
    opened = [Decimal(str(t["fees"])) for t in today["trades"] if t["status"] == "OPEN"]
    assert Decimal(str(summary["open_fees"])) == sum(opened)
    assert today["trades"]
    for trade in today["trades"]:
        assert {
            "position_id",
            "market",
            "market_id",
            "side",
            "strategy",
            "status",
            "shares",
            "entry_time",
            "entry_price",
            "exit_time",
            "exit_price",
            "exit_reason",
            "fees",
            "pnl",
        } <= set(trade)
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) == []


def test_the_same_seed_gives_byte_identical_orders_and_fills(runs: tuple[Run, Run]) -> None:
    first, second = runs
    for table, key in (("orders", "order_id"), ("fills", "fill_id"), ("positions", "position_id")):
        a = [orjson.dumps(r) for r in first.journal.rows(f"SELECT * FROM {table} ORDER BY {key}")]
        b = [orjson.dumps(r) for r in second.journal.rows(f"SELECT * FROM {table} ORDER BY {key}")]
        assert a, table
        assert a == b, table
    cash = "SELECT ts_ms, kind, amount_micros, ref FROM cash ORDER BY entry_id"
    assert list(first.journal.rows(cash)) == list(second.journal.rows(cash))


# ---------------------------------------------------------------------------
# a hand-made market: a stop-loss exit that leaves less than the minimum size


class ListFeed:
    """Hand-made market events, one batch per timestamp."""

    def __init__(self, events: list[MarketEvent]) -> None:
        self.events = list(events)

    def peek_ms(self) -> int | None:
        return self.events[0].ts_ms if self.events else None

    def next_batch(self) -> list[MarketEvent]:
        ts = self.events[0].ts_ms
        batch = [e for e in self.events if e.ts_ms == ts]
        self.events = self.events[len(batch) :]
        return batch


class BuyOnce:
    """Buys 23 UP at the ask on the first tick of a window."""

    name = "buy_once"

    def evaluate(self, window: WindowState) -> Signal | None:
        if window.entries:
            return None
        return Signal(
            ts_ms=window.now_ms,
            strategy=self.name,
            market_id=window.market.market_id,
            outcome=Outcome.UP,
            action=Action.BUY,
            price=window.book.ask,
            size=23 * ONE,
            order_type=OrderType.FAK,
        )


def test_an_exit_remainder_below_the_minimum_size_is_not_retried_every_tick(tmp_path: Path) -> None:
    market = Market("HAND-1", "BTC", "hand-made", START, START + 300_000, strike=1.0, tick=10_000)
    assert market.min_size == 5 * ONE

    def tick(second: int, bid: float, bid_size: float) -> BookTick:
        ask = round(bid * ONE) + 20_000
        return BookTick(
            START + second * 1_000, "HAND-1", round(bid * ONE), round(bid_size * ONE), ask, 100 * ONE
        )

    events: list[MarketEvent] = [WindowOpened(START, market), tick(1, 0.48, 100)]  # buy 23 at 0.50
    events += [tick(s, 0.40, 20) for s in range(2, 12)]  # stop (0.45) hit: 20 sold, 3 left < 5
    events += [WindowResolved(START + 300_000, "HAND-1", Outcome.DOWN, 0.9)]
    config = Config(
        risk=RiskConfig(max_position_usd=20.0, max_market_exposure_usd=20.0),
        heartbeat_s=3_600.0,
        state_refresh_s=3_600.0,
    )
    paths = prepare_home(tmp_path)
    journal = Journal(":memory:")
    journal.start_session(MODE, __version__, 0, config.to_dict(), START)
    venue = PaperVenue(MODE, id_prefix="H")
    engine = build_engine(
        config=config,
        paths=paths,
        journal=journal,
        venue=venue,
        feed=ListFeed(events),
        clock=SimulatedClock(START),
        strategies=[BuyOnce()],
        restored=journal.restore(MODE),
        start_ms=START,
        wallet="PAPER",
    )
    engine.portfolio.deposit(100 * ONE, START, "deposit")
    venue.deposit(100 * ONE)
    try:
        assert engine.run() == "end of market data"
        fills = rows(journal, "SELECT action, shares_micros FROM fills ORDER BY ts_ms")
        assert fills == [
            {"action": "BUY", "shares_micros": 23 * ONE},
            {"action": "SELL", "shares_micros": 20 * ONE},
        ]
        assert engine.portfolio.cash == venue.balance() == journal.cash_balance(MODE)
        refused = rows(journal, "SELECT ts_ms, details FROM activity WHERE type='ORDER_REJECTED'")
        assert len(refused) <= 1, f"{len(refused)} identical rejections: {refused[0]['details']}"
    finally:
        engine.activity.close()
        journal.close()


def test_the_state_files_cached_rows_equal_rows_built_afresh(tmp_path: Path) -> None:
    """state.Views reuses a row while its position, order and book are unchanged: at every
    step of a run with fills, exits, a flatten and settlements, the rows it gives equal rows
    built from scratch."""
    checked = [0]

    def compare(engine: Engine) -> None:
        positions = list(engine.portfolio.positions.values())
        marks = engine.portfolio.marks
        fresh = [
            state.position_view(p, engine.markets.get(p.market_id), marks.get(p.market_id)) for p in positions
        ]
        rows, unrealized = engine.views.positions(engine.markets, marks, positions)
        assert rows == fresh
        assert unrealized == sum(engine.portfolio.unrealized(p) for p in positions)
        shown = state.status(engine.snapshot(for_status=True))
        assert [(r["symbol"], r["quantity"], r["unrealized_pnl"]) for r in shown["active_positions"]] == [
            (p.market_id, to_float(p.shares), to_float(engine.portfolio.unrealized(p))) for p in positions
        ]
        orders = engine.orders.open_orders()
        names = engine.market_names
        fresh_orders = [state.order_view(o, names.get(o.market_id, o.market_id)) for o in orders]
        assert engine.views.orders(names, orders) == fresh_orders
        rows = state.trades_today(engine.snapshot(for_status=False))["trades"]
        closed = [
            state._trade_row(names.get(p.market_id, p.market_id), p, "CLOSED", ms)
            for ms, p in engine.portfolio.closed_today
        ]
        opened = [state._trade_row(names.get(p.market_id, p.market_id), p, "OPEN", None) for p in positions]
        assert rows == closed + opened
        checked[0] += bool(positions)

    run = run_engine(tmp_path, each_batch=compare)
    run.journal.close()
    assert checked[0] > 100  # compared while positions were open, many times


def test_a_state_file_write_that_hangs_is_an_invariant_failure(
    runs: tuple[Run, Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot import breaker

    engine = runs[0].engine
    monkeypatch.setattr(engine.files, "status_written", 0.0)  # only the writer is under test here
    assert breaker.check_state_files(engine.files, engine.heartbeat_s) == ""
    monkeypatch.setattr(engine.files, "busy_for", lambda: 3 * engine.heartbeat_s + 6)
    failed = breaker.check_state_files(engine.files, engine.heartbeat_s)
    assert failed.startswith("state_files: the disk has not finished")
