"""bot.venues.paper.PaperVenue: the fill model, refusals, expiry, cancels, settlement and fees."""

from __future__ import annotations

import pytest

from bot.errors import OrderRefused
from bot.model import (
    ONE,
    Action,
    BookTick,
    Fill,
    Intent,
    Liquidity,
    Market,
    Mode,
    OrderDone,
    OrderRequest,
    OrderStatus,
    OrderType,
    Outcome,
    Settlement,
    VenueEvent,
    WindowOpened,
    WindowResolved,
    notional,
    taker_fee,
)
from bot.venues.paper import PaperVenue

UP, DOWN = Outcome.UP, Outcome.DOWN
BUY, SELL = Action.BUY, Action.SELL
START, END = 1_000_000, 1_300_000
FEE_RATE = 20_000  # 2%


def market(fee_rate_ppm: int = 0, market_id: str = "BTC-TEST") -> Market:
    return Market(
        market_id=market_id,
        instrument="BTC",
        name="BTC up or down (test)",
        window_start_ms=START,
        window_end_ms=END,
        strike=100.0,
        tick=10_000,
        min_size=5 * ONE,
        fee_rate_ppm=fee_rate_ppm,
    )


def book(
    ts: int,
    bid: float,
    ask: float,
    bid_size: float = 100,
    ask_size: float = 100,
    market_id: str = "BTC-TEST",
) -> BookTick:
    return BookTick(
        ts_ms=ts,
        market_id=market_id,
        bid=round(bid * ONE),
        bid_size=round(bid_size * ONE),
        ask=round(ask * ONE),
        ask_size=round(ask_size * ONE),
    )


def req(
    outcome: Outcome,
    action: Action,
    price: float,
    size: float,
    order_type: OrderType = OrderType.GTC,
    expires_ms: int | None = None,
    market_id: str = "BTC-TEST",
) -> OrderRequest:
    return OrderRequest(
        client_id="test",
        market_id=market_id,
        outcome=outcome,
        action=action,
        price=round(price * ONE),
        size=round(size * ONE),
        order_type=order_type,
        expires_ms=expires_ms,
        intent=Intent.ENTRY,
    )


def venue(cash: float = 1_000, fee_rate_ppm: int = 0, tick: BookTick | None = None) -> PaperVenue:
    v = PaperVenue(Mode.PAPER, cash=round(cash * ONE))
    assert v.on_market(WindowOpened(START, market(fee_rate_ppm))) == []
    if tick is not None:
        v.on_market(tick)
    return v


def fills(events: list[VenueEvent]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def dones(events: list[VenueEvent]) -> list[OrderDone]:
    return [e for e in events if isinstance(e, OrderDone)]


# ---------------------------------------------------------------------------
# taking and making


def test_buy_that_crosses_fills_as_taker_at_the_ask() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    order, events = v.place(req(UP, BUY, 0.45, 10), START + 2)
    [fill] = fills(events)
    assert fill.liquidity is Liquidity.TAKER
    assert fill.price == 420_000  # the ask, not the limit
    assert fill.shares == 10 * ONE
    assert fill.fee == 0
    assert fill.order_id == order.order_id
    assert v.balance() == 1_000 * ONE - notional(420_000, 10 * ONE)
    assert v.holdings[("BTC-TEST", UP)] == 10 * ONE
    assert v.orders == {}  # filled in full: nothing rests
    assert order.status is OrderStatus.OPEN
    assert order.filled == 0


def test_down_buy_takes_the_mirrored_ask() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42, bid_size=30))
    _, events = v.place(req(DOWN, BUY, 0.60, 10), START + 2)
    [fill] = fills(events)
    assert fill.price == 600_000  # down ask = 1 - up bid
    assert fill.outcome is DOWN


def test_sell_that_crosses_fills_at_the_bid() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    v.place(req(UP, BUY, 0.42, 10), START + 2)
    v.on_market(book(START + 3, 0.50, 0.52))
    _, events = v.place(req(UP, SELL, 0.45, 10), START + 4)
    [fill] = fills(events)
    assert (fill.price, fill.liquidity, fill.action) == (500_000, Liquidity.TAKER, SELL)
    assert v.balance() == 1_000 * ONE - 4_200_000 + 5_000_000
    assert v.holdings[("BTC-TEST", UP)] == 0


