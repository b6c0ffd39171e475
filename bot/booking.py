"""Order booking: what the venue reports, written into the books.

`OrderBooking.apply(events)` books fills, expiries, cancellations and settlements into the
portfolio, the journal and the activity feed. It never talks to the venue: placing orders
and asking the venue for news is `bot/orders.py` (`OrderManager`, which is an `OrderBooking`).

A venue may report a fill twice (booked once, by fill id), a fill may arrive after its order
was cancelled or closed (kept in `_done` for late fills), and a fill for an order nobody knows
is never dropped (`_orphan`, bot/orphans.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bot.activity import Activity
from bot.exits import Lifecycle
from bot.journal import Journal
from bot.model import (
    ONE,
    Fill,
    Intent,
    Order,
    OrderDone,
    OrderStatus,
    Position,
    Settlement,
    VenueEvent,
    iso,
    notional,
)
from bot.orphans import orphan_order
from bot.portfolio import Portfolio
from bot.sentences import OrderClosed, OrderFilled, OrphanFill, PositionClosed


class OrderBooking:
    """The booking half of the order manager; the attributes are set by `OrderManager`."""

    journal: Journal
    portfolio: Portfolio
    activity: Activity
    orders: dict[str, Order]  # open orders
    _done: dict[str, Order]  # recently closed, for late fills
    _orphans: set[str]  # orders made up for fills nobody knew: their size is what is filled
    on_settled: Callable[[Settlement, Position | None], None]
    on_orphan_fill: Callable[[Fill], None] | None

    def apply(self, events: Iterable[VenueEvent]) -> None:
        for event in events:
            if isinstance(event, Fill):
                self._on_fill(event)
            elif isinstance(event, OrderDone):
                self._on_done(event)
            else:
                self._on_settlement(event)

    def _order(self, order_id: str) -> Order | None:
        return self.orders.get(order_id) or self._done.get(order_id)

    def _on_fill(self, fill: Fill) -> None:
        if self.journal.has_fill(fill.fill_id):
            return  # a venue may report a fill twice
        order = self._order(fill.order_id)
        if order is None:
            order = self._orphan(fill)
            if order is None:
                return
        if order.order_id in self._orphans:  # its size is what the venue reports filled
            order.size += fill.shares
        order.filled = min(order.size, order.filled + fill.shares)
        position, closed = self.portfolio.on_fill(fill, order)
        if order.order_id in self.orders:  # a fill after a cancel is booked, status kept
            if order.remaining:
                order.status = OrderStatus.PARTIALLY_FILLED
            else:
                order.status = OrderStatus.FILLED
                self._retire(order)
        self.journal.save_order(order, self.portfolio.mode, fill.ts_ms)
        amount = notional(fill.price, fill.shares)
        self.activity.emit(fill.ts_ms, OrderFilled(fill, order))
        self.activity.trade(
            {
                "timestamp": iso(fill.ts_ms),
                "fill_id": fill.fill_id,
                "order_id": fill.order_id,
                "market_id": fill.market_id,
                "side": fill.outcome.value,
                "action": fill.action.value,
                "price": fill.price / ONE,
                "shares": fill.shares / ONE,
                "amount": amount / ONE,
                "fee": fill.fee / ONE,
                "liquidity": fill.liquidity.value,
                "strategy": order.strategy,
                "intent": order.intent.value,
                "mode": self.portfolio.mode.value,
            }
        )
        if closed:
            self._exit_activity(position, fill.ts_ms)

    def _orphan(self, fill: Fill) -> Order | None:
        """A fill for an order the journal does not know is never dropped (bot/orphans.py)."""
        order, note = orphan_order(fill, self.portfolio.positions.get((fill.market_id, fill.outcome)))
        self.activity.emit(fill.ts_ms, OrphanFill(fill, note))
        if self.on_orphan_fill is not None:
            self.on_orphan_fill(fill)
        if order is not None:
            self._done[order.order_id] = order
            self._orphans.add(order.order_id)
        return order

    def _on_done(self, done: OrderDone) -> None:
        order = self.orders.get(done.order_id)
        if order is None:
            return
        order.status = done.status
        order.reason = done.reason
        self._retire(order)
        self.journal.save_order(order, self.portfolio.mode, done.ts_ms)
        position = self.portfolio.positions.get((order.market_id, order.outcome))
        if order.intent is Intent.ENTRY and position is not None and position.state == Lifecycle.ENTRY:
            position.state = Lifecycle.MONITORING
            self.journal.save_position(position, self.portfolio.mode, "OPEN", None)
        if order.intent is Intent.EXIT and order.filled and not order.remaining:
            return
        self.activity.emit(done.ts_ms, OrderClosed(done, order))

    def _on_settlement(self, s: Settlement) -> None:
        position = self.portfolio.on_settlement(s)
        self.on_settled(s, position)
        if position is not None:
            self._exit_activity(position, s.ts_ms)

    def _exit_activity(self, p: Position, ts: int) -> None:
        self.activity.emit(ts, PositionClosed(p))

    def _retire(self, order: Order) -> None:
        self.orders.pop(order.order_id, None)
        self._done[order.order_id] = order
        if len(self._done) > 1000:
            for key in list(self._done)[:500]:
                del self._done[key]
