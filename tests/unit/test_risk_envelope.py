"""The risk envelope: exit triggers at their thresholds, ADJUST_RISK parsing, and a property
test that random signals, prices and ADJUST_RISK files never push the books past a cap."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.activity import Activity
from bot.config import ExitsConfig, RiskConfig
from bot.exits import ExitPolicy, Lifecycle, decide, set_levels
from bot.journal import Journal
from bot.model import (
    ONE,
    Action,
    BookTick,
    Market,
    Mode,
    Outcome,
    Position,
    Signal,
    WindowOpened,
    notional,
    to_micros,
)
from bot.orders import OrderManager
from bot.portfolio import Portfolio
from bot.risk import RiskGate, SessionLimits
from bot.runtime import AdjustError, CurrentLimits, Limits, parse
from bot.venues.paper import PaperVenue

T0 = 1_800_000_000_000
END = T0 + 300_000


def position(entry: float, shares: float = 10, state: str = Lifecycle.MONITORING) -> Position:
    p = Position("M", Outcome.UP, shares=to_micros(shares), bought=to_micros(shares), state=state)
    p.bought_cost = p.cost = notional(to_micros(entry), p.bought)
    return p


def policy(**kw: float) -> ExitPolicy:
    base = {"stop_loss_pct": 0.0, "take_profit_pct": 0.0, "trailing_pct": 0.0, "exit_before_end_s": 0.0}
    return ExitPolicy.from_config(ExitsConfig(**{**base, **kw}))


# -- exits: each trigger fires at its threshold and not one tick before ----------------


def test_stop_loss_fires_at_the_stop_and_not_above() -> None:
    pol = policy(stop_loss_pct=10)
    p = position(0.50)
    set_levels(p, pol)
    assert p.stop_price == to_micros("0.45")
    assert decide(p, to_micros("0.46"), T0, END, pol) is None
    d = decide(p, to_micros("0.45"), T0, END, pol)
    assert d is not None
    assert d.trigger is Lifecycle.STOP_TRIGGERED
    assert d.trigger_price == d.intended_price == to_micros("0.45")
    assert "stop_loss_pct=10" in d.threshold


def test_take_profit_fires_at_the_target_and_not_below() -> None:
    pol = policy(take_profit_pct=30)
    p = position(0.50)
    set_levels(p, pol)
    assert p.target_price == to_micros("0.65")
    assert decide(p, to_micros("0.64"), T0, END, pol) is None
    d = decide(p, to_micros("0.65"), T0, END, pol)
    assert d is not None
    assert d.trigger is Lifecycle.TP_TRIGGERED


def test_trailing_fires_after_a_rise_then_a_fall_from_the_peak() -> None:
    pol = policy(trailing_pct=20)
    p = position(0.50)
    set_levels(p, pol)
    p.peak = to_micros("0.50")  # no rise yet: trailing not armed
    assert decide(p, to_micros("0.30"), T0, END, pol) is None
    p.peak = to_micros("0.80")  # floor = 0.64
    assert decide(p, to_micros("0.65"), T0, END, pol) is None
    d = decide(p, to_micros("0.64"), T0, END, pol)
    assert d is not None
    assert d.trigger is Lifecycle.TRAILING_TRIGGERED


def test_expiry_fires_at_the_configured_time_before_the_end() -> None:
    pol = policy(exit_before_end_s=30)
    p = position(0.50)
    assert decide(p, to_micros("0.5"), END - 30_001, END, pol) is None
    d = decide(p, to_micros("0.5"), END - 30_000, END, pol)
    assert d is not None
    assert d.trigger is Lifecycle.EXPIRY


def test_priority_expiry_then_stop_then_trailing_then_take_profit() -> None:
    pol = policy(stop_loss_pct=10, take_profit_pct=1, trailing_pct=5, exit_before_end_s=30)
    p = position(0.50)
    set_levels(p, pol)
    d = decide(p, to_micros("0.40"), END - 1, END, pol)
    assert d is not None
    assert d.trigger is Lifecycle.EXPIRY
    d = decide(p, to_micros("0.40"), T0, END, pol)
    assert d is not None
    assert d.trigger is Lifecycle.STOP_TRIGGERED
    p.peak = to_micros("0.90")
    d = decide(p, to_micros("0.60"), T0, END, pol)  # above target, below the trailing floor
    assert d is not None
    assert d.trigger is Lifecycle.TRAILING_TRIGGERED


def test_nothing_fires_once_the_position_is_exiting() -> None:
    pol = policy(stop_loss_pct=10)
    p = position(0.50, state=Lifecycle.EXIT_PENDING)
    set_levels(p, pol)
    assert decide(p, to_micros("0.01"), T0, END, pol) is None


# -- ADJUST_RISK parsing -----------------------------------------------------------------


LIMITS = Limits(
    max_position=5 * ONE,
    max_session_loss=20 * ONE,
    cap_position=10 * ONE,
    cap_session_loss=20 * ONE,
    instruments=("BTC", "ETH"),
    strategies=("canary", "edge"),
    mode=Mode.PAPER,
)


@pytest.mark.parametrize(
    ("content", "values"),
    [
        (b"7\n", {"max_position_usd": "7"}),
        (b"10", {"max_position_usd": "10"}),
        (b'{"max_session_loss": 5.5}', {"max_session_loss": "5.5"}),
        (b'{"allowed_instruments": ["ETH", "BTC"]}', {"allowed_instruments": ["BTC", "ETH"]}),
        (b'{"allowed_strategies": null}', {"allowed_strategies": None}),
        (b'{"trading_mode": "paper"}', {"trading_mode": "PAPER"}),
    ],
)
def test_adjust_accepts(content: bytes, values: dict[str, object]) -> None:
    assert parse(content, LIMITS) == values


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\xff\xfe", "not UTF-8"),
        (b"ten", "not a number"),
        (b"-1", "greater than 0"),
        (b"0", "greater than 0"),
        (b"NaN", "not a finite number"),
        (b"10.5", "above the owner's cap"),
        (b"1e999", "above the owner's cap"),
        (b"0.0000001", "more than 6 decimals"),
        (b'{"max_position_usd": true}', "expected a number"),
        (b'{"max_session_loss": 21}', "above the owner's cap"),
        (b'{"kill_switch": 1}', "unknown key 'kill_switch'"),
        (b"{}", "at least one key"),
        (b'{"allowed_instruments": ["BTC", 3]}', "expected a list of names"),
        (b'{"allowed_strategies": ["yolo"]}', "'yolo' is not one of the enabled strategies"),
        (b'{"trading_mode": "LIVE"}', "never switch the bot to LIVE"),
        (b'{"trading_mode": "dry-run"}', "cannot go from PAPER to DRY_RUN"),
        (b'{"max_position_usd": 1', "not valid JSON"),
    ],
)
def test_adjust_rejects(content: bytes, message: str) -> None:
    with pytest.raises(AdjustError) as info:
        parse(content, LIMITS)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


# -- property: random signals, prices and ADJUST_RISK files never breach a cap ---------------


RISK = RiskConfig(
    max_position_usd=5.0,
    max_market_exposure_usd=8.0,
    max_total_exposure_usd=20.0,
    max_open_orders=4,
    max_orders_per_window=2,
)
MARKETS = [
    Market(f"M{i}", instrument, f"market {i}", T0, END, 100.0, fee_rate_ppm=70_000)
    for i, instrument in enumerate(("BTC", "ETH", "BTC"))
]

actions = st.one_of(
    st.tuples(
        st.just("signal"),
        st.integers(0, 2),
        st.sampled_from(list(Outcome)),
        st.integers(1, 99),  # limit price in cents
        st.one_of(st.none(), st.integers(1, 5000)),  # size in hundredths of a share
        st.sampled_from(["canary", "edge"]),
    ),
    st.tuples(st.just("tick"), st.integers(0, 2), st.integers(1, 97), st.integers(1, 500)),
    st.tuples(
        st.just("adjust"),
        st.sampled_from(
            [
                b"1",
                b"3",
                b"5",
                b"10",
                b"-3",
                b"abc",
                b'{"max_position_usd": 2}',
                b'{"allowed_instruments": ["ETH"]}',
                b'{"allowed_instruments": null}',
                b'{"allowed_strategies": ["edge"]}',
            ]
        ),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=40))
def test_no_sequence_breaches_a_cap(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    journal = Journal(":memory:")
    portfolio = Portfolio(journal, Mode.PAPER)
    venue = PaperVenue(cash=15 * ONE)
    portfolio.deposit(15 * ONE, T0, "test")
    gate = RiskGate(RISK, CurrentLimits(LIMITS))
    markets = {m.market_id: m for m in MARKETS}
    orders = OrderManager(
        venue=venue,
        journal=journal,
        portfolio=portfolio,
        activity=Activity(journal, None),
        risk=gate,
        markets=markets,
        controls_dir=None,
        entry_block=lambda: "",
        on_settled=lambda s, p: None,
    )
    for m in MARKETS:
        venue.on_market(WindowOpened(T0, m))
    now = T0
    executed = 0
    for step in steps:
        now += 1000
        if step[0] == "tick":
            _, i, bid_c, size = step
            tick = BookTick(now, f"M{i}", bid_c * 10_000, size * ONE, (bid_c + 2) * 10_000, size * ONE)
            portfolio.marks[tick.market_id] = tick
            orders.apply(venue.on_market(tick))
        elif step[0] == "adjust":
            with contextlib.suppress(AdjustError):
                gate.limits.value = gate.limits.value.with_values(parse(step[1], gate.limits.value))
        else:
            _, i, outcome, price_c, size, strategy = step
            market = MARKETS[i]
            signal = Signal(
                now,
                strategy,
                market.market_id,
                outcome,
                Action.BUY,
                price_c * 10_000,
                size=None if size is None else size * 10_000,
            )
            result = orders.execute(signal, Mode.PAPER)
            if result.executed:
                executed += 1
                limits = gate.limits.value
                assert limits.allowed_strategies is None or strategy in limits.allowed_strategies
                assert limits.allowed_instruments is None or market.instrument in limits.allowed_instruments
        # the caps hold after every step
        locked = sum(o.locked for o in orders.orders.values())
        assert portfolio.deployed() + locked <= gate.max_exposure
        assert len(orders.orders) <= RISK.max_open_orders
        assert all(n <= RISK.max_orders_per_window for n in orders.window_entries.values())
        for m in MARKETS:
            in_market = sum(
                p.cost + p.fees for (mid, _), p in portfolio.positions.items() if mid == m.market_id
            ) + sum(o.locked for o in orders.orders.values() if o.market_id == m.market_id)
            assert in_market <= gate.max_market_exposure
        for p in portfolio.positions.values():
            assert p.cost <= LIMITS.cap_position  # never above the owner's hard cap
        assert portfolio.cash >= 0
        assert portfolio.cash == venue.balance() == journal.cash_balance(Mode.PAPER)
    event(f"orders placed: {min(executed, 3)}{'+' if executed >= 3 else ''}")
    journal.close()


def test_session_limits_block_after_losses_and_reset_clears() -> None:
    limits = SessionLimits(RiskConfig(max_consecutive_losses=2, trading_day_start_hour_utc=6))
    day = limits.day_start(T0)
    assert (T0 - day) < 86_400_000
    assert (day // 3_600_000) % 24 == 6
    loss = position(0.5)
    loss.realized = -ONE
    view = limits.view([(T0, loss)], T0, 20 * ONE)
    assert view.block == ""
    assert view.consecutive_losses == 1
    view = limits.view([(T0, loss), (T0 + 1, loss)], T0 + 2, 20 * ONE)
    assert "2 losing trades in a row" in view.block
    view = limits.view([(T0, loss)], T0 + 2, ONE)
    assert "daily loss limit reached" in view.block
    assert view.daily_loss_remaining == 0
    limits.reset_ms = T0 + 5
    assert limits.view([(T0, loss), (T0 + 1, loss)], T0 + 6, ONE).block == ""


def test_session_limits_count_a_growing_list_as_a_fresh_count_would() -> None:
    """The view counts each closed position once as the day's list grows; a RESET, a new
    day or a new list is counted again from the start."""
    limits = SessionLimits(RiskConfig(max_consecutive_losses=3, trading_day_start_hour_utc=6))
    closed: list[tuple[int, Position]] = []
    for i, realized in enumerate((-ONE, 2 * ONE, -ONE, -ONE, -3 * ONE, ONE, -ONE)):
        p = position(0.5)
        p.realized = realized
        closed.append((T0 + i, p))
        for reset in (0, T0 + 2):
            limits.reset_ms = reset
            fresh = SessionLimits(RiskConfig(max_consecutive_losses=3, trading_day_start_hour_utc=6))
            fresh.reset_ms = reset
            assert limits.view(closed, T0 + 10, 4 * ONE) == fresh.view(closed, T0 + 10, 4 * ONE)
    limits.reset_ms = 0
    assert limits.view(closed[:2], T0 + 10, 4 * ONE).daily_loss == 0  # another list: counted afresh
    assert limits.view(closed, T0 + 10, 4 * ONE).daily_loss == 4 * ONE