def test_a_resting_gtc_fills_as_maker_at_its_own_price_when_a_later_tick_crosses() -> None:
    v = venue(fee_rate_ppm=FEE_RATE, tick=book(START + 1, 0.40, 0.42))
    order, events = v.place(req(UP, BUY, 0.41, 10), START + 2)
    assert events == []
    assert v.orders[order.order_id].status is OrderStatus.OPEN
    assert v.available() == 1_000 * ONE - notional(410_000, 10 * ONE)  # locked while it rests
    assert v.balance() == 1_000 * ONE
    assert fills(v.on_market(book(START + 3, 0.40, 0.415))) == []  # 0.415 > 0.41: no cross
    [fill] = fills(v.on_market(book(START + 4, 0.37, 0.39)))
    assert fill.liquidity is Liquidity.MAKER
    assert fill.price == 410_000  # its own price, not the new ask
    assert fill.fee == 0  # makers pay no fee
    assert fill.ts_ms == START + 4
    assert v.balance() == 1_000 * ONE - 4_100_000
    assert v.orders == {}
    assert v.available() == v.balance()


def test_a_resting_sell_fills_as_maker_when_the_bid_rises() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    v.place(req(UP, BUY, 0.42, 10), START + 2)
    _, events = v.place(req(UP, SELL, 0.48, 10), START + 3)
    assert events == []
    [fill] = fills(v.on_market(book(START + 4, 0.49, 0.51)))
    assert (fill.price, fill.liquidity) == (480_000, Liquidity.MAKER)


def test_partial_fill_is_limited_by_the_displayed_size_and_the_rest_rests() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42, ask_size=6))
    order, events = v.place(req(UP, BUY, 0.42, 10), START + 2)
    [fill] = fills(events)
    assert fill.shares == 6 * ONE
    resting = v.orders[order.order_id]
    assert resting.status is OrderStatus.PARTIALLY_FILLED
    assert resting.remaining == 4 * ONE
    assert v.available() == v.balance() - notional(420_000, 4 * ONE)
    [maker] = fills(v.on_market(book(START + 3, 0.40, 0.42, ask_size=3)))
    assert (maker.shares, maker.liquidity) == (3 * ONE, Liquidity.MAKER)
    [last] = fills(v.on_market(book(START + 4, 0.40, 0.41, ask_size=50)))
    assert last.shares == ONE
    assert order.order_id not in v.orders
    assert len({fill.fill_id, maker.fill_id, last.fill_id}) == 3


def test_liquidity_taken_is_used_up_within_one_tick() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42, ask_size=12))
    _, first = v.place(req(UP, BUY, 0.42, 8), START + 2)
    _, second = v.place(req(UP, BUY, 0.42, 8), START + 2)
    assert fills(first)[0].shares == 8 * ONE
    assert fills(second)[0].shares == 4 * ONE  # only 12 were displayed
    third, events = v.place(req(UP, BUY, 0.42, 5), START + 2)
    assert fills(events) == []  # nothing left at this tick: it rests
    # a new tick brings new liquidity: both resting orders fill as makers, sharing it
    made = fills(v.on_market(book(START + 3, 0.40, 0.42, ask_size=6)))
    assert [f.shares for f in made] == [4 * ONE, 2 * ONE]
    assert v.orders[third.order_id].remaining == 3 * ONE


def test_resting_orders_share_the_liquidity_of_a_tick() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    a, _ = v.place(req(UP, BUY, 0.41, 10), START + 2)
    b, _ = v.place(req(UP, BUY, 0.41, 10), START + 2)
    made = fills(v.on_market(book(START + 3, 0.38, 0.40, ask_size=15)))
    assert [(f.order_id, f.shares) for f in made] == [(a.order_id, 10 * ONE), (b.order_id, 5 * ONE)]


def test_an_order_does_not_fill_on_a_tick_older_than_itself() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    v.place(req(UP, BUY, 0.41, 10), START + 10)
    assert v.on_market(book(START + 5, 0.38, 0.40)) == []


