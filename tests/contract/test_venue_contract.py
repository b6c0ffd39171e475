"""One behaviour suite for every venue: the paper venue and the live Polymarket venue (real
py-clob-client-v2 signing against the local CLOB V2 server) must agree on what they report.

Each venue comes with a small harness: `cross` makes another trader sell into our resting
BUY at a price (paper: a new book tick; live: ``server.cross`` then ``poll``) and returns the
events that produces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count

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
    Micros,
    OrderDone,
    OrderRequest,
    OrderStatus,
    OrderType,
    Outcome,
    VenueEvent,
    WindowOpened,
    notional,
    now_ms,
    taker_fee,
)
from bot.venues.base import Venue
from bot.venues.paper import PaperVenue

KEY = "0x" + "11" * 32  # a throwaway key, not a wallet
COND = "0x" + "c0" * 32
UP, DOWN = "1001", "1002"
FEE_PPM = 70_000
START_CASH = 1_000 * ONE


@dataclass
class Harness:
    venue: Venue
    market_id: str
    cross: Callable[[Outcome, Micros, Micros], list[VenueEvent]]


def paper_harness() -> Iterator[Harness]:
    now = now_ms()
    market = Market(
        COND,
        "BTC",
        "BTC up or down",
        now - 3_600_000,
        now + 3_600_000,
        tick=10_000,
        min_size=5 * ONE,
        fee_rate_ppm=FEE_PPM,
        token_ids=(UP, DOWN),
    )
    venue = PaperVenue(cash=START_CASH)
    venue.on_market(WindowOpened(now, market))
    venue.on_market(BookTick(now, COND, 480_000, 100 * ONE, 520_000, 100 * ONE))
    later = count(now_ms() + 1_000)

    def cross(outcome: Outcome, price: Micros, size: Micros) -> list[VenueEvent]:
        ts = next(later)
        if outcome is Outcome.UP:  # someone sells UP at `price`
            return venue.on_market(BookTick(ts, COND, price - 10_000, 100 * ONE, price, size))
        return venue.on_market(BookTick(ts, COND, ONE - price, size, ONE - price + 10_000, 100 * ONE))

    yield Harness(venue, COND, cross)


def live_harness() -> Iterator[Harness]:
    from bot.testing.clob_server import ClobServer
    from bot.venues.polymarket import PolymarketCredentials, PolymarketVenue

    with ClobServer(trade_settle_s=0.2, default_balance=START_CASH / ONE) as server:
        server.add_market(COND, (UP, DOWN), tick=0.01, min_size=5, fee_rate=FEE_PPM / ONE)
        server.set_book(UP, bids=[(0.48, 100)], asks=[(0.52, 100)])
        server.set_book(DOWN, bids=[(0.48, 100)], asks=[(0.52, 100)])  # the mirror of UP
        venue = PolymarketVenue(server.url, credentials=PolymarketCredentials(KEY, *server.creds))
        [market] = venue.validate_markets([COND])

        def cross(outcome: Outcome, price: Micros, size: Micros) -> list[VenueEvent]:
            server.cross(UP if outcome is Outcome.UP else DOWN, price / ONE, size / ONE)
            return venue.poll(now_ms())

        try:
            yield Harness(venue, market.market_id, cross)
        finally:
            venue.close()


@pytest.fixture(params=["paper", "live"])
def h(request: pytest.FixtureRequest) -> Iterator[Harness]:
    yield from paper_harness() if request.param == "paper" else live_harness()


_ids = count(1)


def req(
    price: float,
    size: float,
    outcome: Outcome = Outcome.UP,
    action: Action = Action.BUY,
    order_type: OrderType = OrderType.GTC,
) -> OrderRequest:
    return OrderRequest(
        f"contract-{next(_ids)}",
        COND,
        outcome,
        action,
        round(price * ONE),
        round(size * ONE),
        order_type,
        None,
        Intent.ENTRY,
    )


def fills(events: list[VenueEvent]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def test_resting_buy_is_acknowledged_open(h: Harness) -> None:
    order, events = h.venue.place(req(0.45, 10), now_ms())
    assert (order.status, order.price, order.size, order.filled) == (OrderStatus.OPEN, 450_000, 10 * ONE, 0)
    assert (order.market_id, order.outcome, order.action) == (COND, Outcome.UP, Action.BUY)
    assert events == []
    assert h.venue.poll(now_ms()) == []


@pytest.mark.parametrize("outcome", [Outcome.UP, Outcome.DOWN])
def test_crossing_buy_takes_at_the_touch(h: Harness, outcome: Outcome) -> None:
    order, events = h.venue.place(req(0.55, 5, outcome), now_ms())
    [fill] = fills(events)
    assert (fill.order_id, fill.outcome, fill.action, fill.liquidity) == (
        order.order_id,
        outcome,
        Action.BUY,
        Liquidity.TAKER,
    )
    assert (fill.price, fill.shares) == (520_000, 5 * ONE)  # the best ask, not our limit
    assert fill.fee == taker_fee(5 * ONE, 520_000, FEE_PPM)
    assert h.venue.poll(now_ms()) == []  # reported once


def test_resting_order_crossed_later_fills_as_maker(h: Harness) -> None:
    order, _ = h.venue.place(req(0.45, 10), now_ms())
    [fill] = fills(h.cross(Outcome.UP, 450_000, 10 * ONE))
    assert (fill.order_id, fill.price, fill.shares, fill.fee) == (order.order_id, 450_000, 10 * ONE, 0)
    assert fill.liquidity is Liquidity.MAKER
    assert h.venue.poll(now_ms()) == []


def test_partial_fill_then_cancel_keeps_the_filled_part(h: Harness) -> None:
    order, _ = h.venue.place(req(0.45, 10), now_ms())
    [fill] = fills(h.cross(Outcome.UP, 450_000, 4 * ONE))
    assert (fill.shares, fill.liquidity) == (4 * ONE, Liquidity.MAKER)
    [done] = h.venue.cancel(order.order_id, now_ms(), "test")
    assert isinstance(done, OrderDone)
    assert (done.order_id, done.status) == (order.order_id, OrderStatus.CANCELLED)
    assert h.venue.poll(now_ms()) == []
    assert h.venue.balance() == START_CASH - notional(450_000, 4 * ONE)


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(req(0.005, 10), id="price-off-the-tick-range"),
        pytest.param(req(0.45, 2), id="below-min-size"),
        pytest.param(req(0.50, 5_000), id="insufficient-balance"),
        pytest.param(req(0.60, 5, action=Action.SELL), id="selling-shares-not-held"),
    ],
)
def test_refused_orders(h: Harness, request_: OrderRequest) -> None:
    with pytest.raises(OrderRefused):
        h.venue.place(request_, now_ms())
    assert h.venue.cancel_all(now_ms(), "nothing rests") == []
    assert h.venue.balance() == START_CASH


def test_cancel_all(h: Harness) -> None:
    first, _ = h.venue.place(req(0.40, 5), now_ms())
    second, _ = h.venue.place(req(0.41, 5, Outcome.DOWN), now_ms())
    events = h.venue.cancel_all(now_ms(), "flatten")
    assert sorted((e.order_id, e.status) for e in events if isinstance(e, OrderDone)) == sorted(
        [(first.order_id, OrderStatus.CANCELLED), (second.order_id, OrderStatus.CANCELLED)]
    )
    assert h.venue.poll(now_ms()) == []
    assert h.venue.cancel_all(now_ms(), "again") == []


def test_balance_in_micros(h: Harness) -> None:
    assert h.venue.balance() == START_CASH
    h.venue.place(req(0.55, 10), now_ms())  # takes 10 at 0.52 plus the taker fee
    spent = notional(520_000, 10 * ONE) + taker_fee(10 * ONE, 520_000, FEE_PPM)
    assert abs(h.venue.balance() - (START_CASH - spent)) <= 1  # the server rounds its fee in floats
