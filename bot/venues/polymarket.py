"""The live Polymarket venue: the `Venue` port on top of CLOB V2 and ``py-clob-client-v2``.

The vendor client is imported only inside this module's functions and constructors (it costs
about 1.5 s), and it is used for what it is good at: EIP-712 order signing, the L2 HMAC
headers and the L1 API-key derivation. Requests go through our own ``httpx`` client so that
each call has its own timeout (the order POST has a confirmation window), ``Retry-After`` is
kept, and a matched order never stalls in the client's 30 s trade polling.

Orders:
- Prepared and signed by `polymarket_orders.OrderFactory` (rounding, exact amounts, the
  order's identity). When the venue answers that the tick is wrong, ``/tick-size`` is read
  again and the order re-signed once.
- Confirmation: a POST that may have placed the order without saying so (no answer within
  `confirm_timeout_s`, a dropped connection, an unreadable answer, any 5xx, or a "duplicate"
  refusal) gives an order with status UNKNOWN under the signed order's EIP-712 hash,
  which is the venue's order id. The caller books it (it counts against the caps and blocks its
  market); `poll` finds it by that hash (or by token/side/price/size if the venue used another
  id), fills included, or gives up after `unknown_grace_s` (REJECTED). Nothing is guessed.
  A cancel asked while the order is UNKNOWN is carried out when the order is found.
  Requests that never left (connection refused) and 425/429 answers are errors to retry.
- Pacing (`polymarket_pacing`): after a ``Retry-After``, a 425 or a 429 no request is sent
  until the wait is over (`VenueBusy`); a 429 run longer than a minute is a fault; the same
  refusal for no balance or allowance three times in a row becomes `VenueFatal`.
- Polling: `poll` = `read_poll` (HTTP only, any thread) + `book_poll` (the caller's thread);
  LIVE trading reads on a thread of its own (`polymarket_poll.BackgroundPoll`).

Errors: only `bot.errors` types leave this module (see `classify_status`), and `ConfigError`
for unusable settings (key, markets). Secrets (private key, API secret, passphrase) never
reach logs, exception messages, reprs or files.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import email.utils
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.config import ConfigError
from bot.errors import OrderRefused, VenueBusy, VenueError, VenueFatal, VenueUnavailable
from bot.model import (
    ONE,
    Action,
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
    VenueEvent,
    WindowOpened,
)
from bot.venues import polymarket_wire as wire
from bot.venues.polymarket_orders import GTD_SECURITY_S, POLYGON, OrderFactory, PreparedOrder
from bot.venues.polymarket_pacing import PERSISTENT_LIMIT_S, RefusalStreak, RetryGate
from bot.venues.polymarket_poll import PollRead, PollRequest

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://clob.polymarket.com"
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_PRIVATE_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


# ---------------------------------------------------------------------------------------
# credentials


def mask(value: str | None, head: int = 6, tail: int = 4) -> str:
    """``0x19E7...Ff2A``: enough to recognise a value, not to use it."""
    if not value:
        return "<none>"
    return value if len(value) <= head + tail else f"{value[:head]}...{value[-tail:]}"


@dataclass(frozen=True, slots=True, repr=False)
class PolymarketCredentials:
    """The wallet key and (optionally) the L2 API credentials. The repr shows no secret."""

    private_key: str
    api_key: str | None = None
    api_secret: str | None = None
    api_passphrase: str | None = None

    @property
    def has_api_creds(self) -> bool:
        return bool(self.api_key and self.api_secret and self.api_passphrase)

    def __repr__(self) -> str:
        secret = "<redacted>" if self.api_secret else "<none>"
        passphrase = "<redacted>" if self.api_passphrase else "<none>"
        return (
            f"PolymarketCredentials(private_key=<redacted>, api_key={mask(self.api_key)},"
            f" api_secret={secret}, api_passphrase={passphrase})"
        )

    __str__ = __repr__


def credentials_from_env(environ: Mapping[str, str]) -> PolymarketCredentials:
    """`POLYMARKET_PRIVATE_KEY` (required) and optionally all three of `POLYMARKET_API_KEY`,
    `POLYMARKET_API_SECRET`, `POLYMARKET_API_PASSPHRASE` (else they are derived from the key).
    Raises a one-line `ConfigError` that never contains a secret."""
    key = (environ.get("POLYMARKET_PRIVATE_KEY") or "").strip()
    if not key:
        raise ConfigError(
            "POLYMARKET_PRIVATE_KEY is not set: live trading needs the wallet's private key in the"
            " environment"
        )
    if not _PRIVATE_KEY.match(key) or not 0 < int(key.removeprefix("0x"), 16) < SECP256K1_ORDER:
        raise ConfigError("POLYMARKET_PRIVATE_KEY is malformed: expected 0x followed by 64 hex digits")
    names = ("POLYMARKET_API_KEY", "POLYMARKET_API_SECRET", "POLYMARKET_API_PASSPHRASE")
    api = [(environ.get(n) or "").strip() for n in names]
    if any(api) and not all(api):
        missing = ", ".join(n for n, v in zip(names, api, strict=True) if not v)
        raise ConfigError(f"{missing} not set: give all three API credentials or none (to derive them)")
    if api[1]:
        try:
            base64.urlsafe_b64decode(api[1])
        except (binascii.Error, ValueError):
            raise ConfigError("POLYMARKET_API_SECRET is not valid url-safe base64") from None
    normalized = "0x" + key.removeprefix("0x").lower()
    return PolymarketCredentials(normalized, api[0] or None, api[1] or None, api[2] or None)


# ---------------------------------------------------------------------------------------
# error classification


def classify_status(
    status: int | None, message: str, retry_after_s: float | None = None, persistent: bool = False
) -> VenueError:
    """The bot's error for a failed venue call: what the order manager should do about it.

    None (no answer) / 5xx → `VenueUnavailable` (retry with backoff, counted by the breaker,
    `retry_after_s` from ``Retry-After``); 425 (engine restart) and 429 (rate limit) →
    `VenueBusy` (back off, not a fault), a `persistent` 429 (see polymarket_pacing) →
    `VenueUnavailable`; 400 / 404 / 409 / 422 →
    `OrderRefused` (skip); 401 / 403 and anything unexpected → `VenueFatal` (halt)."""
    if status is None:
        return _Unavailable(f"venue unreachable: {message}", retry_after_s, None)
    text = f"HTTP {status}: {message}"
    if status == 425 or (status == 429 and not persistent):
        return VenueBusy(text, retry_after_s)
    if status == 429:
        return _Unavailable(f"{text} (rate limited for over {PERSISTENT_LIMIT_S:g} s)", retry_after_s, status)
    if 500 <= status <= 599:
        return _Unavailable(text, retry_after_s, status)
    if status in (400, 404, 409, 422):
        return OrderRefused(text)
    return VenueFatal(text)


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """``Retry-After``: delay seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now_s is None else now_s))


