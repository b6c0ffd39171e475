"""A local stand-in for Polymarket's CLOB V2 REST API, for tests and benchmarks.

Point the real ``py-clob-client-v2`` at it::

    from py_clob_client_v2 import ApiCreds, ClobClient, OrderArgs
    from bot.testing.clob_server import ClobServer

    with ClobServer() as server:
        server.add_market("0xc0", tokens=("101", "102"), tick=0.01, min_size=5, fee_rate=0.07)
        server.set_book("101", bids=[(0.48, 100)], asks=[(0.52, 100)])
        client = ClobClient(server.url, 137, key=PRIVATE_KEY, creds=ApiCreds(*server.creds))
        client.create_and_post_order(OrderArgs(token_id="101", price=0.5, size=10, side="BUY"))
        server.cross("101", 0.50, 4)   # another trader sells 4 into our bid: a MAKER fill
        server.fail_next("POST", "/order", status=425)   # the next order hits an engine restart

Layout: ``Exchange`` holds the venue state (markets, resting liquidity, orders, trades,
balances, heartbeats) behind one lock and knows nothing about HTTP, so it can be unit-tested
alone. ``ClobServer`` serves it over a ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, Nagle
off): routing, L1/L2 auth (the HMAC is checked exactly as the client computes it), fault
injection and a log of received requests (``server.requests``).

Owners are API keys, as in the real API. Shares and collateral are integers with 6 decimals
("micro" units) like the wire format; prices are floats snapped to the market tick. Token ids
must be decimal strings (they are uint256 in the signed order).

Order ids are the signed orders' EIP-712 hashes (``clob_hash``), as at the venue, so a re-sent
signed order is refused as a duplicate. Market orders (FOK/FAK) are refused past 2 decimals in
the maker amount or 4 in the taker amount, as at the venue.

Not modelled: EIP-712 signatures (L1 headers and order signatures are required but not
verified), complementary-token (mint/merge) matching, redemption, builder fees, websockets.

By hand: ``python -m bot.testing.clob_server --port 8080`` seeds a demo market and prints
its URL and API credentials.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import math
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Concatenate, ParamSpec, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

from bot.errors import BotError
from bot.testing.clob_hash import order_hash

MICRO = 1_000_000
EPS = 1e-9
INITIAL_CURSOR, END_CURSOR = "MA==", "LTE="
ZERO_ADDRESS = "0x" + "0" * 40
MAX_UINT256 = str(2**256 - 1)
ALLOWANCE_SPENDERS = (  # Polygon: CTF Exchange V2, neg-risk Exchange V2, neg-risk adapter
    "0xE111180000d2663C0091e4f400237545B87B996B",
    "0xe2222d279d744050d28e00520010520000310F59",
    "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296",
)
DEFAULT_API_KEY = "7e57c10b-0000-4000-8000-000000000001"
DEFAULT_API_SECRET = base64.urlsafe_b64encode(b"touchtrader-local-clob-secret-00").decode()
DEFAULT_API_PASSPHRASE = "touchtrader-local-passphrase"
UNAUTHORIZED = "Unauthorized/Invalid api key"
NO_BOOK = "No orderbook exists for the requested token id"
NOT_ENOUGH_BALANCE = "not enough balance / allowance"
NOT_LIVE = "order can't be found - already canceled or matched"
FOK_NOT_FILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NO_MATCH = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)
MAX_BATCH = 15
# FOK/FAK amounts the venue accepts, whatever the tick: maker 2 decimals, taker 4 (micros)
MARKET_MAKER_UNIT, MARKET_TAKER_UNIT = 10_000, 100
REQUIRED_ORDER_FIELDS = (
    "salt",
    "maker",
    "signer",
    "tokenId",
    "makerAmount",
    "takerAmount",
    "side",
    "signatureType",
    "timestamp",
    "signature",
)
ORDER_TYPES = ("GTC", "GTD", "FOK", "FAK")
# A refused order inside a POST /orders batch (a single POST /order answers 400 instead).
REFUSED = {"success": False, "orderID": "", "status": "", "makingAmount": "", "takingAmount": ""}


class ClobError(BotError):
    """A refusal the API reports as ``{"error": message}`` with an HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def to_micro(x: float) -> int:
    return round(x * MICRO)


def fmt(x: float) -> str:
    """Decimal string as the API writes numbers: ``0.5``, ``10``, ``0.0025``."""
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def fmt_micro(n: int) -> str:
    return fmt(n / MICRO)


def _hex_id(*parts: object) -> str:
    return "0x" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _opposite(side: str) -> str:
    return "SELL" if side == "BUY" else "BUY"


def paginate(rows: list[Any], cursor: str | None, page_size: int) -> dict[str, Any]:
    """``{data, next_cursor, limit, count}``; cursors are base64 offsets, ``LTE=`` (-1) ends."""
    try:
        offset = int(base64.b64decode(cursor or INITIAL_CURSOR))
    except ValueError:
        raise ClobError("invalid next_cursor") from None
    page = rows[offset : offset + page_size] if offset >= 0 else []
    end = offset + page_size
    nxt = base64.b64encode(str(end).encode()).decode() if offset >= 0 and end < len(rows) else None
    return {"data": page, "next_cursor": nxt or END_CURSOR, "limit": page_size, "count": len(page)}


def sign_l2(secret: str, timestamp: str, method: str, path: str, body: str = "") -> str:
    """The L2 ``POLY_SIGNATURE`` exactly as py-clob-client-v2 computes it (query excluded)."""
    message = timestamp + method + path + body.replace("'", '"')
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode()


@dataclass
class Market:
    condition_id: str
    tokens: tuple[str, str]
    tick: float = 0.01
    min_size: float = 5.0
    neg_risk: bool = False
    fee_rate: float = 0.0
    fee_exponent: float = 1.0
    accepting_orders: bool = True
    closed: bool = False
    question: str = ""
    outcomes: tuple[str, str] = ("Up", "Down")
    winner: str | None = None
    end_date_iso: str | None = None

    def outcome(self, token: str) -> str:
        return self.outcomes[self.tokens.index(token)]

    def fee(self, shares: int, price: float) -> int:
        """Taker fee in micro collateral: shares × rate × (p × (1 − p))^exponent."""
        return round(shares * self.fee_rate * (price * (1 - price)) ** self.fee_exponent)

    @property
    def fee_bps(self) -> int:
        return round(self.fee_rate * 10_000)


@dataclass
class Order:
    id: str
    owner: str
    maker_address: str
    market: str
    token: str
    side: str
    price: float
    size: int  # shares (micro); a market BUY's budget at its limit price
    order_type: str
    expiration: int
    created_at: float
    seq: int
    budget: int | None = None  # market (FOK/FAK) BUY: collateral to spend, micro
    matched: int = 0
    status: str = "LIVE"
    trade_ids: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return max(self.size - self.matched, 0)


