"""The paper venue: a simulated exchange fed by market data, with exact money.

Fill model:
- An order that crosses the book when placed takes liquidity at once (TAKER) at the
  best price, up to the displayed size; the taker fee is
  `shares × rate × p × (1 − p)`, rounded half up to the micro.
- What is left rests (GTC, GTD) or is cancelled (FAK); a FOK that cannot fill in full is
  refused. A resting order fills as MAKER at its own price when a later book crosses it,
  again up to the displayed size, and pays no fee.
- Liquidity taken at a tick is used up until the next tick of that market.
- GTD orders expire at their time-to-live; at resolution resting orders are cancelled
  and held tokens pay 1 (winner) or 0.

The venue keeps its own cash and token holdings, as a real exchange would, so the engine
can check its balance against the venue's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bot.errors import OrderRefused
from bot.model import (
    ONE,
    Action,
    BookTick,
    Fill,
    Liquidity,
    Market,
    MarketEvent,
    Micros,
    Mode,
    Order,
    OrderDone,
    OrderRequest,
    OrderStatus,
    OrderType,
    Outcome,
    Settlement,
    VenueEvent,
    WindowOpened,
    WindowResolved,
    book_for,
    notional,
    payout_per_share,
    taker_fee,
    usd,
)


@dataclass(slots=True)
class _Book:
    tick: BookTick
    taken: dict[bool, Micros]  # liquidity used since this tick: True = the UP ask side


class PaperVenue:
    def __init__(self, mode: Mode = Mode.PAPER, *, cash: Micros = 0, id_prefix: str = "P") -> None:
        self.mode = mode
        self.cash = cash
        self.holdings: dict[tuple[str, Outcome], Micros] = {}
        self.orders: dict[str, Order] = {}
        self.markets: dict[str, Market] = {}
        self.ticks: dict[str, BookTick] = {}  # the last book of each market
        self.books: dict[str, _Book] = {}  # the last book and what our fills took from it
        self.id_prefix = id_prefix
        self._seq = 0

    # -- set-up ---------------------------------------------------------------------------

    def restore(
        self,
        cash: Micros,
        orders: list[Order],
        holdings: dict[tuple[str, Outcome], Micros],
        markets: list[Market],
    ) -> None:
        self.cash = cash
        self.orders = {o.order_id: dataclasses.replace(o) for o in orders if o.status.is_open}
        self.holdings = dict(holdings)
        for m in markets:
            self.markets[m.market_id] = m

    def resume_books(
        self,
        session_id: int,
        cash: Micros,
        orders: list[Order],
        holdings: dict[tuple[str, Outcome], Micros],
        markets: list[Market],
    ) -> None:
        """`SimulatesFills`: continue the journal's books; new order ids carry the session."""
        self.id_prefix = f"{self.id_prefix[:1]}{session_id}-"
        self.restore(cash, orders, holdings, markets)

    def deposit(self, amount: Micros) -> None:
        self.cash += amount

    # -- the venue port -------------------------------------------------------------

    def balance(self) -> Micros:
        return self.cash

    def available(self) -> Micros:
        return self.cash - sum(o.locked for o in self.orders.values())

    def place(self, request: OrderRequest, now_ms: int) -> tuple[Order, list[VenueEvent]]:
        market = self.markets.get(request.market_id)
        if market is None:
            raise OrderRefused(f"unknown market {request.market_id}")
        if not market.window_start_ms <= now_ms < market.window_end_ms:
            raise OrderRefused(f"market {request.market_id} is not open for trading")
        if not market.tick <= request.price <= ONE - market.tick:
            raise OrderRefused(f"price {request.price / ONE} outside [tick, 1 - tick]")
        if request.price % market.tick:
            raise OrderRefused(f"price {request.price / ONE} is not on the tick {market.tick / ONE}")
        if request.size < market.min_size:
            raise OrderRefused(f"size {request.size / ONE} below the minimum {market.min_size / ONE}")
        if request.size % 10_000:
            raise OrderRefused(f"size {request.size / ONE} has more than 2 decimals")
        if request.action is Action.BUY:
            cost = notional(request.price, request.size)
            worst_fee = taker_fee(request.size, request.price, market.fee_rate_ppm)
            if cost + worst_fee > self.available():
                raise OrderRefused(
                    f"insufficient balance: order needs {usd(cost + worst_fee)},"
                    f" {usd(self.available())} available"
                )
        else:
            held = self.holdings.get((request.market_id, request.outcome), 0)
            selling = sum(
                o.remaining
                for o in self.orders.values()
                if o.action is Action.SELL
                and o.market_id == request.market_id
                and o.outcome is request.outcome
            )
            if request.size > held - selling:
                raise OrderRefused(f"cannot sell {request.size / ONE} shares: {(held - selling) / ONE} held")
        self._seq += 1
        order = Order(
            order_id=f"{self.id_prefix}{self._seq:06d}",
            market_id=request.market_id,
            outcome=request.outcome,
            action=request.action,
            price=request.price,
            size=request.size,
            order_type=request.order_type,
            intent=request.intent,
            created_ms=now_ms,
            expires_ms=request.expires_ms,
        )
        ack = dataclasses.replace(order)  # the caller's copy; fills reach it as events
        events: list[VenueEvent] = []
        book = self._book(request.market_id)
        available = self._crossing_size(order, book) if book else 0
        if order.order_type is OrderType.FOK and available < order.size:
            raise OrderRefused("FOK order cannot be filled in full at once")
        if available and book is not None:
            price = self._touch(order, book)
            events.append(self._fill(order, min(available, order.size), price, now_ms, book))
        if order.remaining and order.order_type is OrderType.FAK:
            order.status = OrderStatus.CANCELLED
            events.append(OrderDone(order.order_id, now_ms, order.status, "FAK remainder"))
        if order.status.is_open:
            self.orders[order.order_id] = order
        return ack, events

    def cancel(self, order_id: str, now_ms: int, reason: str) -> list[VenueEvent]:
        order = self.orders.pop(order_id, None)
        if order is None:
            return []
        order.status = OrderStatus.CANCELLED
        return [OrderDone(order_id, now_ms, OrderStatus.CANCELLED, reason)]

    def cancel_all(self, now_ms: int, reason: str) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        for order_id in list(self.orders):
            events.extend(self.cancel(order_id, now_ms, reason))
        return events

    def poll(self, now_ms: int) -> list[VenueEvent]:
        if not self.orders:
            return []
        events: list[VenueEvent] = []
        for order in list(self.orders.values()):
            if order.expires_ms is not None and now_ms >= order.expires_ms:
                del self.orders[order.order_id]
                order.status = OrderStatus.EXPIRED
                events.append(OrderDone(order.order_id, now_ms, OrderStatus.EXPIRED, "TTL ran out"))
        return events

    def on_market(self, event: MarketEvent) -> list[VenueEvent]:
        if type(event) is BookTick:
            if not self.orders:  # most ticks of a backtest: the book, and nothing to fill
                self.ticks[event.market_id] = event
                return []
            return self._on_tick(event)
        if isinstance(event, WindowOpened):
            self.markets[event.market.market_id] = event.market
            return []
        if isinstance(event, WindowResolved):
            return self._settle(event)
        return []

    # -- internals ------------------------------------------------------------------

    def _on_tick(self, tick: BookTick) -> list[VenueEvent]:
        self.ticks[tick.market_id] = tick
        if not self.orders:
            return []
        book = self._book(tick.market_id)
        assert book is not None
        events: list[VenueEvent] = self.poll(tick.ts_ms)
        for order in list(self.orders.values()):
            if order.market_id != tick.market_id or order.created_ms > tick.ts_ms:
                continue
            size = self._crossing_size(order, book)
            if size:
                events.append(self._fill(order, size, order.price, tick.ts_ms, book, maker=True))
        return events

    def _book(self, market_id: str) -> _Book | None:
        tick = self.ticks.get(market_id)
        if tick is None:
            return None
        book = self.books.get(market_id)
        if book is None or book.tick is not tick:  # a new book: nothing taken from it yet
            book = self.books[market_id] = _Book(tick, {})
        return book

    def _crossing_size(self, order: Order, book: _Book) -> Micros:
        bid, bid_size, ask, ask_size = book_for(book.tick, order.outcome)
        if order.action is Action.BUY:
            crosses, size = order.price >= ask, ask_size
        else:
            crosses, size = order.price <= bid, bid_size
        if not crosses:
            return 0
        left = size - book.taken.get(_up_ask_side(order), 0)
        left -= left % 10_000  # shares trade in hundredths
        return max(0, min(left, order.remaining))

    @staticmethod
    def _touch(order: Order, book: _Book) -> Micros:
        bid, _, ask, _ = book_for(book.tick, order.outcome)
        return ask if order.action is Action.BUY else bid

    def _fill(
        self, order: Order, shares: Micros, price: Micros, ts: int, book: _Book, maker: bool = False
    ) -> Fill:
        market = self.markets[order.market_id]
        fee = 0 if maker else taker_fee(shares, price, market.fee_rate_ppm, market.fee_exponent)
        key = _up_ask_side(order)
        book.taken[key] = book.taken.get(key, 0) + shares
        fill_id = f"{order.order_id}-{order.filled}"  # filled so far, in micros: unique per order
        amount = notional(price, shares)
        holding = (order.market_id, order.outcome)
        if order.action is Action.BUY:
            self.cash -= amount + fee
            self.holdings[holding] = self.holdings.get(holding, 0) + shares
        else:
            self.cash += amount - fee
            self.holdings[holding] = self.holdings.get(holding, 0) - shares
        order.filled += shares
        order.status = OrderStatus.FILLED if not order.remaining else OrderStatus.PARTIALLY_FILLED
        if not order.remaining:
            self.orders.pop(order.order_id, None)
        return Fill(
            fill_id=fill_id,
            order_id=order.order_id,
            ts_ms=ts,
            market_id=order.market_id,
            outcome=order.outcome,
            action=order.action,
            price=price,
            shares=shares,
            fee=fee,
            liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
        )

    def _settle(self, event: WindowResolved) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        for order in [o for o in self.orders.values() if o.market_id == event.market_id]:
            events.extend(self.cancel(order.order_id, event.ts_ms, "market resolved"))
        for outcome in (Outcome.UP, Outcome.DOWN):
            shares = self.holdings.pop((event.market_id, outcome), 0)
            if shares:
                payout = notional(payout_per_share(event.outcome, outcome), shares)
                self.cash += payout
                events.append(
                    Settlement(event.ts_ms, event.market_id, outcome, shares, payout, event.outcome)
                )
        self.markets.pop(event.market_id, None)
        self.books.pop(event.market_id, None)
        self.ticks.pop(event.market_id, None)
        return events


def _up_ask_side(order: Order) -> bool:
    """Both books are one: buying UP and selling DOWN take the same liquidity (the UP ask)."""
    return (order.outcome is Outcome.UP) == (order.action is Action.BUY)
