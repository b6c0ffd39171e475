"""Placing an order on the CLOB: sign, POST within the confirmation window, and say what
happened.

- Acknowledged: tracked under the venue's id; a matched order's fills are read at once (the
  next poll reports any missed), a FAK/FOK remainder is cancelled.
- No readable answer (a timeout, a dropped connection, an unreadable answer, any 5xx) or a
  "duplicate" refusal: the order may have landed. It is given back UNKNOWN under the signed
  order's EIP-712 hash, which is the venue's order id, and reconcile.py looks for it.
- A refusal naming the tick: ``/tick-size`` is read again and the order re-signed once.
- The same refusal for no balance or allowance `refusal_limit` times in a row: `VenueFatal`
  (pacing.RefusalStreak).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from bot.errors import OrderRefused, VenueError
from bot.model import Action, Order, OrderDone, OrderRequest, OrderStatus, OrderType, VenueEvent
from bot.venues.polymarket import wire
from bot.venues.polymarket.markets import MarketCatalogue
from bot.venues.polymarket.pacing import RefusalStreak
from bot.venues.polymarket.reads import AccountReads
from bot.venues.polymarket.signing import OrderFactory, PreparedOrder
from bot.venues.polymarket.tracking import OrderTracking, Tracked
from bot.venues.polymarket.transport import NoAnswer, Transport, Unavailable

log = logging.getLogger(__name__)


class Placer:
    def __init__(
        self,
        *,
        transport: Transport,
        factory: OrderFactory,
        catalogue: MarketCatalogue,
        tracking: OrderTracking,
        reads: AccountReads,
        clock: Callable[[], float],
        confirm_timeout_s: float,
        trade_overlap_s: float,
        refresh_tick_each_place: bool,
        refusal_limit: int,
    ) -> None:
        self._transport = transport
        self._factory = factory
        self._catalogue = catalogue
        self._tracking = tracking
        self._reads = reads
        self._clock = clock
        self.confirm_timeout_s = confirm_timeout_s
        self.trade_overlap_s = trade_overlap_s
        self.refresh_tick_each_place = refresh_tick_each_place
        self._refusals = RefusalStreak(refusal_limit)

    def place(self, request: OrderRequest, now_ms: int) -> tuple[Order, list[VenueEvent]]:
        info = self._catalogue.by_id.get(request.market_id)
        if info is None:
            raise OrderRefused(f"unknown market {request.market_id} (not validated)")
        if self.refresh_tick_each_place:
            info = self._catalogue.refresh_tick(request.market_id)
        prepared = self._prepare(request, info, now_ms)
        tick_checked = False
        while True:
            try:
                result = self._post_order(prepared)
            except NoAnswer as exc:
                return self._unknown(request, prepared, info, now_ms, str(exc))
            except Unavailable as exc:
                if exc.may_have_landed:
                    return self._unknown(request, prepared, info, now_ms, f"{exc}; it may have landed")
                raise
            except OrderRefused as exc:
                reason = str(exc).lower()
                if "duplicate" in reason:  # this very signed order was posted before and landed
                    return self._unknown(request, prepared, info, now_ms, "the venue already has this order")
                if not tick_checked and "tick" in reason:
                    tick_checked = True
                    fresh = self._catalogue.refresh_tick(request.market_id)
                    if fresh.market.tick != prepared.tick:
                        info = fresh
                        prepared = self._prepare(request, info, now_ms)
                        continue
                error = self._refusals.refused(exc)
                if error is exc:
                    raise
                raise error from None
            break
        self._refusals.accepted()
        return self._acknowledged(request, prepared, info, result, now_ms)

    def _prepare(self, request: OrderRequest, info: wire.MarketInfo, now_ms: int) -> PreparedOrder:
        return self._factory.prepare(request, info, now_ms, owner=self._transport.api_creds().api_key or "")

    def _post_order(self, prepared: PreparedOrder) -> wire.PostResult:
        data = self._transport.call(
            "POST", "/order", body=prepared.payload, timeout_s=self.confirm_timeout_s, order=True
        )
        try:
            result = wire.parse_post_order(data)
        except wire.ParseError as exc:
            raise NoAnswer(f"unreadable answer to POST /order: {exc}") from None
        if not result.success:
            raise OrderRefused(f"POST /order refused: {result.error}")
        return result

    def _new_tracked(
        self, request: OrderRequest, prepared: PreparedOrder, info: wire.MarketInfo, order_id: str
    ) -> Tracked:
        return Tracked(
            order_id,
            info,
            request.outcome,
            prepared.token_id,
            request.action,
            prepared.price,
            prepared.size,
            self._clock(),
            prepared,
        )

    def _order(self, request: OrderRequest, prepared: PreparedOrder, order_id: str, now_ms: int) -> Order:
        return Order(
            order_id=order_id,
            market_id=request.market_id,
            outcome=request.outcome,
            action=request.action,
            price=prepared.price,
            size=prepared.size,
            order_type=request.order_type,
            intent=request.intent,
            created_ms=now_ms,
            expires_ms=request.expires_ms,
        )

    def _acknowledged(
        self,
        request: OrderRequest,
        prepared: PreparedOrder,
        info: wire.MarketInfo,
        result: wire.PostResult,
        now_ms: int,
    ) -> tuple[Order, list[VenueEvent]]:
        tracked = self._new_tracked(request, prepared, info, result.order_id)
        self._tracking.placed(tracked, result.order_id)
        order = self._order(request, prepared, result.order_id, now_ms)
        events: list[VenueEvent] = []
        if result.trade_ids:
            events += self._immediate_fills(tracked, set(result.trade_ids))
        matched = result.taking if request.action is Action.BUY else result.making
        if result.status == "matched" and matched >= prepared.size:
            tracked.final = OrderStatus.FILLED  # filled at once: nothing rests
        elif result.status == "matched" and request.order_type in (OrderType.FOK, OrderType.FAK):
            tracked.final = OrderStatus.CANCELLED
            events.append(OrderDone(order.order_id, now_ms, OrderStatus.CANCELLED, "FAK remainder"))
        return order, events

    def _immediate_fills(self, tracked: Tracked, trade_ids: set[str]) -> list[VenueEvent]:
        """The fills of a matched order, from the venue's trades (poll reports any missed)."""
        try:
            trades, _ = self._reads.fetch_trades(
                tracked.sent_s - self.trade_overlap_s, asset_id=tracked.token_id
            )
        except VenueError as exc:
            log.warning("order %s matched; its fills come with the next poll (%s)", tracked.order_id, exc)
            return []
        return self._tracking.book_fills([t for t in trades if t.trade_id in trade_ids])

    def _unknown(
        self,
        request: OrderRequest,
        prepared: PreparedOrder,
        info: wire.MarketInfo,
        now_ms: int,
        why: str,
    ) -> tuple[Order, list[VenueEvent]]:
        """The post may have placed the order: the caller books it as UNKNOWN (it counts
        against the caps and blocks its market) until `poll` finds it at the venue, by the
        signed order's hash, or gives up on it after `unknown_grace_s`."""
        order_id = prepared.order_hash or f"unknown-{request.client_id}-{secrets.token_hex(4)}"
        tracked = self._tracking.orders.get(order_id)
        if tracked is None or tracked.done:
            tracked = self._new_tracked(request, prepared, info, order_id)
        self._tracking.unknown(tracked, why)
        log.warning("order %s: outcome unknown (%s); poll will reconcile it", order_id, why)
        order = self._order(request, prepared, order_id, now_ms)
        order.status = OrderStatus.UNKNOWN
        return order, []
