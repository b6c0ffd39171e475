"""The dry-run venue: the whole live order path except the final POST.

An order is rounded, given its exact amounts and signed exactly as `PolymarketVenue` would do
it (`OrderFactory`; unsigned when no private key is configured). Instead of being posted,
the request that would have been sent (``POST /order`` and its JSON body) goes as one JSON
line to `path` (``logs/dry_run_orders.jsonl``), together with the book the decision was
taken on and what the simulation made of it. The fill is simulated by the paper venue's fill
model (`PaperVenue`, mode DRY_RUN) fed with the live books the feed delivers via `on_market`.

No secret reaches the file: the payload carries a signature (public once an order trades),
and its ``owner`` (the API key) is masked.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.errors import OrderRefused
from bot.model import (
    BookTick,
    Fill,
    Market,
    MarketEvent,
    Micros,
    Mode,
    Order,
    OrderDone,
    OrderRequest,
    Outcome,
    VenueEvent,
    WindowOpened,
    book_for,
    iso,
    to_float,
)
from bot.venues.paper import PaperVenue
from bot.venues.polymarket import PolymarketCredentials, mask
from bot.venues.polymarket.signing import POLYGON, OrderFactory, PreparedOrder, round_size
from bot.venues.polymarket.wire import MarketInfo


class DryRunVenue:
    mode = Mode.DRY_RUN

    def __init__(
        self,
        path: Path | str,
        markets: Iterable[MarketInfo] = (),
        *,
        cash: Micros = 0,
        credentials: PolymarketCredentials | None = None,
        chain_id: int = POLYGON,
        signature_type: int = 0,
        funder: str | None = None,
    ) -> None:
        self.path = Path(path)
        key = credentials.private_key if credentials is not None else None
        self._factory = OrderFactory(chain_id, key, signature_type, funder)
        self._owner = mask(credentials.api_key) if credentials is not None and credentials.api_key else ""
        self.paper = PaperVenue(Mode.DRY_RUN, cash=cash, id_prefix="D")
        self._infos: dict[str, MarketInfo] = {}
        self._books: dict[str, BookTick] = {}
        for info in markets:
            self.add_market(info)

    def add_market(self, info: MarketInfo) -> None:
        """A validated market (the signing needs its tick and neg-risk flag)."""
        self._infos[info.condition_id] = info
        self.paper.markets[info.condition_id] = info.market

    def resume_books(
        self,
        session_id: int,
        cash: Micros,
        orders: list[Order],
        holdings: dict[tuple[str, Outcome], Micros],
        markets: list[Market],
    ) -> None:
        """`SimulatesFills`: the simulated exchange continues the journal's books."""
        self.paper.resume_books(session_id, cash, orders, holdings, markets)

    def deposit(self, amount: Micros) -> None:
        self.paper.deposit(amount)

    # -- the venue port -------------------------------------------------------------

    def place(self, request: OrderRequest, now_ms: int) -> tuple[Order, list[VenueEvent]]:
        info = self._infos.get(request.market_id)
        if info is None:
            raise OrderRefused(f"unknown market {request.market_id} (not validated)")
        prepared = self._factory.prepare(request, info, now_ms, owner=self._owner)
        simulated = dataclasses.replace(request, price=prepared.price, size=round_size(request.size))
        try:
            order, events = self.paper.place(simulated, now_ms)
        except OrderRefused as exc:
            self._write(request, prepared, now_ms, None, [], str(exc))
            raise
        self._write(request, prepared, now_ms, order, events, "")
        return order, events

    def cancel(self, order_id: str, now_ms: int, reason: str) -> list[VenueEvent]:
        return self.paper.cancel(order_id, now_ms, reason)

    def cancel_all(self, now_ms: int, reason: str) -> list[VenueEvent]:
        return self.paper.cancel_all(now_ms, reason)

    def on_market(self, event: MarketEvent) -> list[VenueEvent]:
        if isinstance(event, BookTick):
            self._books[event.market_id] = event
        elif isinstance(event, WindowOpened) and (info := self._infos.get(event.market.market_id)):
            # the feed read new rules (tick, minimum size): sign with them from now on
            market = dataclasses.replace(info.market, tick=event.market.tick, min_size=event.market.min_size)
            self._infos[info.condition_id] = dataclasses.replace(info, market=market)
        return self.paper.on_market(event)

    def poll(self, now_ms: int) -> list[VenueEvent]:
        return self.paper.poll(now_ms)

    def balance(self) -> Micros:
        return self.paper.balance()

    # -- the record -----------------------------------------------------------------

    def _book(self, request: OrderRequest) -> dict[str, Any] | None:
        tick = self._books.get(request.market_id)
        if tick is None:
            return None
        bid, bid_size, ask, ask_size = book_for(tick, request.outcome)
        return {
            "ts_ms": tick.ts_ms,
            "up": {
                "bid": to_float(tick.bid),
                "bid_size": to_float(tick.bid_size),
                "ask": to_float(tick.ask),
                "ask_size": to_float(tick.ask_size),
            },
            request.outcome.value.lower(): {
                "bid": to_float(bid),
                "bid_size": to_float(bid_size),
                "ask": to_float(ask),
                "ask_size": to_float(ask_size),
            },
        }

    def _write(
        self,
        request: OrderRequest,
        prepared: PreparedOrder,
        now_ms: int,
        order: Order | None,
        events: list[VenueEvent],
        refused: str,
    ) -> None:
        record = {
            "ts": iso(now_ms),
            "ts_ms": now_ms,
            "mode": Mode.DRY_RUN.value,
            "client_id": request.client_id,
            "market_id": request.market_id,
            "outcome": request.outcome.value,
            "action": request.action.value,
            "order_type": request.order_type.value,
            "requested": {"price": to_float(request.price), "size": to_float(request.size)},
            "price": to_float(prepared.price),
            "size": to_float(prepared.size),
            "token_id": prepared.token_id,
            "signed": prepared.signed,
            "order_hash": prepared.order_hash,
            "request": {"method": "POST", "path": "/order", "body": prepared.payload},
            "book": self._book(request),
            "result": "refused" if refused else "accepted",
            "reason": refused,
            "order_id": order.order_id if order else None,
            "fills": [_fill(e) for e in events if isinstance(e, Fill)],
            "done": [
                {"status": e.status.value, "reason": e.reason} for e in events if isinstance(e, OrderDone)
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")


def _fill(fill: Fill) -> dict[str, Any]:
    return {
        "fill_id": fill.fill_id,
        "price": to_float(fill.price),
        "shares": to_float(fill.shares),
        "fee": to_float(fill.fee),
        "liquidity": fill.liquidity.value,
    }