def test_mirrored_liquidity_is_used_up_once_per_tick() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    v.place(req(DOWN, BUY, 0.60, 10), START + 2)  # hold 10 DOWN
    v.on_market(book(START + 3, 0.40, 0.42, ask_size=10))  # 10 UP offered at 0.42 == 10 DOWN bid 0.58
    _, up = v.place(req(UP, BUY, 0.42, 10, OrderType.FAK), START + 4)
    _, down = v.place(req(DOWN, SELL, 0.58, 10, OrderType.FAK), START + 4)
    assert sum(f.shares for f in fills(up + down)) == 10 * ONE


def test_fills_are_in_hundredths_of_a_share_with_unique_ids() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    v.place(req(UP, BUY, 0.41, 20), START + 2)
    first = fills(v.on_market(book(START + 3, 0.38, 0.40, ask_size=12.345)))
    assert first[0].shares == 12_340_000  # displayed 12.345: 12.34 can trade
    assert fills(v.on_market(book(START + 4, 0.38, 0.40, ask_size=0.004))) == []
    second = fills(v.on_market(book(START + 5, 0.38, 0.40, ask_size=3)))
    assert second[0].shares == 3 * ONE
    assert first[0].fill_id != second[0].fill_id


# ---------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize(
    ("request_", "now", "match"),
    [
        (req(UP, BUY, 0.50, 4.99), START + 2, r"size 4\.99 below the minimum 5"),
        (req(UP, BUY, 0.50, 5.001), START + 2, r"more than 2 decimals"),
        (req(UP, BUY, 0.505, 10), START + 2, r"price 0\.505 is not on the tick 0\.01"),
        (req(UP, BUY, 0.0, 10), START + 2, r"outside \[tick, 1 - tick\]"),
        (req(UP, BUY, 0.005, 10), START + 2, r"outside \[tick, 1 - tick\]"),
        (req(UP, BUY, 0.995, 10), START + 2, r"outside \[tick, 1 - tick\]"),
        (req(UP, BUY, 1.0, 10), START + 2, r"outside \[tick, 1 - tick\]"),
        (req(UP, BUY, 0.50, 10, market_id="NOPE"), START + 2, r"unknown market NOPE"),
        (req(UP, BUY, 0.50, 10), START - 1, r"is not open for trading"),
        (req(UP, BUY, 0.50, 10), END, r"is not open for trading"),
    ],
)
def test_invalid_orders_are_refused_with_a_clear_message(
    request_: OrderRequest, now: int, match: str
) -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    with pytest.raises(OrderRefused, match=match):
        v.place(request_, now)
    assert v.orders == {}
    assert v.balance() == 1_000 * ONE


def test_the_price_bounds_themselves_are_accepted() -> None:
    v = venue()
    v.place(req(UP, BUY, 0.01, 5), START + 2)
    v.place(req(UP, BUY, 0.99, 5), START + 2)
    assert len(v.orders) == 2


def test_insufficient_balance_is_refused() -> None:
    v = venue(cash=5, tick=book(START + 1, 0.40, 0.42))
    with pytest.raises(OrderRefused, match=r"insufficient balance: order needs \$5\.50, \$5\.00 available"):
        v.place(req(UP, BUY, 0.50, 11), START + 2)
    v.place(req(UP, BUY, 0.41, 10), START + 2)  # rests and locks 4.10
    with pytest.raises(OrderRefused, match=r"insufficient balance.*\$0\.90 available"):
        v.place(req(UP, BUY, 0.41, 5), START + 2)


def test_balance_check_includes_the_worst_case_taker_fee() -> None:
    # 10 at 0.50 costs 5.00 plus a fee of 10 × 0.02 × 0.25 = 0.05
    v = venue(cash=5.04, fee_rate_ppm=FEE_RATE)
    with pytest.raises(OrderRefused, match="insufficient balance"):
        v.place(req(UP, BUY, 0.50, 10), START + 2)
    v.deposit(10_000)
    v.place(req(UP, BUY, 0.50, 10), START + 2)


def test_selling_more_than_held_is_refused() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    with pytest.raises(OrderRefused, match=r"cannot sell 5\.0 shares: 0\.0 held"):
        v.place(req(UP, SELL, 0.40, 5), START + 2)
    v.place(req(UP, BUY, 0.42, 10), START + 2)
    with pytest.raises(OrderRefused, match=r"cannot sell 11\.0 shares: 10\.0 held"):
        v.place(req(UP, SELL, 0.60, 11), START + 2)
    with pytest.raises(OrderRefused, match="cannot sell"):
        v.place(req(DOWN, SELL, 0.60, 5), START + 2)  # holding UP is not holding DOWN
    v.place(req(UP, SELL, 0.60, 6), START + 2)  # rests; 4 left to sell
    with pytest.raises(OrderRefused, match=r"cannot sell 5\.0 shares: 4\.0 held"):
        v.place(req(UP, SELL, 0.60, 5), START + 2)


