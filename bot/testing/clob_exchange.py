"""The local CLOB V2 stand-in's venue state: markets, resting liquidity, orders, trades,
balances and heartbeats behind one lock, with price-time matching. It knows nothing about
HTTP (bot/testing/clob_server.py serves it), so it can be unit-tested alone."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from bot.testing.clob_book import book_levels, fills_completely, plan_fills
from bot.testing.clob_wire import (
    ALLOWANCE_SPENDERS,
    EPS,
    FAK_NO_MATCH,
    FOK_NOT_FILLED,
    MAX_BATCH,
    MAX_UINT256,
    MICRO,
    NO_BOOK,
    NOT_ENOUGH_BALANCE,
    NOT_LIVE,
    REFUSED,
    ZERO_ADDRESS,
    ClobError,
    Market,
    Order,
    Plan,
    Trade,
    fmt,
    fmt_micro,
    hex_id,
    market_row,
    opposite,
    order_row,
    paginate,
    parse_order,
    to_micro,
    trade_row,
)

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
        self.trade_listeners: list[Callable[[str, str], None]] = []  # (owner, trade id) on each trade

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
    def redeem(self, owner: str, condition_id: str) -> int:
        """The adapter's ``redeemPositions`` for ``owner``: burn both tokens of a resolved market,
        pay $1 a winning share (0.5 each if it resolved 50/50). Returns the micros paid."""
        market = self._markets.get(condition_id)
        if market is None or not market.closed:
            raise ClobError("execution reverted: condition not resolved", 409)
        paid = 0
        for token in market.tokens:
            shares = self._positions.pop((owner, token), 0)
            paid += shares if market.winner == token else shares // 2 if market.winner is None else 0
        self._cash[owner] = self._cash_of(owner) + paid
        return paid

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
        plan = plan_fills(order, self._liquidity[order.token][opposite(order.side)], self._live.values())
        if payload.get("postOnly") and plan:
            raise ClobError("invalid post-only order: order crosses book")
        if order.order_type == "FOK" and not fills_completely(order, plan):
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
        return book_levels(self._liquidity[token][side], self._live.values(), token, side)

    def _book_side(self, token: str, side: str) -> list[dict[str, str]]:
        levels = sorted(self._levels(token, side).items(), reverse=side == "SELL")
        return [{"price": fmt(p), "size": fmt_micro(s)} for p, s in levels]

    def _best(self, token: str, side: str) -> float | None:
        prices = self._levels(token, side)
        return (max if side == "BUY" else min)(prices) if prices else None

    def _parse(self, owner: str, address: str | None, payload: Any) -> tuple[Order, Market]:
        order, market = parse_order(payload, owner, address, self.market, self.clock())
        if order.id in self._orders:
            raise ClobError(f"order {order.id} is invalid. Duplicated.")
        order.seq = next(self._seq)
        return order, market

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

    def _execute(self, order: Order, plan: Plan) -> list[Trade]:
        market, other = self._by_token[order.token], opposite(order.side)
        trades = []
        for price, qty, maker in plan:
            trade_id = str(uuid.uuid4())
            if maker is None:
                levels = self._liquidity[order.token][other]
                levels[price] -= qty
                if levels[price] <= 0:
                    del levels[price]
                anonymous = ("", ZERO_ADDRESS, order.token, other)
                entries = [self._entry(hex_id("liquidity", trade_id), *anonymous, price, qty)]
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
        taker_order_id = taker_order_id or hex_id("taker", trade_id)
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
        side = order.side if role == "TAKER" else opposite(order.side)
        now = self.clock()
        trade = Trade(trade_id, order, role, taker_order_id or order.id, side, price, qty, now, makers)
        if self._duplicate_trades > 0:
            self._duplicate_trades -= 1
            trade.duplicate = True
        order.trade_ids.append(trade_id)
        self._trades.append(trade)
        self._last_trade[order.token] = (price, side)
        self._history.setdefault(order.token, []).append((int(now), price))
        for listener in self.trade_listeners:  # the user websocket (ws_user_server.py): queues only
            listener(order.owner, trade_id)
        return trade

    def _trade_row(self, t: Trade) -> dict[str, Any]:
        age, settle = self.clock() - t.match_time, self.trade_settle_s
        status = "CONFIRMED" if age >= settle else "MINED" if age >= settle / 2 else "MATCHED"
        return trade_row(t, self._by_token[t.order.token], "FAILED" if t.failed else status)

    def _order_row(self, o: Order) -> dict[str, Any]:
        return order_row(o, self._by_token[o.token])

    def _market_row(self, m: Market, simplified: bool) -> dict[str, Any]:
        return market_row(m, simplified, self.midpoint)


def _matches(query: Mapping[str, str], **values: str) -> bool:
    return all(not query.get(k) or query[k] == v for k, v in values.items())
