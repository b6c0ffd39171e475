"""Reconciliation: what the venue's orders say about ours.

- An UNKNOWN order (a post without a readable answer) is looked for by the signed order's
  EIP-712 hash, else by token/side/price/size among orders nobody tracks (closest in time);
  found, it is tracked under the venue's id; after `unknown_grace_s` it is REJECTED. Nothing
  is guessed. A cancel asked while it was UNKNOWN is carried out when it is found.
- An order that left the book without filling becomes an `OrderDone` (cancelled, expired,
  market resolved, invalidated); a filled one's fills come from the trades.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from bot.errors import VenueError
from bot.model import OrderDone, OrderStatus, VenueEvent
from bot.venues.polymarket import wire
from bot.venues.polymarket.reads import AccountReads
from bot.venues.polymarket.tracking import OrderTracking, Tracked

log = logging.getLogger(__name__)

Cancel = Callable[[str, int, str], list[VenueEvent]]  # (order id, now ms, reason) -> events


class Reconciler:
    def __init__(
        self, tracking: OrderTracking, reads: AccountReads, cancel: Cancel, unknown_grace_s: float
    ) -> None:
        self._tracking = tracking
        self._reads = reads
        self._cancel = cancel
        self.unknown_grace_s = unknown_grace_s

    def reconcile(
        self,
        open_rows: Mapping[str, wire.VenueOrder],
        trades: list[wire.TradeFill],
        now_s: float,
        only: list[Tracked] | None = None,
        lookups: Mapping[str, wire.VenueOrder | None] | None = None,
        covered: frozenset[str] | None = None,
    ) -> list[VenueEvent]:
        """Find the venue's id of orders whose post had no readable answer. With `lookups`
        (a read made elsewhere) nothing is fetched: only the `covered` orders are looked for."""
        targets = list(self._tracking.unresolved if only is None else only)
        if covered is not None:
            targets = [t for t in targets if t.order_id in covered]
        if not targets:
            return []
        if only is not None and not open_rows:
            open_rows = self._reads.fetch_open_orders(now_s)
        fetch = self._reads.fetch_order if lookups is None else lookups.get
        candidates = {v: row for v, row in open_rows.items() if v not in self._tracking.by_venue}
        for tf in trades:
            v = tf.venue_order_id
            if v not in self._tracking.by_venue and v not in candidates and (row := fetch(v)) is not None:
                candidates[v] = row
        events: list[VenueEvent] = []
        for tracked in targets:
            row = None
            hashed = tracked.prepared.order_hash if tracked.prepared else tracked.order_id
            if hashed:
                row = candidates.get(hashed)
                if row is None and hashed not in self._tracking.by_venue:
                    row = fetch(hashed)
            if row is None:
                matching = [r for r in candidates.values() if tracked.matches(r)]
                row = min(matching, key=tracked.distance, default=None)
            age = now_s - tracked.sent_s
            if row is not None:
                candidates.pop(row.order_id, None)
                events += self._resolved(tracked, row, now_s)
            elif age > self.unknown_grace_s:
                self._tracking.unresolved.remove(tracked)
                tracked.final = OrderStatus.REJECTED
                why = tracked.unknown_reason
                log.warning("order %s never reached the venue (%s)", tracked.order_id, why)
                reason = f"not found at the venue {age:.0f} s after a post without answer"
                done = OrderDone(tracked.order_id, int(now_s * 1000), OrderStatus.REJECTED, reason)
                events.append(done)
        return events

    def _resolved(self, tracked: Tracked, row: wire.VenueOrder, now_s: float) -> list[VenueEvent]:
        self._tracking.found(tracked, row.order_id)
        log.info("order %s found at the venue as %s (%s)", tracked.order_id, row.order_id, row.raw_status)
        if tracked.cancel_reason and row.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
            return self._pending_cancel(tracked, int(now_s * 1000))
        return self.left_book(tracked, row, int(now_s * 1000))

    def _pending_cancel(self, tracked: Tracked, now_ms: int) -> list[VenueEvent]:
        """The cancel asked while the order was UNKNOWN; tried again at each poll until done."""
        try:
            return self._cancel(tracked.order_id, now_ms, tracked.cancel_reason)
        except VenueError as exc:
            log.warning(
                "order %s: the pending cancel failed, next poll tries again (%s)", tracked.order_id, exc
            )
            return []

    def departures(
        self,
        open_rows: Mapping[str, wire.VenueOrder],
        now_ms: int,
        now_s: float,
        lookups: Mapping[str, wire.VenueOrder | None] | None = None,
    ) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        for venue_id, tracked in list(self._tracking.by_venue.items()):
            if tracked.cancel_reason and not tracked.done and venue_id in open_rows:
                events += self._pending_cancel(tracked, now_ms)
            if tracked.done or venue_id in open_rows:
                continue
            if lookups is None:
                row = self._reads.fetch_order(venue_id)
            elif venue_id in lookups:
                row = lookups[venue_id]
            else:  # placed after the read was asked for: the next read looks
                continue
            if row is None:
                continue
            events += self.left_book(tracked, row, now_ms)
        return events

    @staticmethod
    def left_book(tracked: Tracked, row: wire.VenueOrder, now_ms: int) -> list[VenueEvent]:
        if row.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
            return []
        tracked.final = row.status
        if row.status is OrderStatus.FILLED:
            return []  # its fills come from the trades
        reasons = {
            "CANCELED_MARKET_RESOLVED": "market resolved",
            "INVALID": "the venue invalidated the order",
        }
        default = "expired" if row.status is OrderStatus.EXPIRED else "cancelled at the venue"
        reason = reasons.get(row.raw_status, default)
        return [OrderDone(tracked.order_id, now_ms, row.status, reason)]
