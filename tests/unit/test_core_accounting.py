"""Exact accounting: random trading through PaperVenue + OrderManager + Portfolio + Journal.

After every operation:
- portfolio.cash == venue.balance() == SUM(amount_micros) of the journal's cash table, never < 0
- the venue's holdings are the portfolio's open positions
- every closed position's realized P&L == sold_value − bought_cost − total_fees
- every fill id is unique, and every fill the venue reported is in the journal
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clock import SimulatedClock
from bot.config import Config, RiskConfig, StrategiesConfig
from bot.journal import Journal, Restored
from bot.layout import Paths
from bot.model import (
    ONE,
    Action,
    BookTick,
    Fill,
    Intent,
    Market,
    MarketEvent,
    Mode,
    OrderRequest,
    OrderType,
    Outcome,
    Signal,
    VenueEvent,
    WindowOpened,
    WindowResolved,
    book_for,
)
from bot.orders import OrderManager
from bot.portfolio import Portfolio
from bot.venues.paper import PaperVenue
from bot.wiring import build_engine

MODE = Mode.PAPER
TICK = 10_000
T0 = 1_767_225_600_000
WINDOW_MS = 3_600_000
FEE_RATE = 20_000  # 2%, so every taker fill pays a fee
DEPOSIT = 200 * ONE


class RecordingVenue(PaperVenue):
    """The real paper venue; it only keeps a copy of every event it reports."""

    def __init__(self) -> None:
        super().__init__(MODE, id_prefix="P1-")
        self.reported: list[VenueEvent] = []

    def _keep(self, events: list[VenueEvent]) -> list[VenueEvent]:
        self.reported.extend(events)
        return events

    def place(self, request: OrderRequest, now_ms: int) -> Any:
        order, events = super().place(request, now_ms)
        return order, self._keep(events)

    def cancel(self, order_id: str, now_ms: int, reason: str) -> list[VenueEvent]:
        return self._keep(super().cancel(order_id, now_ms, reason))

    def poll(self, now_ms: int) -> list[VenueEvent]:
        return self._keep(super().poll(now_ms))

    def on_market(self, event: MarketEvent) -> list[VenueEvent]:
        return self._keep(super().on_market(event))


@dataclass
class World:
    journal: Journal
    venue: RecordingVenue
    portfolio: Portfolio
    orders: OrderManager
    markets: dict[str, Market]
    home: Path
    slots: list[str] = field(default_factory=list)  # market id of each slot
    now: int = T0
    generation: int = 0

    def close(self) -> None:
        self.orders.activity.close()
        self.journal.close()
        shutil.rmtree(self.home, ignore_errors=True)


class NoFeed:
    """The engine is built but never run: the test drives the order manager itself."""

    def peek_ms(self) -> int | None:
        return None

    def next_batch(self) -> list[MarketEvent]:
        return []


GENEROUS = Config(
    risk=RiskConfig(
        max_position_usd=1_000,
        max_market_exposure_usd=1_000_000,
        max_total_exposure_usd=1_000_000,
        max_open_orders=1_000,
        max_orders_per_window=1_000,
        daily_loss_limit_usd=1_000_000,
        max_consecutive_losses=1_000,
    ),
    strategies=StrategiesConfig(enabled=()),
)


def build() -> World:
    """The parts wired by bot.app.build_engine, as `bot run` wires them, on an in-memory journal."""
    home = Path(tempfile.mkdtemp(prefix="test_core_accounting-"))
    journal = Journal(":memory:")
    journal.start_session(MODE, "test", 0, {}, T0)
    venue = RecordingVenue()
    engine = build_engine(
        config=GENEROUS,
        paths=Paths(home),
        journal=journal,
        venue=venue,
        feed=NoFeed(),
        clock=SimulatedClock(T0),
        strategies=[],
        restored=Restored(cash=0, open_orders=[], positions=[], markets=[], clock_ms=None),
        start_ms=T0,
        wallet="TEST",
    )
    engine.orders.controls_dir = None
    engine.portfolio.deposit(DEPOSIT, T0, "paper starting balance")
    venue.deposit(DEPOSIT)
    world = World(journal, venue, engine.portfolio, engine.orders, engine.markets, home)
    for _ in range(2):
        world.slots.append(open_market(world))
    return world


def open_market(world: World) -> str:
    world.generation += 1
    market = Market(
        market_id=f"M{world.generation}",
        instrument="BTC",
        name=f"market {world.generation}",
        window_start_ms=T0,
        window_end_ms=T0 + WINDOW_MS,
        strike=100.0,
        tick=TICK,
        min_size=ONE,
        fee_rate_ppm=FEE_RATE,
    )
    world.markets[market.market_id] = market
    world.journal.market_opened(market)
    world.orders.apply(world.venue.on_market(WindowOpened(world.now, market)))
    first = BookTick(world.now, market.market_id, 480_000, 50 * ONE, 520_000, 50 * ONE)
    world.portfolio.marks[market.market_id] = first
    world.orders.apply(world.venue.on_market(first))
    return market.market_id


# ---------------------------------------------------------------------------
# operations

sizes = st.integers(min_value=100, max_value=4_000).map(lambda n: n * 10_000)  # 1.00 .. 40.00 shares
outcomes = st.sampled_from([Outcome.UP, Outcome.DOWN])
slot = st.integers(min_value=0, max_value=1)
offset = st.integers(min_value=-3, max_value=3)  # ticks from the touch

tick_op = st.tuples(
    st.just("tick"),
    slot,
    st.integers(min_value=1, max_value=97),  # bid in ticks
    st.integers(min_value=1, max_value=4),  # spread in ticks
    sizes,
    sizes,
)
buy_op = st.tuples(
    st.just("buy"),
    slot,
    outcomes,
    offset,
    sizes,
    st.sampled_from([OrderType.GTC, OrderType.GTD, OrderType.FAK, OrderType.FOK]),
)
sell_op = st.tuples(
    st.just("sell"),
    slot,
    outcomes,
    offset,
    st.sampled_from([1, 2, 3, 4]),  # sell 1/n of the position
    st.sampled_from([OrderType.GTC, OrderType.FAK, OrderType.FOK]),
)
OPERATIONS = {
    "tick": tick_op,
    "buy": buy_op,
    "sell": sell_op,
    "exit": st.tuples(st.just("exit"), slot, outcomes),
    "cancel": st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=10)),
    "wait": st.tuples(st.just("wait"), st.integers(min_value=1, max_value=60)),
    "settle": st.tuples(st.just("settle"), slot, outcomes),
}
# buys, sells and ticks are drawn more often than the rest, so positions build up and close
KINDS = ["tick"] * 3 + ["buy"] * 4 + ["sell"] * 3 + ["exit", "cancel", "wait", "settle"]
operations = st.sampled_from(KINDS).flatmap(lambda kind: OPERATIONS[kind])


def clamp_price(price: int) -> int:
    return min(max(price, TICK), ONE - TICK)


def do(world: World, op: tuple[Any, ...]) -> None:
    kind = op[0]
    world.now += 1_000
    orders, venue = world.orders, world.venue
    if kind == "tick":
        _, s, bid_ticks, spread, bid_size, ask_size = op
        market_id = world.slots[s]
        bid = bid_ticks * TICK
        tick = BookTick(world.now, market_id, bid, bid_size, min(bid + spread * TICK, ONE - TICK), ask_size)
        world.portfolio.marks[market_id] = tick
        orders.apply(venue.on_market(tick))
    elif kind == "buy":
        _, s, outcome, off, size, order_type = op
        market_id = world.slots[s]
        mark = world.portfolio.marks.get(market_id)
        ask = book_for(mark, outcome)[2] if mark else 500_000
        signal = Signal(
            ts_ms=world.now,
            strategy="prop",
            market_id=market_id,
            outcome=outcome,
            action=Action.BUY,
            price=clamp_price(ask + off * TICK),
            size=size,
            order_type=order_type,
            ttl_s=5 if order_type is OrderType.GTD else None,
        )
        orders.execute(signal, MODE)
    elif kind == "sell":
        _, s, outcome, off, fraction, order_type = op
        market_id = world.slots[s]
        position = world.portfolio.positions.get((market_id, outcome))
        mark = world.portfolio.marks.get(market_id)
        if position is None or mark is None:
            return
        size = position.shares // fraction
        size -= size % 10_000
        request = OrderRequest(
            client_id=f"sell:{world.now}",
            market_id=market_id,
            outcome=outcome,
            action=Action.SELL,
            price=clamp_price(book_for(mark, outcome)[0] + off * TICK),
            size=size,
            order_type=order_type,
            expires_ms=None,
            intent=Intent.EXIT,
        )
        orders._place(venue, request, world.now, position.strategy, 0, "test sell")
    elif kind == "exit":
        _, s, outcome = op
        position = world.portfolio.positions.get((world.slots[s], outcome))
        if position is not None:
            orders.exit_position(position, MODE, world.now, "test exit")
    elif kind == "cancel":
        open_ids = sorted(o.order_id for o in orders.open_orders())
        if open_ids:
            orders.cancel([open_ids[op[1] % len(open_ids)]], MODE, world.now, "test cancel")
    elif kind == "wait":
        world.now += op[1] * 1_000
        orders.apply(venue.poll(world.now))
    elif kind == "settle":
        _, s, winner = op
        market_id = world.slots[s]
        world.markets.pop(market_id)
        world.portfolio.marks.pop(market_id, None)
        world.journal.market_resolved(market_id, winner, world.now)
        orders.apply(venue.on_market(WindowResolved(world.now, market_id, winner, 100.0)))
        world.slots[s] = open_market(world)
    world.journal.commit()


def check(world: World) -> None:
    portfolio, venue, journal = world.portfolio, world.venue, world.journal
    ledger = journal.cash_balance(MODE)
    assert portfolio.cash == venue.balance() == ledger
    assert portfolio.cash >= 0
    assert venue.available() >= 0
    held = {key: shares for key, shares in venue.holdings.items() if shares}
    assert held == {key: p.shares for key, p in portfolio.positions.items()}
    for r in journal.rows("SELECT * FROM positions WHERE status='CLOSED'"):
        assert r["shares_micros"] == 0
        assert r["realized_pnl_micros"] == (
            r["sold_value_micros"] - r["bought_cost_micros"] - r["total_fees_micros"]
        ), r
        assert r["sold_micros"] == r["bought_micros"]
    reported = [e.fill_id for e in venue.reported if isinstance(e, Fill)]
    assert len(reported) == len(set(reported)), "duplicate fill id"
    booked = [r["fill_id"] for r in journal.rows("SELECT fill_id FROM fills ORDER BY fill_id")]
    assert booked == sorted(reported)  # nothing dropped as a "duplicate", nothing invented
    # the ledger's pieces add up: fees in the cash table are the fees of the fills
    fees = journal.conn.execute("SELECT COALESCE(SUM(fee_micros), 0) FROM fills").fetchone()[0]
    fee_cash = journal.conn.execute("SELECT COALESCE(SUM(amount_micros), 0) FROM cash WHERE kind='FEE'")
    assert fee_cash.fetchone()[0] == -fees
    # the manager's open orders are the venue's resting orders
    assert sorted(o.order_id for o in world.orders.open_orders()) == sorted(venue.orders)


@settings(
    max_examples=60,
    database=None,  # no example database outside tests/
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(st.lists(operations, min_size=20, max_size=60))
def test_random_trading_keeps_cash_ledger_and_pnl_exact(ops: list[tuple[Any, ...]]) -> None:
    world = build()
    check(world)
    try:
        for op in ops:
            do(world, op)
            check(world)
    finally:
        world.close()


def test_a_scripted_round_trip_books_exact_pnl() -> None:
    """A worked example of the identities the property test checks at random."""
    world = build()
    m = world.slots[0]
    do(world, ("tick", 0, 40, 2, 50 * ONE, 50 * ONE))  # UP 0.40 / 0.42
    do(world, ("buy", 0, Outcome.UP, 0, 20 * ONE, OrderType.GTC))  # 20 at 0.42, taker
    do(world, ("tick", 0, 50, 2, 50 * ONE, 50 * ONE))  # UP 0.50 / 0.52
    do(world, ("sell", 0, Outcome.UP, 0, 2, OrderType.FAK))  # 10 at 0.50
    do(world, ("settle", 0, Outcome.UP))  # the other 10 pay 1 each
    check(world)
    [row] = world.journal.rows("SELECT * FROM positions WHERE market_id=?", (m,))
    buy_fee = 20 * 20_000 * 42 * 58 // 10_000  # 20 × 0.02 × 0.42 × 0.58 = 0.09744
    sell_fee = 10 * 20_000 * 50 * 50 // 10_000  # 10 × 0.02 × 0.25 = 0.05
    assert (buy_fee, sell_fee) == (97_440, 50_000)
    assert row["status"] == "CLOSED"
    assert row["exit_reason"] == "WON"
    assert row["bought_cost_micros"] == 8_400_000
    assert row["sold_value_micros"] == 5_000_000 + 10_000_000
    assert row["total_fees_micros"] == buy_fee + sell_fee
    assert row["realized_pnl_micros"] == 15_000_000 - 8_400_000 - buy_fee - sell_fee
    assert world.portfolio.cash == DEPOSIT + row["realized_pnl_micros"]
    kinds = [r["kind"] for r in world.journal.rows("SELECT kind FROM cash ORDER BY entry_id")]
    assert kinds == ["DEPOSIT", "BUY", "FEE", "SELL", "FEE", "SETTLEMENT"]
    world.close()


def test_books_agree_with_the_venue_when_displayed_sizes_have_three_decimals() -> None:
    world = build()
    try:
        do(world, ("tick", 0, 50, 2, 50 * ONE, 50 * ONE))  # UP 0.50 / 0.52
        do(world, ("buy", 0, Outcome.UP, -2, 20 * ONE, OrderType.GTC))  # rests at 0.50
        do(world, ("tick", 0, 40, 5, 50 * ONE, 12_345_000))  # ask 0.45: 12.345 fill as maker
        do(world, ("tick", 0, 40, 5, 50 * ONE, 4_000))  # 0.004 more: filled 12.349, same "-1234"
        assert world.portfolio.cash == world.venue.balance()
    finally:
        world.close()