def test_fok_not_fully_fillable_is_refused_and_changes_nothing() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42, ask_size=9))
    with pytest.raises(OrderRefused, match="FOK order cannot be filled in full"):
        v.place(req(UP, BUY, 0.42, 10, OrderType.FOK), START + 2)
    with pytest.raises(OrderRefused, match="FOK"):
        v.place(req(UP, BUY, 0.41, 5, OrderType.FOK), START + 2)  # does not cross at all
    assert v.orders == {}
    assert v.balance() == 1_000 * ONE
    _, events = v.place(req(UP, BUY, 0.42, 9, OrderType.FOK), START + 2)
    assert fills(events)[0].shares == 9 * ONE


def test_fok_without_a_book_is_refused() -> None:
    with pytest.raises(OrderRefused, match="FOK"):
        venue().place(req(UP, BUY, 0.50, 5, OrderType.FOK), START + 2)


def test_fak_remainder_is_cancelled() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42, ask_size=7))
    order, events = v.place(req(UP, BUY, 0.42, 10, OrderType.FAK), START + 2)
    [fill] = fills(events)
    [done] = dones(events)
    assert fill.shares == 7 * ONE
    assert (done.order_id, done.status, done.reason) == (
        order.order_id,
        OrderStatus.CANCELLED,
        "FAK remainder",
    )
    assert v.orders == {}
    assert v.available() == v.balance()  # nothing stays locked


def test_fak_that_does_not_cross_is_cancelled_whole() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    _, events = v.place(req(UP, BUY, 0.41, 10, OrderType.FAK), START + 2)
    assert fills(events) == []
    assert [d.status for d in dones(events)] == [OrderStatus.CANCELLED]
    assert v.orders == {}


# ---------------------------------------------------------------------------
# expiry and cancels


def test_gtd_expires_on_poll_at_its_ttl() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    order, _ = v.place(req(UP, BUY, 0.41, 10, OrderType.GTD, expires_ms=START + 100), START + 2)
    assert v.poll(START + 99) == []
    events = v.poll(START + 100)
    [done] = dones(events)
    assert events == [done]
    assert (done.order_id, done.status, done.reason) == (order.order_id, OrderStatus.EXPIRED, "TTL ran out")
    assert v.orders == {}
    assert v.available() == v.balance()
    assert v.poll(START + 200) == []


def test_gtd_expires_on_a_tick_before_it_could_fill() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    order, _ = v.place(req(UP, BUY, 0.41, 10, OrderType.GTD, expires_ms=START + 100), START + 2)
    events = v.on_market(book(START + 100, 0.30, 0.35))  # would cross, but the order has expired
    assert fills(events) == []
    assert [(d.order_id, d.status) for d in dones(events)] == [(order.order_id, OrderStatus.EXPIRED)]


def test_gtd_fills_before_its_ttl() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    v.place(req(UP, BUY, 0.41, 10, OrderType.GTD, expires_ms=START + 100), START + 2)
    assert fills(v.on_market(book(START + 99, 0.30, 0.35)))[0].liquidity is Liquidity.MAKER


def test_cancel_and_cancel_all() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    a, _ = v.place(req(UP, BUY, 0.41, 10), START + 2)
    b, _ = v.place(req(DOWN, BUY, 0.57, 10), START + 2)
    c, _ = v.place(req(UP, BUY, 0.30, 10), START + 2)
    events = v.cancel(a.order_id, START + 3, "operator")
    [done] = dones(events)
    assert events == [done]
    assert (done.order_id, done.status, done.reason) == (a.order_id, OrderStatus.CANCELLED, "operator")
    assert v.cancel(a.order_id, START + 3, "again") == []  # idempotent
    assert v.cancel("nope", START + 3, "unknown") == []
    events = v.cancel_all(START + 4, "PAUSE")
    assert sorted(d.order_id for d in dones(events)) == [b.order_id, c.order_id]
    assert all(d.reason == "PAUSE" for d in dones(events))
    assert v.orders == {}
    assert v.available() == v.balance() == 1_000 * ONE
    assert fills(v.on_market(book(START + 5, 0.10, 0.20))) == []  # cancelled orders never fill


