"""The live Polymarket venue: the `Venue` port on top of CLOB V2 (package bot/venues/polymarket).

The vendor client is imported only inside functions and constructors (it costs about 1.5 s),
and it is used for what it is good at: EIP-712 order signing (signing.py), the L2 HMAC headers
and the L1 API-key derivation (transport.py). Requests go through our own ``httpx`` client
(transport.py).

Orders:
- Prepared and signed by `signing.OrderFactory` (rounding, exact amounts, the order's
  identity) and posted by `placing.Placer`. When the venue answers that the tick is wrong,
  ``/tick-size`` is read again and the order re-signed once (markets.py keeps the tick).
- Confirmation: a POST that may have placed the order without saying so (no answer within
  `confirm_timeout_s`, a dropped connection, an unreadable answer, any 5xx, or a "duplicate"
  refusal) gives an order with status UNKNOWN under the signed order's EIP-712 hash,
  which is the venue's order id. The caller books it (it counts against the caps and blocks its
  market); `poll` finds it by that hash (or by token/side/price/size if the venue used another
  id), fills included, or gives up after `unknown_grace_s` (REJECTED): reconcile.py.
  A cancel asked while the order is UNKNOWN is carried out when the order is found.
  Requests that never left (connection refused) and 425/429 answers are errors to retry.
- Pacing (pacing.py): after a ``Retry-After``, a 425 or a 429 no request is sent until the
  wait is over (`VenueBusy`); a 429 run longer than a minute is a fault; the same refusal for
  no balance or allowance three times in a row becomes `VenueFatal`.
- Polling: `poll` = `read_poll` (HTTP only, any thread) + `book_poll` (the caller's thread);
  LIVE trading reads on a thread of its own (`poll.BackgroundPoll`).

Errors: only `bot.errors` types leave this module (see `transport.classify_status`), and
`ConfigError` for unusable settings (key, markets). Secrets (private key, API secret,
passphrase) never reach logs, exception messages, reprs or files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bot.errors import OrderRefused
from bot.model import (
    Market,
    MarketEvent,
    Micros,
    Mode,
    Order,
    OrderDone,
    OrderRequest,
    OrderStatus,
    Outcome,
    VenueEvent,
    WindowOpened,
)
from bot.venues.base import FailedFill
from bot.venues.polymarket import wire
from bot.venues.polymarket.credentials import PolymarketCredentials, mask
from bot.venues.polymarket.markets import MarketCatalogue
from bot.venues.polymarket.placing import Placer
from bot.venues.polymarket.poll import PollRead, PollRequest
from bot.venues.polymarket.reads import AccountReads
from bot.venues.polymarket.reconcile import Reconciler
from bot.venues.polymarket.signing import POLYGON, OrderFactory
from bot.venues.polymarket.tracking import OrderTracking
from bot.venues.polymarket.transport import DEFAULT_HOST, Transport

log = logging.getLogger(__name__)


class PolymarketVenue:
    """The `Venue` port for Polymarket's CLOB V2 (mode LIVE)."""

    mode = Mode.LIVE

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        *,
        credentials: PolymarketCredentials,
        chain_id: int = POLYGON,
        signature_type: int = 0,
        funder: str | None = None,
        confirm_timeout_s: float = 5.0,
        request_timeout_s: float = 10.0,
        unknown_grace_s: float = 60.0,
        trade_overlap_s: float = 120.0,
        refresh_tick_each_place: bool = False,
        max_pages: int = 50,
        refusal_limit: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host.rstrip("/")
        self.chain_id = chain_id
        self.confirm_timeout_s = confirm_timeout_s
        self.trade_overlap_s = trade_overlap_s
        self._clock = clock
        self._factory = OrderFactory(chain_id, credentials.private_key, signature_type, funder)
        self.signature_type = signature_type
        self.transport = Transport(
            host,
            credentials,
            self._factory,
            chain_id=chain_id,
            signature_type=signature_type,
            request_timeout_s=request_timeout_s,
            max_pages=max_pages,
        )
        self._catalogue = MarketCatalogue(self.transport)
        self._markets = self._catalogue.by_id  # the validated markets, by condition id
        self._tracking = OrderTracking(after_s=clock() - trade_overlap_s)
        self._reads = AccountReads(self.transport, self._markets, self.funder, signature_type, clock)
        self._reconciler = Reconciler(self._tracking, self._reads, self.cancel, unknown_grace_s)
        self._placer = Placer(
            transport=self.transport,
            factory=self._factory,
            catalogue=self._catalogue,
            tracking=self._tracking,
            reads=self._reads,
            clock=clock,
            confirm_timeout_s=confirm_timeout_s,
            trade_overlap_s=trade_overlap_s,
            refresh_tick_each_place=refresh_tick_each_place,
            refusal_limit=refusal_limit,
        )
        self._heartbeat_id = ""

    def take_failed_fill(self) -> FailedFill | None:
        """`ReportsFailedFills`: the oldest reported fill whose trade later FAILED on chain."""
        failed = self._tracking.failed_fills
        if not failed:
            return None
        tf = failed.pop(0)
        return FailedFill(tf.trade_id, tf.fill.fill_id)

    @property
    def parse_errors(self) -> int:
        return self._reads.parse_errors

    # -- identity -----------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self._factory.address or ""

    @property
    def funder(self) -> str:
        return self._factory.funder or ""

    @property
    def masked_address(self) -> str:
        return mask(self.address)

    def __repr__(self) -> str:
        return f"PolymarketVenue(host={self.host!r}, wallet={self.masked_address}, mode=LIVE)"

    def close(self) -> None:
        self.transport.close()

    # -- markets ------------------------------------------------------------------------

    def validate_markets(self, token_or_condition_ids: Iterable[str]) -> list[Market]:
        """Read each market from the API (tick, minimum size, neg-risk, fee schedule, end
        time) and check it exists, accepts orders and is not closed; `ConfigError` naming the
        id otherwise. Validated markets are the ones `place` trades."""
        return self._catalogue.validate(token_or_condition_ids)

    def load_market(self, ident: str) -> wire.MarketInfo:
        """A market by condition id (0x + 64 hex) or by either of its token ids."""
        return self._catalogue.load(ident)

    def add_market(self, info: wire.MarketInfo) -> None:
        """A market checked elsewhere (a rolling window: bot/markets/roller.py): traded, its
        trades read and its balances counted like the validated ones. Engine thread."""
        self._markets[info.condition_id] = info

    def market_info(self, market_id: str) -> wire.MarketInfo | None:
        return self._markets.get(market_id)

    @property
    def markets(self) -> list[wire.MarketInfo]:
        return list(self._markets.values())

    def get_order_book(self, token_id: str) -> Any:
        """Raw ``/book`` JSON (the feed's book source)."""
        return self.transport.call("GET", "/book", params={"token_id": token_id})

    def get_market(self, condition_id: str) -> Any:
        """Raw ``/markets/{condition_id}`` JSON (the feed's resolution source)."""
        return self.transport.call("GET", f"/markets/{condition_id}")

    def refresh_tick(self, market_id: str) -> wire.MarketInfo:
        """Read the UP token's ``/tick-size`` again; the market keeps the venue's current tick."""
        return self._catalogue.refresh_tick(market_id)

    # -- the venue port -------------------------------------------------------------

    def place(self, request: OrderRequest, now_ms: int) -> tuple[Order, list[VenueEvent]]:
        return self._placer.place(request, now_ms)

    def cancel(self, order_id: str, now_ms: int, reason: str) -> list[VenueEvent]:
        tracked = self._tracking.orders.get(order_id)
        if tracked is None or tracked.done:
            return []
        if tracked.venue_id is None:
            events = self._reconciler.reconcile({}, [], self._clock(), only=[tracked])
            if tracked.done:
                return events
        if tracked.venue_id is None:  # cancelled as soon as it is found, or REJECTED after the grace
            tracked.cancel_reason = reason
            log.warning("order %s: not yet found at the venue; cancelled when it is (%s)", order_id, reason)
            return []
        answer = self.transport.call(
            "DELETE", "/order", body={"orderID": tracked.venue_id}, timeout_s=self.confirm_timeout_s
        )
        canceled = self._canceled(answer)
        if tracked.venue_id not in canceled:
            return []  # no longer live: filled or cancelled; poll says which
        tracked.final = OrderStatus.CANCELLED
        return [OrderDone(order_id, now_ms, OrderStatus.CANCELLED, reason)]

    def cancel_all(self, now_ms: int, reason: str) -> list[VenueEvent]:
        """The venue's cancel-all: every resting order of this account."""
        canceled = self._canceled(
            self.transport.call("DELETE", "/cancel-all", timeout_s=self.confirm_timeout_s)
        )
        events: list[VenueEvent] = []
        strangers = []
        for venue_id in canceled:
            tracked = self._tracking.by_venue.get(venue_id)
            if tracked is None:
                strangers.append(venue_id)
            elif not tracked.done:
                tracked.final = OrderStatus.CANCELLED
                events.append(OrderDone(tracked.order_id, now_ms, OrderStatus.CANCELLED, reason))
        if strangers and self._tracking.unresolved:
            rows = {v: row for v in strangers if (row := self._reads.fetch_order(v)) is not None}
            events += self._reconciler.reconcile(rows, [], self._clock())
        return events

    def _canceled(self, answer: Any) -> list[str]:
        """The ids a cancel answer lists as cancelled; none when unreadable (poll then sees
        which orders left the book)."""
        try:
            return wire.parse_cancel(answer)[0]
        except wire.ParseError as exc:
            self._reads.parse_failure("cancel answer", exc)
            return []

    def on_market(self, event: MarketEvent) -> list[VenueEvent]:
        if isinstance(event, WindowOpened):  # the feed read new rules (tick, minimum size)
            self._catalogue.new_rules(event.market)
        return []

    def poll(self, now_ms: int) -> list[VenueEvent]:
        """Fills since the last poll (de-duplicated by trade id, late ones included), orders
        that left the book without filling, and the resolution of UNKNOWN orders: read and
        booked at once (start-up). While trading, the reading runs on a thread of its own
        (`read_poll`, bot/venues/polymarket/poll.py) and the booking on the engine's."""
        return self.book_poll(self.read_poll(self.poll_request()), now_ms)

    def poll_request(self) -> PollRequest:
        """What the next read must look up (caller's thread: a snapshot of the tracking)."""
        return self._tracking.poll_request()

    def read_poll(self, request: PollRequest) -> PollRead:
        """The poll's HTTP reads only (any thread): open orders, trades, and each order the
        request names that is not open (left the book, or an UNKNOWN order's hash)."""
        start_s = self._clock()
        open_rows = self._reads.fetch_open_orders(start_s)
        trades, complete = self._reads.fetch_trades(request.after_s)
        lookups: dict[str, wire.VenueOrder | None] = {}
        wanted = [v for v in request.tracked if v not in open_rows]
        if request.covered:  # UNKNOWN orders: the orders behind strangers' trades are candidates
            wanted += [tf.venue_order_id for tf in trades if tf.venue_order_id not in request.known]
            wanted += [h for h in request.hashes if h not in request.known]
        for venue_id in wanted:
            if venue_id not in open_rows and venue_id not in lookups:
                lookups[venue_id] = self._reads.fetch_order(venue_id)
        return PollRead(start_s, open_rows, trades, complete, lookups, request.covered)

    def book_poll(self, read: PollRead, now_ms: int) -> list[VenueEvent]:
        """Turn a read into events (the engine's thread, which owns the tracking). An
        UNKNOWN order posted after the read was asked for is looked for by the next read;
        till then trades of orders nobody knows wait (not booked as orphans)."""
        events = self._reconciler.reconcile(
            read.open_rows, read.trades, read.start_s, lookups=read.lookups, covered=read.covered
        )
        trades, complete = read.trades, read.complete
        if any(t.order_id not in read.covered for t in self._tracking.unresolved):
            kept = [tf for tf in trades if tf.venue_order_id in self._tracking.by_venue]
            if len(kept) < len(trades):
                trades, complete = kept, False
        events += self._tracking.book_fills(trades)
        events += self._reconciler.departures(read.open_rows, now_ms, read.start_s, read.lookups)
        if complete:
            self._tracking.advance_trade_window(read.start_s, self.trade_overlap_s)
        return events

    def balance(self) -> Micros:
        """Collateral (USDC) in micros, from ``/balance-allowance``."""
        return self._reads.balance()

    def token_balance(self, market_id: str, outcome: Outcome) -> Micros:
        """Shares of one outcome token held at the venue (``/balance-allowance`` CONDITIONAL)."""
        return self._reads.token_balance(self._markets[market_id].token_for(outcome))

    def token_balance_of(self, token_id: str) -> Micros:
        """Shares of a token by its id, in any market (a resolved one included)."""
        return self._reads.token_balance(token_id)

    def untracked_open_orders(self) -> list[wire.VenueOrder]:
        """Open orders at the venue that this run does not know: placed by someone else, or
        by a run whose journal lost them. Reconciliation reports each one."""
        rows = self._reads.fetch_open_orders(self._clock())
        known = self._tracking.known_venue_ids()
        return [row for oid, row in sorted(rows.items()) if oid not in known]

    def send_heartbeat(self) -> None:
        """Keep the venue's dead-man switch alive: once started, the venue cancels all our
        orders when no heartbeat arrives within about 10 s."""
        try:
            data = self.transport.call("POST", "/v1/heartbeats", body={"heartbeat_id": self._heartbeat_id})
        except OrderRefused:
            if not self._heartbeat_id:
                raise
            self._heartbeat_id = ""  # an id the venue no longer knows: start a new one
            data = self.transport.call("POST", "/v1/heartbeats", body={"heartbeat_id": ""})
        if isinstance(data, Mapping) and data.get("heartbeat_id"):
            self._heartbeat_id = str(data["heartbeat_id"])

    def restore(self, orders: Iterable[Order]) -> None:
        """Track the open orders of a previous run in validated markets; UNKNOWN ones are
        reconciled by `poll`. The next poll reads trades back to the oldest of them, so fills
        that happened while the bot was down are reported (the journal drops duplicates)."""
        self._tracking.restore(orders, self._markets, self.trade_overlap_s)

    def order_status(self, order_id: str) -> OrderStatus | None:
        """What the adapter knows: UNKNOWN until the venue's id is found, OPEN while it may
        rest, then how it left the book (FILLED, CANCELLED, EXPIRED, REJECTED)."""
        return self._tracking.order_status(order_id)

    def venue_order_id(self, order_id: str) -> str | None:
        return self._tracking.venue_order_id(order_id)

    def book_streamed(self, rows: list[Any]) -> list[VenueEvent]:
        """Trade events from the user websocket (user_channel.py), on the engine's thread:
        read as ``/data/trades`` rows and booked through the poll's own de-duplication by
        trade id, so a trade both paths see is booked once."""
        trades, _ = self._reads.parse_trades(rows, "trade event")
        return self._tracking.book_fills(trades)

    def api_credentials(self) -> tuple[str, str, str]:
        """The L2 API credentials (derived once if not given): the user websocket and the
        price stream sign in with them."""
        creds = self.transport.api_creds()
        return creds.api_key or "", creds.api_secret or "", creds.api_passphrase or ""