class _Unavailable(VenueUnavailable):
    def __init__(self, message: str, retry_after_s: float | None, status: int | None) -> None:
        super().__init__(message, retry_after_s)
        self.status = status

    @property
    def may_have_landed(self) -> bool:
        """A 5xx may come after the venue acted (even a 503 from a proxy in front of it)."""
        return self.status is not None and self.status >= 500


class _NoAnswer(VenueUnavailable):
    """The request may have reached the venue but no readable answer came back."""


# ---------------------------------------------------------------------------------------
# the venue


@dataclass(eq=False)
class _Tracked:
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
class _TradeLog:
    """Trades already turned into fills (by fill id) and the query window for the next poll."""

    after_s: float
    seen: dict[str, float] = field(default_factory=dict)  # fill id → match time (s)
    pending: dict[str, float] = field(default_factory=dict)  # not final yet → match time (s)
    failed: set[str] = field(default_factory=set)  # FAILED: never a fill


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
        import httpx

        self.host = host.rstrip("/")
        self.chain_id = chain_id
        self.confirm_timeout_s = confirm_timeout_s
        self.request_timeout_s = request_timeout_s
        self.unknown_grace_s = unknown_grace_s
        self.trade_overlap_s = trade_overlap_s
        self.refresh_tick_each_place = refresh_tick_each_place
        self.max_pages = max_pages
        self._clock = clock
        self._creds = credentials
        self._factory = OrderFactory(chain_id, credentials.private_key, signature_type, funder)
        self.signature_type = signature_type
        self._http = httpx.Client(
            timeout=httpx.Timeout(request_timeout_s),
            headers={"User-Agent": "touchtrader", "Accept": "application/json"},
        )
        self._markets: dict[str, wire.MarketInfo] = {}
        self._orders: dict[str, _Tracked] = {}  # by the caller's order id
        self._by_venue: dict[str, _Tracked] = {}  # by the venue's order id
        self._unresolved: list[_Tracked] = []  # venue id not known yet
        self._trades = _TradeLog(after_s=clock() - trade_overlap_s)
        self._heartbeat_id = ""
        self._gate = RetryGate()
        self._refusals = RefusalStreak(refusal_limit)
        self.failed_fills: list[wire.TradeFill] = []  # reported fills whose trade later FAILED
        self.parse_errors = 0

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
        self._http.close()

    # -- markets ------------------------------------------------------------------------

    def validate_markets(self, token_or_condition_ids: Iterable[str]) -> list[Market]:
        """Read each market from the API (tick, minimum size, neg-risk, fee schedule, end
        time) and check it exists, accepts orders and is not closed; `ConfigError` naming the
        id otherwise. Validated markets are the ones `place` trades."""
        result = []
        for ident in token_or_condition_ids:
            info = self.load_market(ident)
            if info.closed:
                raise ConfigError(f"market {ident} is closed")
            if not info.accepting_orders:
                raise ConfigError(f"market {ident} is not accepting orders")
            self._markets[info.condition_id] = info
            result.append(info.market)
        return result

    def load_market(self, ident: str) -> wire.MarketInfo:
        """A market by condition id (0x + 64 hex) or by either of its token ids."""
        ident = ident.strip()
        try:
            if wire.looks_like_condition_id(ident):
                condition = ident
            else:
                condition = wire.parse_market_by_token(self._call("GET", f"/markets-by-token/{ident}"))
            compact = self._call("GET", f"/clob-markets/{condition}")
            status = wire.parse_market_status(self._call("GET", f"/markets/{condition}"))
            return wire.parse_clob_market(compact, status)
        except OrderRefused as exc:  # 400/404: no such market
            raise ConfigError(f"market {ident} not found at {self.host}: {exc}") from None
        except wire.ParseError as exc:
            raise ConfigError(f"market {ident}: unreadable market data ({exc})") from None

    def market_info(self, market_id: str) -> wire.MarketInfo | None:
        return self._markets.get(market_id)

    @property
    def markets(self) -> list[wire.MarketInfo]:
        return list(self._markets.values())

    def get_order_book(self, token_id: str) -> Any:
        """Raw ``/book`` JSON (the feed's book source)."""
        return self._call("GET", "/book", params={"token_id": token_id})

    def get_market(self, condition_id: str) -> Any:
        """Raw ``/markets/{condition_id}`` JSON (the feed's resolution source)."""
        return self._call("GET", f"/markets/{condition_id}")

    def refresh_tick(self, market_id: str) -> wire.MarketInfo:
        """Read the UP token's ``/tick-size`` again; the market keeps the venue's current tick."""
        info = self._markets[market_id]
        answer = self._call("GET", "/tick-size", params={"token_id": info.token_for(Outcome.UP)})
        try:
            tick = wire.parse_tick_size(answer)
        except wire.ParseError as exc:
            raise VenueUnavailable(f"unreadable tick size: {exc}") from None
        if tick != info.market.tick:
            log.info("market %s: tick changed from %s to %s", market_id, info.market.tick / ONE, tick / ONE)
            info = dataclasses.replace(info, market=dataclasses.replace(info.market, tick=tick))
            self._markets[market_id] = info
        return info

    # -- the venue port -------------------------------------------------------------

    def place(self, request: OrderRequest, now_ms: int) -> tuple[Order, list[VenueEvent]]:
        info = self._markets.get(request.market_id)
        if info is None:
            raise OrderRefused(f"unknown market {request.market_id} (not validated)")
        if self.refresh_tick_each_place:
            info = self.refresh_tick(request.market_id)
        prepared = self._prepare(request, info, now_ms)
        tick_checked = False
        while True:
            try:
                result = self._post_order(prepared)
            except _NoAnswer as exc:
                return self._unknown(request, prepared, info, now_ms, str(exc))
            except _Unavailable as exc:
                if exc.may_have_landed:
                    return self._unknown(request, prepared, info, now_ms, f"{exc}; it may have landed")
                raise
            except OrderRefused as exc:
                reason = str(exc).lower()
                if "duplicate" in reason:  # this very signed order was posted before and landed
                    return self._unknown(request, prepared, info, now_ms, "the venue already has this order")
                if not tick_checked and "tick" in reason:
                    tick_checked = True
                    fresh = self.refresh_tick(request.market_id)
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

    def cancel(self, order_id: str, now_ms: int, reason: str) -> list[VenueEvent]:
        tracked = self._orders.get(order_id)
        if tracked is None or tracked.done:
            return []
        if tracked.venue_id is None:
            events = self._reconcile({}, [], self._clock(), only=[tracked])
            if tracked.done:
                return events
        if tracked.venue_id is None:  # cancelled as soon as it is found, or REJECTED after the grace
            tracked.cancel_reason = reason
            log.warning("order %s: not yet found at the venue; cancelled when it is (%s)", order_id, reason)
            return []
        answer = self._call(
            "DELETE", "/order", body={"orderID": tracked.venue_id}, timeout_s=self.confirm_timeout_s
        )
        canceled = self._canceled(answer)
        if tracked.venue_id not in canceled:
            return []  # no longer live: filled or cancelled; poll says which
        tracked.final = OrderStatus.CANCELLED
        return [OrderDone(order_id, now_ms, OrderStatus.CANCELLED, reason)]

    def cancel_all(self, now_ms: int, reason: str) -> list[VenueEvent]:
        """The venue's cancel-all: every resting order of this account."""
        canceled = self._canceled(self._call("DELETE", "/cancel-all", timeout_s=self.confirm_timeout_s))
        events: list[VenueEvent] = []
        strangers = []
        for venue_id in canceled:
            tracked = self._by_venue.get(venue_id)
            if tracked is None:
                strangers.append(venue_id)
            elif not tracked.done:
                tracked.final = OrderStatus.CANCELLED
                events.append(OrderDone(tracked.order_id, now_ms, OrderStatus.CANCELLED, reason))
        if strangers and self._unresolved:
            rows = {v: row for v in strangers if (row := self._fetch_order(v)) is not None}
            events += self._reconcile(rows, [], self._clock())
        return events

    def _canceled(self, answer: Any) -> list[str]:
        """The ids a cancel answer lists as cancelled; none when unreadable (poll then sees
        which orders left the book)."""
        try:
            return wire.parse_cancel(answer)[0]
        except wire.ParseError as exc:
            self._parse_failure("cancel answer", exc)
            return []

    def on_market(self, event: MarketEvent) -> list[VenueEvent]:
        if isinstance(event, WindowOpened):  # the feed read new rules (tick, minimum size)
            info = self._markets.get(event.market.market_id)
            if info is not None and info.market != event.market:
                market = dataclasses.replace(
                    info.market, tick=event.market.tick, min_size=event.market.min_size
                )
                self._markets[event.market.market_id] = dataclasses.replace(info, market=market)
        return []

    def poll(self, now_ms: int) -> list[VenueEvent]:
        """Fills since the last poll (de-duplicated by trade id, late ones included), orders
        that left the book without filling, and the resolution of UNKNOWN orders: read and
        booked at once (start-up). While trading, the reading runs on a thread of its own
        (`read_poll`, bot/venues/polymarket_poll.py) and the booking on the engine's."""
        return self.book_poll(self.read_poll(self.poll_request()), now_ms)

    def poll_request(self) -> PollRequest:
        """What the next read must look up (caller's thread: a snapshot of the tracking)."""
        unresolved = tuple(self._unresolved)
        return PollRequest(
            after_s=self._trades.after_s,
            tracked=tuple(v for v, t in self._by_venue.items() if not t.done),
            known=frozenset(self._by_venue),
            hashes=tuple(h for t in unresolved if (h := t.prepared.order_hash if t.prepared else t.order_id)),
            covered=frozenset(t.order_id for t in unresolved),
        )

    def read_poll(self, request: PollRequest) -> PollRead:
        """The poll's HTTP reads only (any thread): open orders, trades, and each order the
        request names that is not open (left the book, or an UNKNOWN order's hash)."""
        start_s = self._clock()
        open_rows = self._fetch_open_orders(start_s)
        trades, complete = self._fetch_trades(request.after_s)
        lookups: dict[str, wire.VenueOrder | None] = {}
        wanted = [v for v in request.tracked if v not in open_rows]
        if request.covered:  # UNKNOWN orders: the orders behind strangers' trades are candidates
            wanted += [tf.venue_order_id for tf in trades if tf.venue_order_id not in request.known]
            wanted += [h for h in request.hashes if h not in request.known]
        for venue_id in wanted:
            if venue_id not in open_rows and venue_id not in lookups:
                lookups[venue_id] = self._fetch_order(venue_id)
        return PollRead(start_s, open_rows, trades, complete, lookups, request.covered)

    def book_poll(self, read: PollRead, now_ms: int) -> list[VenueEvent]:
        """Turn a read into events (the engine's thread, which owns the tracking). An
        UNKNOWN order posted after the read was asked for is looked for by the next read;
        till then trades of orders nobody knows wait (not booked as orphans)."""
        events = self._reconcile(
            read.open_rows, read.trades, read.start_s, lookups=read.lookups, covered=read.covered
        )
        trades, complete = read.trades, read.complete
        if any(t.order_id not in read.covered for t in self._unresolved):
            kept = [tf for tf in trades if tf.venue_order_id in self._by_venue]
            if len(kept) < len(trades):
                trades, complete = kept, False
        events += self._book_fills(trades)
        events += self._departures(read.open_rows, now_ms, read.start_s, read.lookups)
        if complete:
            self._advance_trade_window(read.start_s)
        return events

    def balance(self) -> Micros:
        """Collateral (USDC) in micros, from ``/balance-allowance``."""
        data = self._call(
            "GET",
            "/balance-allowance",
            params={"asset_type": "COLLATERAL", "signature_type": str(self.signature_type)},
        )
        try:
            return wire.parse_balance(data)
        except wire.ParseError as exc:
            raise VenueUnavailable(f"unreadable balance: {exc}") from None

    def token_balance(self, market_id: str, outcome: Outcome) -> Micros:
        """Shares of one outcome token held at the venue (``/balance-allowance`` CONDITIONAL)."""
        return self.token_balance_of(self._markets[market_id].token_for(outcome))

    def token_balance_of(self, token_id: str) -> Micros:
        """Shares of a token by its id, in any market (a resolved one included)."""
        data = self._call(
            "GET",
            "/balance-allowance",
            params={
                "asset_type": "CONDITIONAL",
                "token_id": token_id,
                "signature_type": str(self.signature_type),
            },
        )
        try:
            return wire.parse_balance(data)
        except wire.ParseError as exc:
            raise VenueUnavailable(f"unreadable token balance: {exc}") from None

    def untracked_open_orders(self) -> list[wire.VenueOrder]:
        """Open orders at the venue that this run does not know: placed by someone else, or
        by a run whose journal lost them. Reconciliation reports each one."""
        rows = self._fetch_open_orders(self._clock())
        known = set(self._by_venue) | {t.venue_id for t in self._orders.values() if t.venue_id}
        return [row for oid, row in sorted(rows.items()) if oid not in known]

    def send_heartbeat(self) -> None:
        """Keep the venue's dead-man switch alive: once started, the venue cancels all our
        orders when no heartbeat arrives within about 10 s."""
        try:
            data = self._call("POST", "/v1/heartbeats", body={"heartbeat_id": self._heartbeat_id})
        except OrderRefused:
            if not self._heartbeat_id:
                raise
            self._heartbeat_id = ""  # an id the venue no longer knows: start a new one
            data = self._call("POST", "/v1/heartbeats", body={"heartbeat_id": ""})
        if isinstance(data, Mapping) and data.get("heartbeat_id"):
            self._heartbeat_id = str(data["heartbeat_id"])

    def restore(self, orders: Iterable[Order]) -> None:
        """Track the open orders of a previous run in validated markets; UNKNOWN ones are
        reconciled by `poll`. The next poll reads trades back to the oldest of them, so fills
        that happened while the bot was down are reported (the journal drops duplicates)."""
        oldest_s = self._trades.after_s
        for order in orders:
            info = self._markets.get(order.market_id)
            if info is None or not order.status.is_open:
                continue
            tracked = _Tracked(
                order.order_id,
                info,
                order.outcome,
                info.token_for(order.outcome),
                order.action,
                order.price,
                order.size,
                order.created_ms / 1000,
            )
            self._orders[order.order_id] = tracked
            if order.status is OrderStatus.UNKNOWN:
                tracked.unknown_reason = "restored as UNKNOWN"
                self._unresolved.append(tracked)
            else:
                tracked.venue_id = order.order_id
                self._by_venue[order.order_id] = tracked
            oldest_s = min(oldest_s, tracked.sent_s - self.trade_overlap_s)
        self._trades.after_s = oldest_s

    def order_status(self, order_id: str) -> OrderStatus | None:
        """What the adapter knows: UNKNOWN until the venue's id is found, OPEN while it may
        rest, then how it left the book (FILLED, CANCELLED, EXPIRED, REJECTED)."""
        tracked = self._orders.get(order_id)
        if tracked is None:
            return None
        if tracked.final is not None:
            return tracked.final
        return OrderStatus.UNKNOWN if tracked.venue_id is None else OrderStatus.OPEN

    def venue_order_id(self, order_id: str) -> str | None:
        tracked = self._orders.get(order_id)
        return tracked.venue_id if tracked else None

    # -- placing ------------------------------------------------------------------------

    def _prepare(self, request: OrderRequest, info: wire.MarketInfo, now_ms: int) -> PreparedOrder:
        return self._factory.prepare(request, info, now_ms, owner=self._api_creds().api_key or "")

    def _post_order(self, prepared: PreparedOrder) -> wire.PostResult:
        data = self._call(
            "POST", "/order", body=prepared.payload, timeout_s=self.confirm_timeout_s, order=True
        )
        try:
            result = wire.parse_post_order(data)
        except wire.ParseError as exc:
            raise _NoAnswer(f"unreadable answer to POST /order: {exc}") from None
        if not result.success:
            raise OrderRefused(f"POST /order refused: {result.error}")
        return result

    def _new_tracked(
        self, request: OrderRequest, prepared: PreparedOrder, info: wire.MarketInfo, order_id: str
    ) -> _Tracked:
        return _Tracked(
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
        tracked.venue_id = result.order_id
        self._orders[result.order_id] = tracked
        self._by_venue[result.order_id] = tracked
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

    def _immediate_fills(self, tracked: _Tracked, trade_ids: set[str]) -> list[VenueEvent]:
        """The fills of a matched order, from the venue's trades (poll reports any missed)."""
        try:
            trades, _ = self._fetch_trades(tracked.sent_s - self.trade_overlap_s, asset_id=tracked.token_id)
        except VenueError as exc:
            log.warning("order %s matched; its fills come with the next poll (%s)", tracked.order_id, exc)
            return []
        return self._book_fills([t for t in trades if t.trade_id in trade_ids])

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
        tracked = self._orders.get(order_id)
        if tracked is None or tracked.done:
            tracked = self._new_tracked(request, prepared, info, order_id)
            self._orders[order_id] = tracked
        tracked.unknown_reason = why
        if tracked not in self._unresolved and tracked.venue_id is None:
            self._unresolved.append(tracked)
        log.warning("order %s: outcome unknown (%s); poll will reconcile it", order_id, why)
        order = self._order(request, prepared, order_id, now_ms)
        order.status = OrderStatus.UNKNOWN
        return order, []

    # -- polling ------------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, str]) -> tuple[list[Any], bool]:
        rows: list[Any] = []
        cursor = "MA=="
        for _ in range(self.max_pages):
            try:
                page, cursor = wire.parse_page(
                    self._call("GET", path, params={**params, "next_cursor": cursor}), path
                )
            except wire.ParseError as exc:
                raise VenueUnavailable(f"unreadable page of {path}: {exc}") from None
            except OrderRefused as exc:  # a refused query is no order refusal: try again later
                raise VenueUnavailable(str(exc)) from None
            rows += page
            if cursor == wire.END_CURSOR:
                return rows, True
        log.warning("%s: more than %d pages, the rest waits for the next poll", path, self.max_pages)
        return rows, False

    def _fetch_open_orders(self, now_s: float) -> dict[str, wire.VenueOrder]:
        rows, _ = self._pages("/data/orders", {})
        result = {}
        for row in rows:
            try:
                order = wire.parse_order(row, now_s, GTD_SECURITY_S)
            except wire.ParseError as exc:
                self._parse_failure("open order", exc)
                continue
            result[order.order_id] = order
        return result

    def _fetch_order(self, venue_id: str) -> wire.VenueOrder | None:
        """One order by the venue's id; None when the venue does not know it."""
        try:
            data = self._call("GET", f"/data/order/{venue_id}")
        except OrderRefused:
            return None
        if not data:
            return None
        try:
            return wire.parse_order(data, self._clock(), GTD_SECURITY_S)
        except wire.ParseError as exc:
            self._parse_failure("order", exc)
            return None

    def _fetch_trades(self, after_s: float, asset_id: str | None = None) -> tuple[list[wire.TradeFill], bool]:
        params = {"after": str(max(0, int(after_s)))}
        if asset_id:
            params["asset_id"] = asset_id
        rows, complete = self._pages("/data/trades", params)
        markets = {cid: info.market for cid, info in self._markets.items()}
        owner = self._api_creds().api_key or ""
        fills: list[wire.TradeFill] = []
        for row in rows:
            try:
                fills += wire.parse_trade(row, markets, owner, self.funder)
            except wire.ParseError as exc:
                self._parse_failure("trade", exc)
                complete = False  # keep the window: the row is read again next time
        return fills, complete

    def _parse_failure(self, what: str, exc: wire.ParseError) -> None:
        self.parse_errors += 1
        log.error("skipped an unreadable %s from the venue: %s", what, exc)

    def _book_fills(self, trades: list[wire.TradeFill]) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        seen = self._trades.seen
        for tf in trades:
            key = tf.fill.fill_id
            match_s = tf.fill.ts_ms / 1000
            if tf.state is wire.TradeState.FAILED:
                self._trades.pending.pop(key, None)
                if key in seen and key not in self._trades.failed:
                    log.error("trade %s was booked as a fill but FAILED on chain", tf.trade_id)
                    self.failed_fills.append(tf)
                self._trades.failed.add(key)
                continue
            if key in seen:
                continue
            if tf.state is wire.TradeState.PENDING:
                self._trades.pending[key] = match_s
                continue
            self._trades.pending.pop(key, None)
            seen[key] = match_s
            tracked = self._by_venue.get(tf.venue_order_id)
            order_id = tracked.order_id if tracked is not None else tf.venue_order_id
            if tracked is None:
                log.warning("fill %s for order %s that this run did not place", key, tf.venue_order_id)
            events.append(dataclasses.replace(tf.fill, order_id=order_id))
        return events

    def book_streamed(self, rows: list[Any]) -> list[VenueEvent]:
        """Trade events from the user websocket (bot/venues/polymarket_user.py), on the
        engine's thread: read as ``/data/trades`` rows and booked through the poll's own
        de-duplication by trade id, so a trade both paths see is booked once."""
        markets = {cid: info.market for cid, info in self._markets.items()}
        owner = self._api_creds().api_key or ""
        trades: list[wire.TradeFill] = []
        for row in rows:
            try:
                trades += wire.parse_trade(row, markets, owner, self.funder)
            except wire.ParseError as exc:
                self._parse_failure("trade event", exc)
        return self._book_fills(trades)

    def api_credentials(self) -> tuple[str, str, str]:
        """The L2 API credentials (derived once if not given): the user websocket signs in with them."""
        creds = self._api_creds()
        return creds.api_key or "", creds.api_secret or "", creds.api_passphrase or ""

    def _advance_trade_window(self, start_s: float) -> None:
        after = start_s - self.trade_overlap_s
        if self._trades.pending:
            after = min(after, min(self._trades.pending.values()) - 1)
        self._trades.after_s = after
        horizon = after - 3600
        for key in [k for k, t in self._trades.seen.items() if t < horizon]:
            del self._trades.seen[key]

    def _reconcile(
        self,
        open_rows: Mapping[str, wire.VenueOrder],
        trades: list[wire.TradeFill],
        now_s: float,
        only: list[_Tracked] | None = None,
        lookups: Mapping[str, wire.VenueOrder | None] | None = None,
        covered: frozenset[str] | None = None,
    ) -> list[VenueEvent]:
        """Find the venue's id of orders whose post had no readable answer. With `lookups`
        (a read made elsewhere) nothing is fetched: only the `covered` orders are looked for."""
        targets = list(self._unresolved if only is None else only)
        if covered is not None:
            targets = [t for t in targets if t.order_id in covered]
        if not targets:
            return []
        if only is not None and not open_rows:
            open_rows = self._fetch_open_orders(now_s)
        fetch = self._fetch_order if lookups is None else lookups.get
        candidates = {v: row for v, row in open_rows.items() if v not in self._by_venue}
        for tf in trades:
            v = tf.venue_order_id
            if v not in self._by_venue and v not in candidates and (row := fetch(v)) is not None:
                candidates[v] = row
        events: list[VenueEvent] = []
        for tracked in targets:
            row = None
            hashed = tracked.prepared.order_hash if tracked.prepared else tracked.order_id
            if hashed:
                row = candidates.get(hashed)
                if row is None and hashed not in self._by_venue:
                    row = fetch(hashed)
            if row is None:
                matching = [r for r in candidates.values() if tracked.matches(r)]
                row = min(matching, key=tracked.distance, default=None)
            age = now_s - tracked.sent_s
            if row is not None:
                candidates.pop(row.order_id, None)
                events += self._resolved(tracked, row, now_s)
            elif age > self.unknown_grace_s:
                self._unresolved.remove(tracked)
                tracked.final = OrderStatus.REJECTED
                why = tracked.unknown_reason
                log.warning("order %s never reached the venue (%s)", tracked.order_id, why)
                reason = f"not found at the venue {age:.0f} s after a post without answer"
                done = OrderDone(tracked.order_id, int(now_s * 1000), OrderStatus.REJECTED, reason)
                events.append(done)
        return events

    def _resolved(self, tracked: _Tracked, row: wire.VenueOrder, now_s: float) -> list[VenueEvent]:
        self._unresolved.remove(tracked)
        tracked.venue_id = row.order_id
        self._by_venue[row.order_id] = tracked
        log.info("order %s found at the venue as %s (%s)", tracked.order_id, row.order_id, row.raw_status)
        if tracked.cancel_reason and row.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
            return self._pending_cancel(tracked, int(now_s * 1000))
        return self._left_book(tracked, row, int(now_s * 1000))

    def _pending_cancel(self, tracked: _Tracked, now_ms: int) -> list[VenueEvent]:
        """The cancel asked while the order was UNKNOWN; tried again at each poll until done."""
        try:
            return self.cancel(tracked.order_id, now_ms, tracked.cancel_reason)
        except VenueError as exc:
            log.warning(
                "order %s: the pending cancel failed, next poll tries again (%s)", tracked.order_id, exc
            )
            return []

    def _departures(
        self,
        open_rows: Mapping[str, wire.VenueOrder],
        now_ms: int,
        now_s: float,
        lookups: Mapping[str, wire.VenueOrder | None] | None = None,
    ) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        for venue_id, tracked in list(self._by_venue.items()):
            if tracked.cancel_reason and not tracked.done and venue_id in open_rows:
                events += self._pending_cancel(tracked, now_ms)
            if tracked.done or venue_id in open_rows:
                continue
            if lookups is None:
                row = self._fetch_order(venue_id)
            elif venue_id in lookups:
                row = lookups[venue_id]
            else:  # placed after the read was asked for: the next read looks
                continue
            if row is None:
                continue
            events += self._left_book(tracked, row, now_ms)
        return events

    @staticmethod
    def _left_book(tracked: _Tracked, row: wire.VenueOrder, now_ms: int) -> list[VenueEvent]:
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

    # -- HTTP ---------------------------------------------------------------------------

    def _api_creds(self) -> PolymarketCredentials:
        """The L2 credentials, derived from the key (``create_or_derive_api_key``) once."""
        if self._creds.has_api_creds:
            return self._creds
        from py_clob_client_v2 import ClobClient
        from py_clob_client_v2.exceptions import PolyApiException

        client = ClobClient(
            self.host,
            self.chain_id,
            key=self._creds.private_key,
            signature_type=self.signature_type,
            funder=self.funder,
        )
        try:
            derived = client.create_or_derive_api_key()
        except PolyApiException as exc:
            raise classify_status(exc.status_code, wire.error_message(exc.error_msg)) from None
        except Exception as exc:
            raise VenueUnavailable(f"could not derive the API credentials ({type(exc).__name__})") from None
        self._creds = dataclasses.replace(
            self._creds,
            api_key=str(derived.api_key),
            api_secret=str(derived.api_secret),
            api_passphrase=str(derived.api_passphrase),
        )
        return self._creds

    def _auth_headers(self, method: str, path: str, body: str | None) -> dict[str, str]:
        from py_clob_client_v2.clob_types import RequestArgs
        from py_clob_client_v2.headers.headers import create_level_2_headers

        creds = self._api_creds()
        try:
            headers = create_level_2_headers(
                self._factory.signer,
                creds,
                RequestArgs(method=method, request_path=path, serialized_body=body),
            )
        except Exception:
            raise VenueFatal("cannot sign the request: the API secret is not valid base64") from None
        return {str(k): str(v) for k, v in headers.items()}

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        timeout_s: float | None = None,
        order: bool = False,
    ) -> Any:
        """One request. Raises `classify_status`'s errors; `_NoAnswer` when the request may
        have been received but no readable answer came back."""
        import httpx

        serialized = None if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        headers = {"Content-Type": "application/json"}
        public = method == "GET" and not path.startswith(("/data/", "/balance-allowance"))
        if not public:
            headers.update(self._auth_headers(method, path, serialized))
        where = f"{method} {path}"
        self._gate.check(where)
        try:
            response = self._http.request(
                method,
                self.host + path,
                params=params,
                content=serialized,
                headers=headers,
                timeout=timeout_s if timeout_s is not None else self.request_timeout_s,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise VenueUnavailable(f"{where}: cannot connect ({type(exc).__name__})") from None
        except httpx.TimeoutException as exc:
            kind = "no answer within the confirmation window" if order else "timed out"
            raise _NoAnswer(f"{where}: {kind} ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise _NoAnswer(f"{where}: connection lost ({type(exc).__name__})") from None
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
            if response.is_success:
                raise _NoAnswer(f"{where}: unreadable answer (HTTP {response.status_code})") from None
        if response.is_success:
            self._gate.ok()
            return data
        message = wire.error_message(data if data is not None else response.text)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        wait = self._gate.answered(response.status_code, retry_after)
        persistent = self._gate.rate_limited_s() > PERSISTENT_LIMIT_S
        raise classify_status(response.status_code, f"{where}: {message}", wait, persistent)