# ---------------------------------------------------------------------------
# settlement


@pytest.mark.parametrize("winner", [UP, DOWN])
def test_settlement_pays_one_per_winning_share_and_cancels_resting_orders(winner: Outcome) -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    v.place(req(UP, BUY, 0.42, 10), START + 2)
    v.place(req(DOWN, BUY, 0.60, 5), START + 2)
    resting, _ = v.place(req(UP, BUY, 0.30, 10), START + 2)
    cash = v.balance()
    events = v.on_market(WindowResolved(END, "BTC-TEST", winner, 101.0))
    [done] = dones(events)
    assert (done.order_id, done.reason) == (resting.order_id, "market resolved")
    settlements = {s.outcome: s for s in events if isinstance(s, Settlement)}
    assert settlements[UP].shares == 10 * ONE
    assert settlements[DOWN].shares == 5 * ONE
    assert settlements[winner].payout == settlements[winner].shares  # 1 USDC per share
    assert settlements[winner.other].payout == 0
    assert all(s.winning is winner for s in settlements.values())
    assert v.balance() == cash + settlements[winner].shares
    assert v.orders == {}
    assert v.holdings == {}
    assert "BTC-TEST" not in v.markets
    assert "BTC-TEST" not in v.books
    assert "BTC-TEST" not in v.ticks
    with pytest.raises(OrderRefused, match="unknown market"):
        v.place(req(UP, BUY, 0.42, 5), START + 3)


def test_settlement_without_holdings_reports_nothing() -> None:
    v = venue(tick=book(START + 1, 0.40, 0.42))
    assert v.on_market(WindowResolved(END, "BTC-TEST", UP, 1.0)) == []
    assert v.balance() == 1_000 * ONE


# ---------------------------------------------------------------------------
# fees


@pytest.mark.parametrize(("bid", "ask"), [(0.40, 0.42), (0.07, 0.09), (0.90, 0.93)])
def test_taker_fee_is_shares_times_rate_times_p_times_one_minus_p(bid: float, ask: float) -> None:
    v = venue(fee_rate_ppm=FEE_RATE, tick=book(START + 1, bid, ask))
    _, events = v.place(req(UP, BUY, ask, 10), START + 2)
    [buy] = fills(events)
    p = round(ask * ONE)
    expected = round(10 * 0.02 * (p / ONE) * (1 - p / ONE) * ONE)
    assert buy.fee == expected == taker_fee(10 * ONE, p, FEE_RATE)
    assert v.balance() == 1_000 * ONE - notional(p, 10 * ONE) - buy.fee
    _, events = v.place(req(UP, SELL, bid, 10), START + 3)
    [sell] = fills(events)
    assert sell.fee == taker_fee(10 * ONE, round(bid * ONE), FEE_RATE) > 0  # takers pay on sells too
    assert (
        v.balance()
        == 1_000 * ONE - notional(p, 10 * ONE) - buy.fee + notional(sell.price, 10 * ONE) - sell.fee
    )


def test_fee_example_and_makers_pay_nothing() -> None:
    v = venue(fee_rate_ppm=FEE_RATE, tick=book(START + 1, 0.48, 0.50))
    _, events = v.place(req(UP, BUY, 0.50, 100), START + 2)
    assert fills(events)[0].fee == 500_000  # 100 × 0.02 × 0.5 × 0.5 = 0.50
    v.place(req(UP, BUY, 0.45, 10), START + 3)
    [maker] = fills(v.on_market(book(START + 4, 0.40, 0.44)))
    assert maker.liquidity is Liquidity.MAKER
    assert maker.fee == 0


def test_settlement_pays_no_fee() -> None:
    v = venue(fee_rate_ppm=FEE_RATE, tick=book(START + 1, 0.48, 0.50))
    v.place(req(UP, BUY, 0.50, 10), START + 2)
    cash = v.balance()
    v.on_market(WindowResolved(END, "BTC-TEST", UP, 1.0))
    assert v.balance() == cash + 10 * ONE