@dataclass
class Trade:
    """A trade as the owner of ``order`` (their side of it) sees it."""

    id: str
    order: Order
    role: str  # "trader_side": TAKER or MAKER
    taker_order_id: str
    side: str  # the taker's side, as the real API reports it
    price: float
    size: int
    match_time: float
    maker_orders: list[dict[str, Any]]
    duplicate: bool = False
    failed: bool = False  # the settlement transaction failed on chain: never a fill

    @property
    def transaction_hash(self) -> str:
        return _hex_id("tx", self.id)


Plan = list[tuple[float, int, Order | None]]  # (price, shares, maker order or None = liquidity)
P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[Concatenate[Exchange, P], R]) -> Callable[Concatenate[Exchange, P], R]:
    @functools.wraps(method)
    def wrapper(self: Exchange, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            self._housekeep()
            return method(self, *args, **kwargs)

    return wrapper


class Exchange:
    """Venue state, thread-safe: every public method takes the lock and first applies what
    time has made due (GTD expiry, heartbeat dead-man cancels), using ``self.clock``."""

    def __init__(
        self,
        *,
        default_balance: float = 1_000.0,
        heartbeat_timeout_s: float = 10.0,
        trade_settle_s: float = 1.0,
        page_size: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.trade_settle_s = trade_settle_s  # MATCHED → MINED at half of it → CONFIRMED
        self.page_size = page_size
        self.default_balance = to_micro(default_balance)
        self._lock = threading.RLock()
        self._markets: dict[str, Market] = {}
        self._by_token: dict[str, Market] = {}
        self._liquidity: dict[str, dict[str, dict[float, int]]] = {}  # token → side → levels
        self._orders: dict[str, Order] = {}
        self._live: dict[str, Order] = {}
        self._trades: list[Trade] = []
        self._cash: dict[str, int] = {}
        self._positions: dict[tuple[str, str], int] = {}
        self._heartbeats: dict[str, tuple[str, float]] = {}
        self._last_trade: dict[str, tuple[float, str]] = {}
        self._history: dict[str, list[tuple[int, float]]] = {}
        self._seq = itertools.count(1)
        self._fill_after_cancel: list[float | None] = []
        self._duplicate_trades = 0

    # -- setup and scenarios (tests) ---------------------------------------------------
    @_locked
    def add_market(self, condition_id: str, tokens: tuple[str, str], **settings: Any) -> Market:
        """Add a binary market; ``settings`` are ``Market`` fields (tick, min_size, neg_risk,
        fee_rate, fee_exponent, accepting_orders, closed, question, outcomes)."""
        if not all(t.isdigit() for t in tokens):
            raise ValueError(f"token ids must be decimal strings (uint256), got {tokens}")
        market = Market(condition_id, (tokens[0], tokens[1]), **settings)
        market.question = market.question or f"Market {condition_id}?"
        self._markets[condition_id] = market
        for token in tokens:
            self._by_token[token] = market
            self._liquidity[token] = {"BUY": {}, "SELL": {}}
        return market

    @_locked
    def set_book(
        self, token: str, bids: Iterable[tuple[float, float]] = (), asks: Iterable[tuple[float, float]] = ()
    ) -> None:
        """Replace the anonymous resting liquidity of ``token`` (price, shares) levels."""
        self.market(token)
        for side, levels in (("BUY", bids), ("SELL", asks)):
            self._liquidity[token][side] = {round(p, 6): to_micro(s) for p, s in levels if s > 0}
        bid, ask = self._best(token, "BUY"), self._best(token, "SELL")
        if bid is not None and ask is not None:
            self._history.setdefault(token, []).append((int(self.clock()), round((bid + ask) / 2, 6)))

    @_locked
    def set_tick(self, token: str, tick: float) -> None:
        self.market(token).tick = tick

    @_locked
    def set_accepting_orders(self, condition_id: str, accepting: bool) -> None:
        self._markets[condition_id].accepting_orders = accepting

    @_locked
    def resolve(self, condition_id: str, winner_token: str | None) -> None:
        """Close the market: resting orders become CANCELED_MARKET_RESOLVED."""
        for order in [o for o in self._live.values() if o.market == condition_id]:
            self._close(order, "CANCELED_MARKET_RESOLVED")
        market = self._markets[condition_id]
        market.closed, market.accepting_orders, market.winner = True, False, winner_token

    @_locked
    def set_balance(self, owner: str, usdc: float) -> None:
        self._cash[owner] = to_micro(usdc)

    @_locked
    def balance(self, owner: str) -> float:
        return self._cash_of(owner) / MICRO

    @_locked
    def set_position(self, owner: str, token: str, shares: float) -> None:
        self._positions[(owner, token)] = to_micro(shares)

    @_locked
    def position(self, owner: str, token: str) -> float:
        return self._positions.get((owner, token), 0) / MICRO

    @_locked
    def cross(self, token: str, price: float, size: float) -> list[str]:
        """Another trader trades ``size`` shares at ``price``: resting orders at that price or
        better (bids ≥ price, else asks ≤ price) fill best first as MAKER trades at their own
        price. Returns the trade ids."""
        self.market(token)
        live = [o for o in self._live.values() if o.token == token]
        bids = sorted(
            (o for o in live if o.side == "BUY" and o.price >= price - EPS), key=lambda o: (-o.price, o.seq)
        )
        asks = sorted(
            (o for o in live if o.side == "SELL" and o.price <= price + EPS), key=lambda o: (o.price, o.seq)
        )
        left, ids = to_micro(size), []
        for order in bids or asks:
            qty = min(left, order.remaining)
            if qty <= 0:
                break
            ids.append(self._fill_maker(order, qty).id)
            left -= qty
        return ids

    @_locked
    def trade_against(self, order_id: str, size: float | None = None) -> str:
        """Fill a resting order (all of it, or ``size`` shares) at its price; the trade id."""
        order = self._live.get(order_id)
        if order is None:
            raise KeyError(f"no live order {order_id}")
        qty = order.remaining if size is None else min(to_micro(size), order.remaining)
        return self._fill_maker(order, qty).id

    @_locked
    def fill_after_cancel(self, count: int = 1, size: float | None = None) -> None:
        """The next ``count`` cancels succeed, but a fill (``size`` shares, default all that
        remained) is recorded for the order right afterwards: the cancel/fill race."""
        self._fill_after_cancel.extend([size] * count)

    @_locked
    def fail_trades(self) -> list[str]:
        """Every trade recorded so far turns FAILED in ``/data/trades`` (its settlement
        failed on chain); balances and positions are left as they were. The trade ids."""
        for trade in self._trades:
            trade.failed = True
        return [t.id for t in self._trades]

    @_locked
    def duplicate_trades(self, count: int = 1) -> None:
        """The next ``count`` trades recorded appear twice (same id) in ``/data/trades``."""
        self._duplicate_trades += count

    @_locked
    def orders(self, owner: str | None = None, live_only: bool = False) -> list[dict[str, Any]]:
        pool = self._live if live_only else self._orders
        return [self._order_row(o) for o in pool.values() if owner in (None, o.owner)]

    # -- public market data --------------------------------------------------------------
    def market(self, token: str) -> Market:
        market = self._by_token.get(token)
        if market is None:
            raise ClobError(NO_BOOK, 404)
        return market

    @_locked
    def book(self, token: str) -> dict[str, Any]:
        """Bids ascending and asks descending: clients take the LAST level as the best."""
        market = self.market(token)
        summary: dict[str, Any] = {
            "market": market.condition_id,
            "asset_id": token,
            "timestamp": str(int(self.clock() * 1000)),
            "hash": "",
            "bids": self._book_side(token, "BUY"),
            "asks": self._book_side(token, "SELL"),
            "min_order_size": fmt(market.min_size),
            "tick_size": fmt(market.tick),
            "neg_risk": market.neg_risk,
            "last_trade_price": fmt(self._last_trade.get(token, (0.5, ""))[0]),
        }
        compact = json.dumps(summary, separators=(",", ":"), ensure_ascii=False)
        summary["hash"] = hashlib.sha1(compact.encode()).hexdigest()  # as the client verifies it
        return summary

    @_locked
    def price(self, token: str, side: str) -> float:
        """Like the real ``/price``: BUY → best bid, SELL → best ask (0 when empty)."""
        self.market(token)
        return self._best(token, "BUY" if side.upper() == "BUY" else "SELL") or 0.0

    @_locked
    def midpoint(self, token: str) -> float:
        self.market(token)
        bid, ask = self._best(token, "BUY"), self._best(token, "SELL")
        if bid is not None and ask is not None:
            return round((bid + ask) / 2, 6)
        if bid is not None or ask is not None:
            return bid if bid is not None else cast(float, ask)
        return self._last_trade.get(token, (0.5, ""))[0]

    @_locked
    def spread(self, token: str) -> float:
        self.market(token)
        bid, ask = self._best(token, "BUY"), self._best(token, "SELL")
        return round(ask - bid, 6) if bid is not None and ask is not None else 0.0

    @_locked
    def last_trade_price(self, token: str) -> dict[str, str]:
        self.market(token)
        price, side = self._last_trade.get(token, (0.5, ""))
        return {"price": fmt(price), "side": side}

    @_locked
    def prices_history(self, token: str, start: float | None, end: float | None) -> dict[str, Any]:
        self.market(token)
        points = self._history.get(token, [])
        return {
            "history": [
                {"t": t, "p": p}
                for t, p in points
                if (start is None or t >= start) and (end is None or t <= end)
            ]
        }

    @_locked
    def markets_by_token(self, token: str) -> dict[str, str]:
        market = self.market(token)
        return {
            "condition_id": market.condition_id,
            "primary_token_id": market.tokens[0],
            "secondary_token_id": market.tokens[1],
        }

    @_locked
    def clob_market(self, condition_id: str) -> dict[str, Any]:
        """The compact ``/clob-markets/{id}`` form the client caches tick/neg-risk/fees from."""
        m = self._markets.get(condition_id)
        if m is None:
            raise ClobError("market not found", 404)
        return {
            "c": m.condition_id,
            "t": [{"t": t, "o": o} for t, o in zip(m.tokens, m.outcomes, strict=True)],
            "mts": m.tick,
            "mos": m.min_size,
            "nr": m.neg_risk,
            "fd": {"r": m.fee_rate, "e": m.fee_exponent, "to": True},
            "ao": m.accepting_orders,
        }

    @_locked
    def markets(self, cursor: str | None, simplified: bool = False) -> dict[str, Any]:
        rows = [self._market_row(m, simplified) for m in self._markets.values()]
        return paginate(rows, cursor, self.page_size)

    @_locked
    def market_info(self, condition_id: str) -> dict[str, Any]:
        if condition_id not in self._markets:
            raise ClobError("market not found", 404)
        return self._market_row(self._markets[condition_id], simplified=False)

    # -- private: orders ---------------------------------------------------------------
    @_locked
    def place(self, owner: str, address: str | None, payload: Any) -> dict[str, Any]:
        """``POST /order``. Raises ClobError for refusals (the API answers 400)."""
        order, market = self._parse(owner, address, payload)
        self._check_funds(order, market)
        plan = self._plan(order)
        if payload.get("postOnly") and plan:
            raise ClobError("invalid post-only order: order crosses book")
        if order.order_type == "FOK" and not self._fills_completely(order, plan):
            raise ClobError(FOK_NOT_FILLED)
        if order.order_type == "FAK" and not plan:
            raise ClobError(FAK_NO_MATCH)
        self._orders[order.id] = order
        trades = self._execute(order, plan)
        if order.order_type in ("GTC", "GTD") and order.remaining > 0:
            self._live[order.id] = order
        else:
            order.status = "MATCHED" if order.matched else "CANCELED"
        cash = sum(round(t.size * t.price) for t in trades)
        shares = sum(t.size for t in trades)
        making, taking = (cash, shares) if order.side == "BUY" else (shares, cash)
        return {
            "success": True,
            "errorMsg": "",
            "orderID": order.id,
            "status": "matched" if trades else "live",
            "makingAmount": fmt_micro(making),
            "takingAmount": fmt_micro(taking),
            "transactionsHashes": [t.transaction_hash for t in trades],
            "tradeIDs": [t.id for t in trades],
        }

    @_locked
    def place_many(self, owner: str, address: str | None, payloads: Any) -> list[dict[str, Any]]:
        if not isinstance(payloads, list):
            raise ClobError("Invalid payload")
        if len(payloads) > MAX_BATCH:
            raise ClobError(f"Too many orders in payload, max allowed: {MAX_BATCH}")
        results = []
        for payload in payloads:
            try:
                results.append(self.place(owner, address, payload))
            except ClobError as exc:
                results.append({**REFUSED, "errorMsg": exc.message, "transactionsHashes": [], "tradeIDs": []})
        return results

    @_locked
    def cancel(self, owner: str, order_ids: Iterable[Any]) -> dict[str, Any]:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for order_id in map(str, order_ids):
            order = self._live.get(order_id)
            if order is None or order.owner != owner:
                not_canceled[order_id] = NOT_LIVE
                continue
            self._close(order, "CANCELED")
            canceled.append(order_id)
            if self._fill_after_cancel:
                size = self._fill_after_cancel.pop(0)
                qty = order.remaining if size is None else min(to_micro(size), order.remaining)
                if qty > 0:
                    self._fill_maker(order, qty)
        return {"canceled": canceled, "not_canceled": not_canceled}

    @_locked
    def cancel_all(self, owner: str) -> dict[str, Any]:
        return self.cancel(owner, [o.id for o in self._live.values() if o.owner == owner])

    @_locked
    def cancel_market(self, owner: str, market: str | None, asset_id: str | None) -> dict[str, Any]:
        ids = [
            o.id
            for o in self._live.values()
            if o.owner == owner and market in (None, "", o.market) and asset_id in (None, "", o.token)
        ]
        return self.cancel(owner, ids)

    @_locked
    def open_orders(self, owner: str, query: Mapping[str, str]) -> dict[str, Any]:
        rows = [
            self._order_row(o)
            for o in self._live.values()
            if o.owner == owner and _matches(query, id=o.id, market=o.market, asset_id=o.token)
        ]
        return paginate(rows, query.get("next_cursor"), self.page_size)

    @_locked
    def order(self, owner: str, order_id: str) -> dict[str, Any]:
        order = self._orders.get(order_id)
        if order is None or order.owner != owner:
            raise ClobError("order not found", 404)
        return self._order_row(order)

    @_locked
    def trades(self, owner: str, query: Mapping[str, str]) -> dict[str, Any]:
        """Newest first; ``before``/``after`` compare unix seconds of match_time."""
        rows: list[dict[str, Any]] = []
        before, after = query.get("before"), query.get("after")
        for trade in reversed(self._trades):
            o = trade.order
            if o.owner != owner or not _matches(query, id=trade.id, market=o.market, asset_id=o.token):
                continue
            if query.get("maker_address", o.maker_address).lower() != o.maker_address.lower():
                continue
            if (before and trade.match_time >= float(before)) or (after and trade.match_time <= float(after)):
                continue
            row = self._trade_row(trade)
            rows.extend([row, row] if trade.duplicate else [row])
        return paginate(rows, query.get("next_cursor"), self.page_size)

    @_locked
    def balance_allowance(self, owner: str, asset_type: str, token_id: str | None) -> dict[str, Any]:
        if asset_type.upper() == "CONDITIONAL":
            if not token_id:
                raise ClobError("token_id is required for asset_type CONDITIONAL")
            balance = self._positions.get((owner, token_id), 0)
        else:
            balance = self._cash_of(owner)
        return {"balance": str(balance), "allowances": {a: MAX_UINT256 for a in ALLOWANCE_SPENDERS}}

    @_locked
    def heartbeat(self, owner: str, heartbeat_id: str = "") -> dict[str, str]:
        """Start/refresh the dead-man switch: if no heartbeat arrives within
        ``heartbeat_timeout_s``, all the owner's resting orders are cancelled."""
        known = self._heartbeats.get(owner)
        hb_id = heartbeat_id or (known[0] if known else str(uuid.uuid4()))
        self._heartbeats[owner] = (hb_id, self.clock())
        return {"heartbeat_id": hb_id}

    # -- internals (lock held) -----------------------------------------------------------
    def _housekeep(self) -> None:
        now = self.clock()
        for order in list(self._live.values()):
            if order.order_type == "GTD" and 0 < order.expiration <= now:
                self._close(order, "CANCELED")
        for owner, (_, last) in list(self._heartbeats.items()):
            if now - last > self.heartbeat_timeout_s:
                del self._heartbeats[owner]
                for order in [o for o in self._live.values() if o.owner == owner]:
                    self._close(order, "CANCELED")

    def _close(self, order: Order, status: str) -> None:
        order.status = status
        self._live.pop(order.id, None)

    def _cash_of(self, owner: str) -> int:
        return self._cash.setdefault(owner, self.default_balance)

    def _levels(self, token: str, side: str) -> dict[float, int]:
        levels = dict(self._liquidity[token][side])
        for o in self._live.values():
            if o.token == token and o.side == side:
                levels[o.price] = levels.get(o.price, 0) + o.remaining
        return levels

    def _book_side(self, token: str, side: str) -> list[dict[str, str]]:
        levels = sorted(self._levels(token, side).items(), reverse=side == "SELL")
        return [{"price": fmt(p), "size": fmt_micro(s)} for p, s in levels]

    def _best(self, token: str, side: str) -> float | None:
        prices = self._levels(token, side)
        return (max if side == "BUY" else min)(prices) if prices else None

    def _parse(self, owner: str, address: str | None, payload: Any) -> tuple[Order, Market]:
        raw = payload.get("order") if isinstance(payload, dict) else None
        if not isinstance(raw, dict):
            raise ClobError("Invalid order payload")
        if "timestamp" not in raw:  # a V1 (pre-2026-04-28) signed order
            raise ClobError("order_version_mismatch")
        missing = [k for k in REQUIRED_ORDER_FIELDS if raw.get(k) in (None, "")]
        if missing:
            raise ClobError(f"Invalid order payload: missing {', '.join(missing)}")
        if payload.get("owner") != owner:
            raise ClobError("the order owner has to be the same as the API KEY")
        if address and str(raw["signer"]).lower() != address.lower():
            raise ClobError("the order signer address has to be the address of the API KEY")
        order_type = payload.get("orderType", "GTC")
        if order_type not in ORDER_TYPES:
            raise ClobError(f"invalid order type: {order_type}")
        if payload.get("postOnly") and order_type not in ("GTC", "GTD"):
            raise ClobError("invalid post-only order: only GTC and GTD orders can be post-only")
        token, side = str(raw["tokenId"]), raw["side"]
        market = self.market(token)
        if market.closed or not market.accepting_orders:
            raise ClobError("the market is not yet ready to process new orders")
        if side not in ("BUY", "SELL"):
            raise ClobError(f"invalid order side: {side}")
        try:
            maker_amount, taker_amount = int(raw["makerAmount"]), int(raw["takerAmount"])
            expiration = int(raw.get("expiration") or 0)
        except (TypeError, ValueError):
            raise ClobError("Invalid order payload: amounts must be integers") from None
        if maker_amount <= 0 or taker_amount <= 0:
            raise ClobError("Invalid order payload: amounts must be positive")
        shares, cash = (taker_amount, maker_amount) if side == "BUY" else (maker_amount, taker_amount)
        marketable = order_type in ("FOK", "FAK")
        if marketable and (maker_amount % MARKET_MAKER_UNIT or taker_amount % MARKET_TAKER_UNIT):
            kind = "market buy" if side == "BUY" else "sell"
            raise ClobError(
                f"invalid amounts, the {kind} orders maker amount supports a max accuracy of 2 decimals,"
                " taker amount a max of 4 decimals"
            )
        # A market order's amounts are rounded by the client: snap its implied price to the tick.
        price = self._snap(cash / shares, market.tick, tolerance=0.5 if marketable else 1e-6)
        now = self.clock()
        if order_type == "GTD" and expiration < now + 60:
            raise ClobError(f"invalid expiration {expiration}: GTD needs at least now + 60 s ({int(now)})")
        if not marketable and shares < to_micro(market.min_size):
            raise ClobError(f"Size ({fmt_micro(shares)}) lower than the minimum: {fmt(market.min_size)}")
        try:  # the order's EIP-712 hash, like the venue: a re-sent signed order is a duplicate
            order_id = order_hash(raw, market.neg_risk)
        except Exception:  # a hand-made test payload (addresses like "0xm"): still stable
            order_id = _hex_id(raw["signature"], raw["salt"])
        if order_id in self._orders:
            raise ClobError(f"order {order_id} is invalid. Duplicated.")
        order = Order(
            order_id,
            owner,
            str(raw["maker"]),
            market.condition_id,
            token,
            side,
            price,
            shares,
            order_type,
            expiration,
            now,
            next(self._seq),
        )
        order.budget = cash if marketable and side == "BUY" else None
        return order, market

    @staticmethod
    def _snap(price: float, tick: float, tolerance: float) -> float:
        ticks = price / tick
        if abs(ticks - round(ticks)) > tolerance:
            raise ClobError(
                f"order is invalid. Price ({fmt(price)}) breaks minimum tick size rule: {fmt(tick)}"
            )
        snapped = round(round(ticks) * tick, 6)
        if not tick - EPS <= snapped <= 1 - tick + EPS:
            raise ClobError(f"invalid price ({fmt(snapped)}), min: {fmt(tick)} - max: {fmt(1 - tick)}")
        return snapped

    def _check_funds(self, order: Order, market: Market) -> None:
        mine = [o for o in self._live.values() if o.owner == order.owner and o.side == order.side]
        if order.side == "BUY":
            need = order.budget if order.budget is not None else round(order.size * order.price)
            need += market.fee(order.size, order.price)
            have = self._cash_of(order.owner) - sum(round(o.remaining * o.price) for o in mine)
        else:
            need = order.size
            reserved = sum(o.remaining for o in mine if o.token == order.token)
            have = self._positions.get((order.owner, order.token), 0) - reserved
        if need > have:
            raise ClobError(NOT_ENOUGH_BALANCE)

    def _plan(self, order: Order) -> Plan:
        """The maker fills an incoming order would get, best price first (price-time)."""
        buy, opposite = order.side == "BUY", _opposite(order.side)
        candidates: list[tuple[float, int, int, Order | None]] = [
            (p, 0, s, None) for p, s in self._liquidity[order.token][opposite].items()
        ]
        candidates += [
            (o.price, o.seq, o.remaining, o)
            for o in self._live.values()
            if o.token == order.token and o.side == opposite and o.owner != order.owner
        ]
        crossing = [
            c for c in candidates if (c[0] <= order.price + EPS if buy else c[0] >= order.price - EPS)
        ]
        crossing.sort(key=lambda c: (c[0] if buy else -c[0], c[1]))
        plan: Plan = []
        left, budget = order.remaining, order.budget
        for price, _, available, maker in crossing:
            qty = min(available, left if budget is None else math.floor(budget / price))
            if qty <= 0:
                break
            plan.append((price, qty, maker))
            if budget is None:
                left -= qty
            else:
                budget -= round(qty * price)
        return plan

    @staticmethod
    def _fills_completely(order: Order, plan: Plan) -> bool:
        if order.budget is not None:
            return order.budget - sum(round(q * p) for p, q, _ in plan) < 100  # < 0.0001 USDC left
        return sum(q for _, q, _ in plan) >= order.remaining

    def _execute(self, order: Order, plan: Plan) -> list[Trade]:
        market, opposite = self._by_token[order.token], _opposite(order.side)
        trades = []
        for price, qty, maker in plan:
            trade_id = str(uuid.uuid4())
            if maker is None:
                levels = self._liquidity[order.token][opposite]
                levels[price] -= qty
                if levels[price] <= 0:
                    del levels[price]
                anonymous = ("", ZERO_ADDRESS, order.token, opposite)
                entries = [self._entry(_hex_id("liquidity", trade_id), *anonymous, price, qty)]
            else:
                entries = self._fill_maker(maker, qty, trade_id, order.id).maker_orders
            self._settle(order, qty, price, market.fee(qty, price))
            if order.budget is not None:
                order.budget -= round(qty * price)
            trades.append(self._record(order, "TAKER", trade_id, price, qty, entries))
        return trades

    def _fill_maker(self, order: Order, qty: int, trade_id: str = "", taker_order_id: str = "") -> Trade:
        """Fill ``qty`` of a resting order against someone's taker order (makers pay no fee)."""
        trade_id = trade_id or str(uuid.uuid4())
        self._settle(order, qty, order.price, 0)
        if order.remaining == 0 and order.id in self._live:
            self._close(order, "MATCHED")
        who = (order.owner, order.maker_address, order.token, order.side)
        entries = [self._entry(order.id, *who, order.price, qty)]
        taker_order_id = taker_order_id or _hex_id("taker", trade_id)
        return self._record(order, "MAKER", trade_id, order.price, qty, entries, taker_order_id)

    def _entry(
        self, order_id: str, owner: str, address: str, token: str, side: str, price: float, qty: int
    ) -> dict[str, Any]:
        """One ``maker_orders`` element."""
        return {
            "order_id": order_id,
            "owner": owner,
            "maker_address": address,
            "matched_amount": fmt_micro(qty),
            "price": fmt(price),
            "fee_rate_bps": "0",
            "asset_id": token,
            "outcome": self._by_token[token].outcome(token),
            "side": side,
        }

    def _settle(self, order: Order, qty: int, price: float, fee: int) -> None:
        """Book a fill of ``order``: shares and collateral move, the taker fee is charged."""
        owner, sign = order.owner, 1 if order.side == "BUY" else -1
        order.matched += qty
        self._cash[owner] = self._cash_of(owner) - sign * round(qty * price) - fee
        key = (owner, order.token)
        self._positions[key] = self._positions.get(key, 0) + sign * qty

    def _record(
        self,
        order: Order,
        role: str,
        trade_id: str,
        price: float,
        qty: int,
        makers: list[dict[str, Any]],
        taker_order_id: str = "",
    ) -> Trade:
        side = order.side if role == "TAKER" else _opposite(order.side)
        now = self.clock()
        trade = Trade(trade_id, order, role, taker_order_id or order.id, side, price, qty, now, makers)
        if self._duplicate_trades > 0:
            self._duplicate_trades -= 1
            trade.duplicate = True
        order.trade_ids.append(trade_id)
        self._trades.append(trade)
        self._last_trade[order.token] = (price, side)
        self._history.setdefault(order.token, []).append((int(now), price))
        return trade

    def _trade_row(self, t: Trade) -> dict[str, Any]:
        age, settle = self.clock() - t.match_time, self.trade_settle_s
        status = "CONFIRMED" if age >= settle else "MINED" if age >= settle / 2 else "MATCHED"
        if t.failed:
            status = "FAILED"
        market = self._by_token[t.order.token]
        return {
            "id": t.id,
            "taker_order_id": t.taker_order_id,
            "market": market.condition_id,
            "asset_id": t.order.token,
            "side": t.side,
            "size": fmt_micro(t.size),
            "fee_rate_bps": str(market.fee_bps),
            "price": fmt(t.price),
            "status": status,
            "match_time": str(int(t.match_time)),
            "last_update": str(int(t.match_time)),
            "outcome": market.outcome(t.order.token),
            "bucket_index": 0,
            "owner": t.order.owner,
            "maker_address": t.order.maker_address,
            "transaction_hash": t.transaction_hash,
            "trader_side": t.role,
            "maker_orders": t.maker_orders,
        }

    def _order_row(self, o: Order) -> dict[str, Any]:
        return {
            "id": o.id,
            "status": o.status,
            "owner": o.owner,
            "maker_address": o.maker_address,
            "market": o.market,
            "asset_id": o.token,
            "side": o.side,
            "original_size": fmt_micro(o.size),
            "size_matched": fmt_micro(o.matched),
            "price": fmt(o.price),
            "outcome": self._by_token[o.token].outcome(o.token),
            "expiration": str(o.expiration),
            "order_type": o.order_type,
            "associate_trades": list(o.trade_ids),
            "created_at": int(o.created_at),
        }

    def _market_row(self, m: Market, simplified: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "condition_id": m.condition_id,
            "tokens": [
                {"token_id": t, "outcome": o, "price": self.midpoint(t), "winner": m.winner == t}
                for t, o in zip(m.tokens, m.outcomes, strict=True)
            ],
            "rewards": {"rates": None, "min_size": 0, "max_spread": 0},
            "active": not m.closed,
            "closed": m.closed,
            "archived": False,
            "accepting_orders": m.accepting_orders,
        }
        if not simplified:
            row.update(
                {
                    "question": m.question,
                    "question_id": _hex_id("question", m.condition_id),
                    "market_slug": m.condition_id,
                    "description": "",
                    "minimum_order_size": m.min_size,
                    "minimum_tick_size": m.tick,
                    "neg_risk": m.neg_risk,
                    "maker_base_fee": 0,
                    "taker_base_fee": m.fee_bps,
                    "seconds_delay": 0,
                    "end_date_iso": m.end_date_iso,
                    "tags": [],
                }
            )
        return row


def _matches(query: Mapping[str, str], **values: str) -> bool:
    return all(not query.get(k) or query[k] == v for k, v in values.items())


# -- HTTP layer ----------------------------------------------------------------------------
@dataclass
class Credentials:
    api_key: str
    secret: str
    passphrase: str
    address: str | None = None  # None: accepted from any POLY_ADDRESS


@dataclass
class Fault:
    """Applies to the next ``remaining`` requests matching method + path prefix.

    With ``until`` it applies to every matching request until that time instead (an outage).
    kind: ``delay`` (answer normally after ``delay_s``), ``status`` (HTTP ``status`` with
    ``{"error"}`` and optional ``Retry-After``), ``malformed`` (200 with broken JSON), ``drop``
    (close the connection without answering). ``process=True`` applies the request to the
    exchange first, so e.g. an order rests although its response is lost.
    """

    method: str | None
    path: str
    kind: str
    remaining: int = 1
    status: int = 500
    delay_s: float = 0.0
    retry_after: float | None = None
    process: bool = False
    error: str | None = None  # the {"error"} text of a status fault; default: the HTTP phrase
    until: float | None = None  # wall time: applies to every matching request until then

    def matches(self, method: str, path: str) -> bool:
        prefix = self.path if self.path.endswith("/") else self.path + "/"
        return self.method in (None, method) and (path == self.path or path.startswith(prefix))


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # upper-cased names, POLY_SIGNATURE and POLY_PASSPHRASE removed
    body: Any  # parsed JSON, or the raw text when it is not JSON
    at: float


@dataclass
class _Call:
    query: dict[str, str]
    data: Any
    headers: dict[str, str]
    owner: str
    address: str | None
    tail: str  # the path after a prefix route, e.g. the order id of /data/order/{id}

    def arg(self, name: str) -> str:
        value = self.query.get(name)
        if not value:
            raise ClobError(f"Invalid {name}")
        return value

    def body(self) -> dict[str, Any]:
        return self.data if isinstance(self.data, dict) else {}

    def items(self) -> list[Any]:
        if not isinstance(self.data, list):
            raise ClobError("Invalid payload")
        return self.data


Route = tuple[str, Callable[[_Call], Any]]  # (auth level "", "L1" or "L2", handler)
SECRET_HEADERS = ("POLY_SIGNATURE", "POLY_PASSPHRASE")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    disable_nagle_algorithm = True  # else each keep-alive request stalls ~40 ms

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        cast(_HTTPServer, self.server).app._serve(self)

    do_POST = do_DELETE = do_PUT = do_GET


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], app: ClobServer) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        conn, addr = super().get_request()
        with self.connections_lock:
            self.connections.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (timeouts, dropped connections) are routine here

    def close_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class ClobServer:
    """The CLOB V2 REST API on 127.0.0.1, serving an ``Exchange`` (``server.exchange``).

    ``creds`` are fixed and known (``ApiCreds(*server.creds)``); L1 ``/auth/api-key`` and
    ``/auth/derive-api-key`` also hand out creds derived deterministically from the address.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        api_passphrase: str = DEFAULT_API_PASSPHRASE,
        heartbeat_timeout_s: float = 10.0,
        trade_settle_s: float = 1.0,
        page_size: int = 100,
        default_balance: float = 1_000.0,
        request_log_size: int = 10_000,
    ) -> None:
        self.exchange = Exchange(
            default_balance=default_balance,
            heartbeat_timeout_s=heartbeat_timeout_s,
            trade_settle_s=trade_settle_s,
            page_size=page_size,
        )
        self.api_key, self.api_secret, self.api_passphrase = api_key, api_secret, api_passphrase
        self._keys = {api_key: Credentials(api_key, api_secret, api_passphrase)}
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: deque[RecordedRequest] = deque(maxlen=request_log_size)
        self._stopping = threading.Event()
        self._routes, self._prefix_routes = self._build_routes()
        self._httpd = _HTTPServer((host, port), self)  # bound now: .url is known before start()
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def creds(self) -> tuple[str, str, str]:
        """(api_key, api_secret, api_passphrase), the order of ``ApiCreds``."""
        return self.api_key, self.api_secret, self.api_passphrase

    def start(self) -> ClobServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="clob-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> ClobServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test API (delegates to the exchange; owner defaults to the fixed api key) -------
    def add_market(self, condition_id: str, tokens: tuple[str, str], **kwargs: Any) -> Market:
        return self.exchange.add_market(condition_id, tokens, **kwargs)

    def set_book(
        self, token: str, bids: Iterable[tuple[float, float]] = (), asks: Iterable[tuple[float, float]] = ()
    ) -> None:
        self.exchange.set_book(token, bids, asks)

    def set_tick(self, token: str, tick: float) -> None:
        self.exchange.set_tick(token, tick)

    def resolve(self, condition_id: str, winner_token: str | None) -> None:
        self.exchange.resolve(condition_id, winner_token)

    def cross(self, token: str, price: float, size: float) -> list[str]:
        return self.exchange.cross(token, price, size)

    def trade_against(self, order_id: str, size: float | None = None) -> str:
        return self.exchange.trade_against(order_id, size)

    def set_balance(self, usdc: float, owner: str | None = None) -> None:
        self.exchange.set_balance(owner or self.api_key, usdc)

    def balance(self, owner: str | None = None) -> float:
        return self.exchange.balance(owner or self.api_key)

    def set_position(self, token: str, shares: float, owner: str | None = None) -> None:
        self.exchange.set_position(owner or self.api_key, token, shares)

    def position(self, token: str, owner: str | None = None) -> float:
        return self.exchange.position(owner or self.api_key, token)

    def creds_for(self, address: str, nonce: int = 0) -> tuple[str, str, str]:
        """The creds L1 auth hands ``address`` (registered, so usable at once)."""
        seed = hashlib.sha256(f"{address.lower()}:{nonce}".encode()).digest()
        creds = Credentials(
            str(uuid.UUID(bytes=seed[:16], version=4)),
            base64.urlsafe_b64encode(hashlib.sha256(seed + b"secret").digest()).decode(),
            hashlib.sha256(seed + b"passphrase").hexdigest(),
            address,
        )
        with self._lock:
            self._keys[creds.api_key] = creds
        return creds.api_key, creds.secret, creds.passphrase

    # -- faults --------------------------------------------------------------------------
    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def delay_next(self, method: str | None, path: str, seconds: float, count: int = 1) -> Fault:
        """Answer (and apply) the next requests only after ``seconds``."""
        return self.inject(Fault(method, path, "delay", count, delay_s=seconds))

    def fail_next(
        self,
        method: str | None,
        path: str,
        status: int = 500,
        count: int = 1,
        retry_after: float | None = None,
        process: bool = False,
        error: str | None = None,
    ) -> Fault:
        """Answer ``status`` (5xx, 425, 429 gets ``Retry-After: 1`` unless given)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(method, path, "status", count, status, retry_after=retry_after, process=process)
        fault.error = error
        return self.inject(fault)

    def outage(
        self, seconds: float, status: int = 425, path: str = "/", retry_after: float | None = None
    ) -> Fault:
        """Answer every request under ``path`` with ``status`` for ``seconds`` (425: the weekly
        matching-engine restart), with ``Retry-After`` when given."""
        fault = Fault(None, path, "status", 1, status, retry_after=retry_after)
        fault.until = time.time() + seconds
        return self.inject(fault)

    def malformed_next(self, method: str | None, path: str, count: int = 1, process: bool = False) -> Fault:
        return self.inject(Fault(method, path, "malformed", count, process=process))

    def drop_next(self, method: str | None, path: str, count: int = 1, process: bool = False) -> Fault:
        return self.inject(Fault(method, path, "drop", count, process=process))

    def lose_next_response(
        self, method: str = "POST", path: str = "/order", status: int = 500, count: int = 1
    ) -> Fault:
        """Apply the request (the order rests or fills) but answer ``status``; a status of 0
        drops the connection instead. For a timeout, use ``delay_next`` past the client's."""
        kind = "drop" if status == 0 else "status"
        return self.inject(Fault(method, path, kind, count, status or 500, process=True))

    def fill_after_cancel(self, count: int = 1, size: float | None = None) -> None:
        self.exchange.fill_after_cancel(count, size)

    def duplicate_trades(self, count: int = 1) -> None:
        self.exchange.duplicate_trades(count)

    def fail_trades(self) -> list[str]:
        return self.exchange.fail_trades()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- request handling ----------------------------------------------------------------
    def _build_routes(self) -> tuple[dict[tuple[str, str], Route], list[tuple[str, str, Route]]]:
        ex = self.exchange

        def token(c: _Call) -> str:
            return c.arg("token_id")

        def history(c: _Call) -> Any:
            start, end = c.query.get("startTs"), c.query.get("endTs")
            return ex.prices_history(
                c.arg("market"), float(start) if start else None, float(end) if end else None
            )

        def balance(c: _Call) -> Any:
            return ex.balance_allowance(
                c.owner, c.query.get("asset_type", "COLLATERAL"), c.query.get("token_id")
            )

        routes: dict[tuple[str, str], Route] = {
            ("GET", "/ok"): ("", lambda c: "OK"),
            ("GET", "/time"): ("", lambda c: int(ex.clock())),
            ("GET", "/version"): ("", lambda c: {"version": 2}),
            ("GET", "/book"): ("", lambda c: ex.book(token(c))),
            ("GET", "/midpoint"): ("", lambda c: {"mid": fmt(ex.midpoint(token(c)))}),
            ("GET", "/price"): ("", lambda c: {"price": fmt(ex.price(token(c), c.arg("side")))}),
            ("GET", "/spread"): ("", lambda c: {"spread": fmt(ex.spread(token(c)))}),
            ("GET", "/last-trade-price"): ("", lambda c: ex.last_trade_price(token(c))),
            ("GET", "/tick-size"): ("", lambda c: {"minimum_tick_size": ex.market(token(c)).tick}),
            ("GET", "/neg-risk"): ("", lambda c: {"neg_risk": ex.market(token(c)).neg_risk}),
            ("GET", "/fee-rate"): ("", lambda c: {"base_fee": ex.market(token(c)).fee_bps}),
            ("GET", "/markets"): ("", lambda c: ex.markets(c.query.get("next_cursor"))),
            ("GET", "/sampling-markets"): ("", lambda c: ex.markets(c.query.get("next_cursor"))),
            ("GET", "/simplified-markets"): ("", lambda c: ex.markets(c.query.get("next_cursor"), True)),
            ("GET", "/sampling-simplified-markets"): (
                "",
                lambda c: ex.markets(c.query.get("next_cursor"), True),
            ),
            ("GET", "/prices-history"): ("", history),
            ("POST", "/auth/api-key"): ("L1", self._api_key),
            ("GET", "/auth/derive-api-key"): ("L1", self._api_key),
            ("GET", "/auth/api-keys"): ("L2", lambda c: {"apiKeys": [c.owner]}),
            ("GET", "/auth/ban-status/closed-only"): ("L2", lambda c: {"closed_only": False}),
            ("POST", "/order"): ("L2", lambda c: ex.place(c.owner, c.address, c.data)),
            ("POST", "/orders"): ("L2", lambda c: ex.place_many(c.owner, c.address, c.data)),
            ("DELETE", "/order"): ("L2", lambda c: ex.cancel(c.owner, [c.body().get("orderID", "")])),
            ("DELETE", "/orders"): ("L2", lambda c: ex.cancel(c.owner, c.items())),
            ("DELETE", "/cancel-all"): ("L2", lambda c: ex.cancel_all(c.owner)),
            ("DELETE", "/cancel-market-orders"): (
                "L2",
                lambda c: ex.cancel_market(c.owner, c.body().get("market"), c.body().get("asset_id")),
            ),
            ("GET", "/data/orders"): ("L2", lambda c: ex.open_orders(c.owner, c.query)),
            ("GET", "/data/trades"): ("L2", lambda c: ex.trades(c.owner, c.query)),
            ("GET", "/balance-allowance"): ("L2", balance),
            ("GET", "/balance-allowance/update"): ("L2", balance),
            ("POST", "/v1/heartbeats"): (
                "L2",
                lambda c: ex.heartbeat(c.owner, str(c.body().get("heartbeat_id") or "")),
            ),
        }
        prefix_routes: list[tuple[str, str, Route]] = [
            ("GET", "/markets-by-token/", ("", lambda c: ex.markets_by_token(c.tail))),
            ("GET", "/clob-markets/", ("", lambda c: ex.clob_market(c.tail))),
            ("GET", "/markets/", ("", lambda c: ex.market_info(c.tail))),
            ("GET", "/data/order/", ("L2", lambda c: ex.order(c.owner, c.tail))),
        ]
        return routes, prefix_routes

    def _api_key(self, c: _Call) -> dict[str, str]:
        if not c.headers.get("POLY_NONCE", "0").isdigit():
            raise ClobError("Invalid L1 Request headers", 401)
        key, secret, passphrase = self.creds_for(
            c.headers["POLY_ADDRESS"], int(c.headers.get("POLY_NONCE") or 0)
        )
        return {"apiKey": key, "secret": secret, "passphrase": passphrase}

    def _serve(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        method, path = h.command, split.path
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length > 0 else b""
        headers = {k.upper(): v for k, v in h.headers.items()}
        self._record(method, path, query, headers, body)
        fault = self._take_fault(method, path)
        if fault is not None and fault.delay_s > 0 and self._stopping.wait(fault.delay_s):
            h.close_connection = True
            return
        if fault is not None and fault.kind != "delay" and not fault.process:
            self._send_fault(h, fault)
            return
        try:
            status, payload = self._dispatch(method, path, query, headers, body)
        except Exception as exc:  # a bug here must surface in the test, not hang it
            status, payload = 500, {"error": f"internal error: {exc!r}"}
        if fault is not None and fault.kind != "delay":
            self._send_fault(h, fault)
        else:
            self._send(h, status, json.dumps(payload, separators=(",", ":")).encode())

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        route, tail = self._routes.get((method, path)), ""
        for m, prefix, candidate in self._prefix_routes if route is None else ():
            if m == method and path.startswith(prefix) and len(path) > len(prefix):
                route, tail = candidate, path[len(prefix) :]
                break
        if route is None:
            return 404, {"error": f"{method} {path} not found"}
        level, handler = route
        owner, address = "", None
        if level == "L1" and not all(
            headers.get(h) for h in ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP")
        ):
            return 401, {"error": "Invalid L1 Request headers"}
        if level == "L2":
            auth = self._authenticate(method, path, headers, body)
            if auth is None:
                return 401, {"error": UNAUTHORIZED}
            owner, address = auth
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return 400, {"error": "Invalid payload"}
        try:
            return 200, handler(_Call(query, data, headers, owner, address, tail))
        except ClobError as exc:
            return exc.status, {"error": exc.message}

    def _authenticate(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, str | None] | None:
        with self._lock:
            creds = self._keys.get(headers.get("POLY_API_KEY", ""))
        signature, timestamp, address = (
            headers.get(h) for h in ("POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_ADDRESS")
        )
        if creds is None or not signature or not timestamp or not address:
            return None
        if headers.get("POLY_PASSPHRASE") != creds.passphrase:
            return None
        if creds.address is not None and creds.address.lower() != address.lower():
            return None
        expected = sign_l2(creds.secret, timestamp, method, path, body.decode("utf-8", "replace"))
        if not hmac.compare_digest(expected, signature):
            return None
        return creds.api_key, creds.address

    def _record(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> None:
        text = body.decode("utf-8", "replace")
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = text
        safe = {k: v for k, v in headers.items() if k not in SECRET_HEADERS}
        with self._lock:
            self._requests.append(RecordedRequest(method, path, query, safe, parsed, time.time()))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in list(self._faults):
                if fault.until is not None and time.time() >= fault.until:
                    self._faults.remove(fault)
                    continue
                if fault.matches(method, path) and fault.until is not None:
                    return fault
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _send_fault(self, h: _Handler, fault: Fault) -> None:
        if fault.kind == "drop":
            h.close_connection = True
        elif fault.kind == "malformed":
            self._send(h, 200, b'{"success": true, "orderID": "0x')
        else:
            extra = {} if fault.retry_after is None else {"Retry-After": fmt(fault.retry_after)}
            error = {"error": fault.error or HTTPStatus(fault.status).phrase}
            self._send(h, fault.status, json.dumps(error).encode(), extra)

    @staticmethod
    def _send(h: _Handler, status: int, body: bytes, extra: Mapping[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)


DEMO_CONDITION = "0x" + "de" * 32
DEMO_TOKENS = (
    "71321045679252212594626385532706912750332728571942532289631379312455583992563",
    "52114319501245915516055106046884209969926127482827954674443846427813813222426",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Polymarket CLOB V2 stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    server = ClobServer(args.port, host=args.host).start()
    server.add_market(
        DEMO_CONDITION,
        DEMO_TOKENS,
        tick=0.01,
        min_size=5,
        fee_rate=0.07,
        question="Demo: will BTC be up in 15 minutes?",
    )
    server.set_book(DEMO_TOKENS[0], bids=[(0.48, 200), (0.47, 500)], asks=[(0.52, 200), (0.53, 500)])
    server.set_book(DEMO_TOKENS[1], bids=[(0.47, 200), (0.46, 500)], asks=[(0.51, 200), (0.52, 500)])
    info = {
        "url": server.url,
        "chain_id": 137,
        "api_key": server.api_key,
        "api_secret": server.api_secret,
        "api_passphrase": server.api_passphrase,
        "condition_id": DEMO_CONDITION,
        "tokens": DEMO_TOKENS,
    }
    print(json.dumps(info, indent=2), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
