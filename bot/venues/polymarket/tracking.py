"""Our orders at the venue and the trades already booked: the tracking the live venue keeps.

An order is known by the id the caller holds; its venue id is None while it is UNKNOWN (a
post without a readable answer: see reconcile.py). Each trade becomes a fill once (by fill
id); a trade not final yet waits, a trade that FAILED on chain after it was booked is kept in
`failed_fills` for the supervisor to report.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.model import Action, Micros, Order, OrderStatus, Outcome, VenueEvent
from bot.venues.polymarket import wire
from bot.venues.polymarket.poll import PollRequest
from bot.venues.polymarket.signing import PreparedOrder

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Tracked:
    """One of our orders at the venue, known by the id the caller holds (`order_id`)."""

    order_id: str
    market: wire.MarketInfo
    outcome: Outcome
    token_id: str
    action: Action
    price: Micros
    size: Micros
    sent_s: float
    prepared: PreparedOrder | None = None
    venue_id: str | None = None  # None until the venue's id is known
    final: OrderStatus | None = None  # how it left the book; its fills still map to it
    unknown_reason: str = ""
    cancel_reason: str = ""  # a cancel asked while it was UNKNOWN: done when it is found

    @property
    def done(self) -> bool:
        return self.final is not None

    def matches(self, row: wire.VenueOrder, slack_s: float = 5.0) -> bool:
        return (
            row.token_id == self.token_id
            and row.action is self.action
            and row.price == self.price
            and row.size == self.size
            and (row.created_s is None or row.created_s >= self.sent_s - slack_s)
        )

    def distance(self, row: wire.VenueOrder) -> float:
        """How far apart in time our post and the venue's order are (closest match wins)."""
        return abs((row.created_s if row.created_s is not None else self.sent_s) - self.sent_s)


@dataclass
class TradeLog:
    """Trades already turned into fills (by fill id) and the query window for the next poll."""

    after_s: float
    seen: dict[str, float] = field(default_factory=dict)  # fill id → match time (s)
    pending: dict[str, float] = field(default_factory=dict)  # not final yet → match time (s)
    failed: set[str] = field(default_factory=set)  # FAILED: never a fill


class OrderTracking:
    """Every order this run placed or restored, by the caller's id and by the venue's."""

    def __init__(self, after_s: float) -> None:
        self.orders: dict[str, Tracked] = {}  # by the caller's order id
        self.by_venue: dict[str, Tracked] = {}  # by the venue's order id
        self.unresolved: list[Tracked] = []  # venue id not known yet
        self.trades = TradeLog(after_s=after_s)
        self.failed_fills: list[wire.TradeFill] = []  # reported fills whose trade later FAILED

    def placed(self, tracked: Tracked, venue_id: str) -> None:
        """An order the venue acknowledged under `venue_id`."""
        tracked.venue_id = venue_id
        self.orders[tracked.order_id] = tracked
        self.by_venue[venue_id] = tracked

    def unknown(self, tracked: Tracked, why: str) -> None:
        """An order whose post may have placed it: looked for until found or given up."""
        self.orders[tracked.order_id] = tracked
        tracked.unknown_reason = why
        if tracked not in self.unresolved and tracked.venue_id is None:
            self.unresolved.append(tracked)

    def found(self, tracked: Tracked, venue_id: str) -> None:
        """An UNKNOWN order found at the venue."""
        self.unresolved.remove(tracked)
        tracked.venue_id = venue_id
        self.by_venue[venue_id] = tracked

    def known_venue_ids(self) -> set[str]:
        return set(self.by_venue) | {t.venue_id for t in self.orders.values() if t.venue_id}

    def restore(
        self, orders: Iterable[Order], markets: Mapping[str, wire.MarketInfo], overlap_s: float
    ) -> None:
        """Track the open orders of a previous run in `markets`; the trade window goes back
        to the oldest of them."""
        oldest_s = self.trades.after_s
        for order in orders:
            info = markets.get(order.market_id)
            if info is None or not order.status.is_open:
                continue
            tracked = Tracked(
                order.order_id,
                info,
                order.outcome,
                info.token_for(order.outcome),
                order.action,
                order.price,
                order.size,
                order.created_ms / 1000,
            )
            self.orders[order.order_id] = tracked
            if order.status is OrderStatus.UNKNOWN:
                tracked.unknown_reason = "restored as UNKNOWN"
                self.unresolved.append(tracked)
            else:
                tracked.venue_id = order.order_id
                self.by_venue[order.order_id] = tracked
            oldest_s = min(oldest_s, tracked.sent_s - overlap_s)
        self.trades.after_s = oldest_s

    def order_status(self, order_id: str) -> OrderStatus | None:
        """UNKNOWN until the venue's id is found, OPEN while it may rest, then how it left
        the book (FILLED, CANCELLED, EXPIRED, REJECTED)."""
        tracked = self.orders.get(order_id)
        if tracked is None:
            return None
        if tracked.final is not None:
            return tracked.final
        return OrderStatus.UNKNOWN if tracked.venue_id is None else OrderStatus.OPEN

    def venue_order_id(self, order_id: str) -> str | None:
        tracked = self.orders.get(order_id)
        return tracked.venue_id if tracked else None

    def poll_request(self) -> PollRequest:
        """What the next read must look up (caller's thread: a snapshot of the tracking)."""
        unresolved = tuple(self.unresolved)
        return PollRequest(
            after_s=self.trades.after_s,
            tracked=tuple(v for v, t in self.by_venue.items() if not t.done),
            known=frozenset(self.by_venue),
            hashes=tuple(h for t in unresolved if (h := t.prepared.order_hash if t.prepared else t.order_id)),
            covered=frozenset(t.order_id for t in unresolved),
        )

    def book_fills(self, trades: list[wire.TradeFill]) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        seen = self.trades.seen
        for tf in trades:
            key = tf.fill.fill_id
            match_s = tf.fill.ts_ms / 1000
            if tf.state is wire.TradeState.FAILED:
                self.trades.pending.pop(key, None)
                if key in seen and key not in self.trades.failed:
                    log.error("trade %s was booked as a fill but FAILED on chain", tf.trade_id)
                    self.failed_fills.append(tf)
                self.trades.failed.add(key)
                continue
            if key in seen:
                continue
            if tf.state is wire.TradeState.PENDING:
                self.trades.pending[key] = match_s
                continue
            self.trades.pending.pop(key, None)
            seen[key] = match_s
            tracked = self.by_venue.get(tf.venue_order_id)
            order_id = tracked.order_id if tracked is not None else tf.venue_order_id
            if tracked is None:
                log.warning("fill %s for order %s that this run did not place", key, tf.venue_order_id)
            events.append(dataclasses.replace(tf.fill, order_id=order_id))
        return events

    def advance_trade_window(self, start_s: float, overlap_s: float) -> None:
        after = start_s - overlap_s
        if self.trades.pending:
            after = min(after, min(self.trades.pending.values()) - 1)
        self.trades.after_s = after
        horizon = after - 3600
        for key in [k for k, t in self.trades.seen.items() if t < horizon]:
            del self.trades.seen[key]
