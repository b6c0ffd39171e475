"""Pure parsers from Polymarket CLOB V2 JSON to the bot's domain types (no I/O, no vendor imports).

Every number on the wire is a decimal string or a JSON number ("0.53", "100.0000", 0.01);
it becomes exact integer micros here or the parse fails. Anything missing, malformed or
unexpected raises `ParseError` naming the field (``book.bids[2].price``): the live venue then
treats the answer as unknown instead of guessing.

What is parsed:

- ``GET /book``: the top of book of one token → `BookTick` of the market's UP token (best
  bid = highest bid, best ask = lowest ask, whatever order the levels come in; a DOWN token's
  book is mirrored: up bid = 1 − down ask).
- ``GET /clob-markets/{condition_id}`` (compact: ``t`` tokens, ``mts`` tick, ``mos`` minimum
  size, ``nr`` neg risk, ``fd`` fee schedule, ``ao`` accepting orders), optionally completed
  by the ``GET /markets/{condition_id}`` row (question, end date, closed, winner) → `MarketInfo`;
  ``GET /markets-by-token/{token_id}`` → the condition id.
- ``GET /data/trades`` rows → our `Fill`s (maker or taker side); only MATCHED, MINED and
  CONFIRMED trades count, FAILED never does, anything else is still pending.
- ``GET /data/orders`` and ``GET /data/order/{id}`` rows → `VenueOrder` (status, filled size).
- ``POST /order`` answers, cancel answers, ``/balance-allowance``, ``/tick-size``, error bodies.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.model import (
    ONE,
    Action,
    BookTick,
    Fill,
    Liquidity,
    Market,
    Micros,
    OrderStatus,
    Outcome,
    taker_fee,
)
from bot.venues.polymarket.wire_fields import (
    ParseError,
    error_message,
    field_of,
    flag,
    integer,
    micros,
    short,
    text,
    tick_micros,
    timestamp_ms,
)

# A market whose end the API does not give: far enough never to close a window by mistake.
UNKNOWN_END_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z
END_CURSOR = "LTE="
COUNTED_TRADE_STATUSES = frozenset({"MATCHED", "MINED", "CONFIRMED"})
FAILED_TRADE_STATUS = "FAILED"
UP_NAMES = frozenset({"up", "yes"})
DOWN_NAMES = frozenset({"down", "no"})
_HEX_CONDITION = re.compile(r"^0x[0-9a-fA-F]{64}$")


class TradeState(enum.StrEnum):
    COUNTED = "COUNTED"  # MATCHED, MINED, CONFIRMED: book the fill
    PENDING = "PENDING"  # RETRYING or unknown: look again later
    FAILED = "FAILED"  # never settles: not a fill


@dataclass(frozen=True, slots=True)
class TopOfBook:
    """One token's own best levels, as the venue shows them (sizes in shares)."""

    token_id: str
    bid: Micros  # 0 when there is no bid
    bid_size: Micros
    ask: Micros  # ONE when there is no ask
    ask_size: Micros
    ts_ms: int | None


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """A market as validated from the API: the domain `Market` plus what trading needs."""

    market: Market
    neg_risk: bool
    accepting_orders: bool
    closed: bool
    winner: Outcome | None = None

    @property
    def condition_id(self) -> str:
        return self.market.market_id

    def token_for(self, outcome: Outcome) -> str:
        tokens = self.market.token_ids
        assert tokens is not None  # always set by parse_clob_market
        return tokens[0] if outcome is Outcome.UP else tokens[1]


@dataclass(frozen=True, slots=True)
class MarketStatus:
    """The ``/markets/{condition_id}`` row: is the market open, closed, resolved?"""

    condition_id: str
    question: str
    slug: str
    end_ms: int | None
    active: bool
    closed: bool
    accepting_orders: bool
    winner_token: str | None


@dataclass(frozen=True, slots=True)
class TradeFill:
    """Our side of one trade row. `fill.order_id` is the venue's order id."""

    trade_id: str
    venue_order_id: str
    state: TradeState
    status: str
    fill: Fill


@dataclass(frozen=True, slots=True)
class VenueOrder:
    order_id: str
    market: str
    token_id: str
    action: Action
    price: Micros
    size: Micros  # original size, shares
    filled: Micros  # size matched so far
    status: OrderStatus
    raw_status: str  # LIVE, MATCHED, CANCELED, CANCELED_MARKET_RESOLVED, INVALID, ...
    order_type: str
    created_s: int | None
    expiration_s: int | None  # None or 0: no expiry


@dataclass(frozen=True, slots=True)
class PostResult:
    """A ``POST /order`` answer. `success` False carries the venue's reason in `error`."""

    success: bool
    error: str
    order_id: str
    status: str  # live, matched, delayed, unmatched (lower case)
    making: Micros  # what we gave: collateral for a BUY, shares for a SELL
    taking: Micros
    trade_ids: tuple[str, ...]


# ---------------------------------------------------------------------------------------
# scalars


def _best(levels: Any, where: str, highest: bool) -> tuple[Micros, Micros] | None:
    if not isinstance(levels, list):
        raise ParseError(where, f"expected a list of levels, got {short(levels)}")
    best: tuple[Micros, Micros] | None = None
    for i, level in enumerate(levels):
        price = micros(field_of(level, "price", f"{where}[{i}]"), f"{where}[{i}].price")
        size = micros(field_of(level, "size", f"{where}[{i}]"), f"{where}[{i}].size")
        if not 0 < price < ONE:
            raise ParseError(f"{where}[{i}].price", f"outside (0, 1): {price / ONE}")
        if size < 0:
            raise ParseError(f"{where}[{i}].size", "negative")
        if size == 0:
            continue
        if best is None or (price > best[0] if highest else price < best[0]):
            best = (price, size)
        elif price == best[0]:
            best = (price, best[1] + size)
    return best


def parse_top_of_book(data: Any) -> TopOfBook:
    """A ``/book`` answer → the token's own best bid and ask (the order of levels is ignored)."""
    token = text(field_of(data, "asset_id", "book"), "book.asset_id")
    bid = _best(field_of(data, "bids", "book"), "book.bids", highest=True)
    ask = _best(field_of(data, "asks", "book"), "book.asks", highest=False)
    stamp = data.get("timestamp")
    ts = timestamp_ms(stamp, "book.timestamp") if stamp not in (None, "") else None
    bid_price, bid_size = bid or (0, 0)
    ask_price, ask_size = ask or (ONE, 0)
    return TopOfBook(token, bid_price, bid_size, ask_price, ask_size, ts)


def book_tick(top: TopOfBook, market: Market, ts_ms: int | None = None) -> BookTick:
    """The market's UP-token `BookTick` from either token's top of book."""
    tokens = market.token_ids
    if tokens is None or top.token_id not in tokens:
        raise ParseError("book.asset_id", f"token {top.token_id} is not in market {market.market_id}")
    ts = ts_ms if ts_ms is not None else top.ts_ms
    if ts is None:
        raise ParseError("book.timestamp", "missing and no time given")
    if top.token_id == tokens[0]:
        return BookTick(ts, market.market_id, top.bid, top.bid_size, top.ask, top.ask_size)
    # the DOWN token: buying DOWN at a is selling UP at 1 - a
    return BookTick(ts, market.market_id, ONE - top.ask, top.ask_size, ONE - top.bid, top.bid_size)


def parse_book(data: Any, market: Market, ts_ms: int | None = None) -> BookTick:
    return book_tick(parse_top_of_book(data), market, ts_ms)


# ---------------------------------------------------------------------------------------
# markets


def parse_market_by_token(data: Any) -> str:
    """``/markets-by-token/{token_id}`` → the condition id."""
    return text(field_of(data, "condition_id", "markets-by-token"), "markets-by-token.condition_id")


def looks_like_condition_id(value: str) -> bool:
    return bool(_HEX_CONDITION.match(value))


def parse_market_status(data: Any) -> MarketStatus:
    """The ``/markets/{condition_id}`` row."""
    where = "market"
    condition = text(field_of(data, "condition_id", where), f"{where}.condition_id")
    tokens = field_of(data, "tokens", where)
    if not isinstance(tokens, list):
        raise ParseError(f"{where}.tokens", f"expected a list, got {short(tokens)}")
    winner = None
    for i, token in enumerate(tokens):
        won = token.get("winner") if isinstance(token, Mapping) else None
        if won is not None and flag(won, f"{where}.tokens[{i}].winner"):
            winner = text(
                field_of(token, "token_id", f"{where}.tokens[{i}]"), f"{where}.tokens[{i}].token_id"
            )
    end = data.get("end_date_iso")
    return MarketStatus(
        condition_id=condition,
        question=text(data.get("question") or "", f"{where}.question", allow_empty=True),
        slug=text(data.get("market_slug") or "", f"{where}.market_slug", allow_empty=True),
        end_ms=timestamp_ms(end, f"{where}.end_date_iso") if end not in (None, "") else None,
        active=flag(data.get("active", True), f"{where}.active"),
        closed=flag(field_of(data, "closed", where), f"{where}.closed"),
        accepting_orders=flag(field_of(data, "accepting_orders", where), f"{where}.accepting_orders"),
        winner_token=winner,
    )


def _outcome_tokens(tokens: Any, where: str) -> tuple[str, str]:
    """(UP token, DOWN token): by outcome name (Up/Yes, Down/No), else in the listed order."""
    if not isinstance(tokens, list) or len(tokens) != 2:
        raise ParseError(where, f"expected two tokens, got {short(tokens)}")
    ids, names = [], []
    for i, token in enumerate(tokens):
        ids.append(text(field_of(token, "t", f"{where}[{i}]"), f"{where}[{i}].t"))
        names.append(str(token.get("o", "")).strip().lower())
    if not all(i.isdigit() for i in ids):
        raise ParseError(where, f"token ids must be decimal strings, got {short(ids)}")
    if names[0] in DOWN_NAMES and names[1] in UP_NAMES:
        return ids[1], ids[0]
    return ids[0], ids[1]


def _fee_schedule(fd: Any, where: str) -> tuple[int, int]:
    """(rate in ppm, exponent); no ``fd`` means the market charges no fee."""
    if fd is None:
        return 0, 1
    rate = micros(field_of(fd, "r", where), f"{where}.r")
    if not 0 <= rate < ONE:
        raise ParseError(f"{where}.r", f"fee rate out of range: {rate / ONE}")
    exponent = fd.get("e", 1)
    if isinstance(exponent, bool) or not isinstance(exponent, (int, float)) or exponent != int(exponent):
        raise ParseError(f"{where}.e", f"expected a whole exponent, got {short(exponent)}")
    if exponent < 0:
        raise ParseError(f"{where}.e", "negative exponent")
    return rate, int(exponent)


def parse_clob_market(compact: Any, status: MarketStatus | None = None) -> MarketInfo:
    """``/clob-markets/{condition_id}`` (+ the ``/markets`` row when known) → `MarketInfo`.

    Tick, minimum size, neg-risk and the fee schedule come from the compact form; the name,
    end time, closed flag and winner from the row. Without the row the market is taken as
    not closed, with the compact ``ao`` flag for accepting orders."""
    where = "clob-market"
    condition = text(field_of(compact, "c", where), f"{where}.c")
    up, down = _outcome_tokens(field_of(compact, "t", where), f"{where}.t")
    tick = tick_micros(field_of(compact, "mts", where), f"{where}.mts")
    min_size = micros(field_of(compact, "mos", where), f"{where}.mos")
    if min_size < 0:
        raise ParseError(f"{where}.mos", "negative minimum size")
    neg_risk = flag(compact.get("nr", False), f"{where}.nr")
    rate, exponent = _fee_schedule(compact.get("fd"), f"{where}.fd")
    if status is not None and status.condition_id != condition:
        raise ParseError("market.condition_id", f"{status.condition_id} is not {condition}")
    if status is not None:
        accepting, closed = status.accepting_orders, status.closed
    else:
        accepting = flag(field_of(compact, "ao", where), f"{where}.ao")
        closed = False
    slug = status.slug if status else ""
    winner = None
    if status is not None and status.winner_token is not None:
        winner = Outcome.UP if status.winner_token == up else Outcome.DOWN
    market = Market(
        market_id=condition,
        instrument=slug.split("-")[0].upper() if "-" in slug else "",  # btc-updown-15m-... → BTC
        name=(status.question if status else "") or condition,
        window_start_ms=0,  # the API does not say when a window starts
        window_end_ms=status.end_ms if status and status.end_ms else UNKNOWN_END_MS,
        tick=tick,
        min_size=min_size,
        fee_rate_ppm=rate,
        fee_exponent=exponent,
        token_ids=(up, down),
    )
    return MarketInfo(market, neg_risk, accepting, closed, winner)


def parse_tick_size(data: Any) -> Micros:
    """``/tick-size`` → the tick in micros."""
    return tick_micros(field_of(data, "minimum_tick_size", "tick-size"), "tick-size.minimum_tick_size")


# ---------------------------------------------------------------------------------------
# trades


def trade_state(status: str) -> TradeState:
    status = status.upper()
    if status in COUNTED_TRADE_STATUSES:
        return TradeState.COUNTED
    if status == FAILED_TRADE_STATUS:
        return TradeState.FAILED
    return TradeState.PENDING


def _outcome_of(token: str, market: Market, field: str) -> Outcome:
    tokens = market.token_ids
    if tokens is None or token not in tokens:
        raise ParseError(field, f"token {token} is not in market {market.market_id}")
    return Outcome.UP if token == tokens[0] else Outcome.DOWN


def _action(value: Any, field: str) -> Action:
    side = text(value, field).upper()
    if side not in ("BUY", "SELL"):
        raise ParseError(field, f"expected BUY or SELL, got {short(value)}")
    return Action(side)


def parse_trade(row: Any, markets: Mapping[str, Market], owner: str, address: str) -> list[TradeFill]:
    """Our fills in one ``/data/trades`` row; [] when the row is in a market we do not trade.

    `owner` is our API key and `address` our funder (maker) address: a MAKER row lists our
    resting orders among ``maker_orders``; a TAKER row is our order ``taker_order_id``. The
    fee is the market's taker fee on our shares at the trade price (makers pay none)."""
    where = "trade"
    trade_id = text(field_of(row, "id", where), f"{where}.id")
    where = f"trade[{trade_id}]"
    condition = text(field_of(row, "market", where), f"{where}.market")
    market = markets.get(condition)
    if market is None:
        return []
    status = text(field_of(row, "status", where), f"{where}.status").upper()
    state = trade_state(status)
    ts = timestamp_ms(field_of(row, "match_time", where), f"{where}.match_time")
    makers = row.get("maker_orders") or []
    if not isinstance(makers, list):
        raise ParseError(f"{where}.maker_orders", f"expected a list, got {short(makers)}")
    ours = [
        (i, m)
        for i, m in enumerate(makers)
        if isinstance(m, Mapping)
        and (str(m.get("owner", "")) == owner or str(m.get("maker_address", "")).lower() == address.lower())
    ]
    side = str(row.get("trader_side") or "").upper()
    if side not in ("TAKER", "MAKER"):
        if ours:
            side = "MAKER"
        elif str(row.get("owner", "")) == owner:
            side = "TAKER"
        else:
            raise ParseError(f"{where}.trader_side", f"missing or unknown: {short(row.get('trader_side'))}")
    fills: list[TradeFill] = []
    if side == "TAKER":
        order_id = text(field_of(row, "taker_order_id", where), f"{where}.taker_order_id")
        token = text(field_of(row, "asset_id", where), f"{where}.asset_id")
        price = micros(field_of(row, "price", where), f"{where}.price")
        shares = micros(field_of(row, "size", where), f"{where}.size")
        outcome = _outcome_of(token, market, f"{where}.asset_id")
        fee = taker_fee(shares, price, market.fee_rate_ppm, market.fee_exponent)
        action = _action(field_of(row, "side", where), f"{where}.side")
        fill = Fill(trade_id, order_id, ts, condition, outcome, action, price, shares, fee, Liquidity.TAKER)
        fills.append(TradeFill(trade_id, order_id, state, status, fill))
        return _checked(fills)
    if not ours:
        raise ParseError(f"{where}.maker_orders", "a MAKER trade without any order of ours")
    for i, maker in ours:
        at = f"{where}.maker_orders[{i}]"
        order_id = text(field_of(maker, "order_id", at), f"{at}.order_id")
        token = text(field_of(maker, "asset_id", at), f"{at}.asset_id")
        price = micros(field_of(maker, "price", at), f"{at}.price")
        shares = micros(field_of(maker, "matched_amount", at), f"{at}.matched_amount")
        outcome = _outcome_of(token, market, f"{at}.asset_id")
        action = _action(field_of(maker, "side", at), f"{at}.side")
        fill_id = trade_id if len(ours) == 1 else f"{trade_id}:{order_id}"
        fill = Fill(fill_id, order_id, ts, condition, outcome, action, price, shares, 0, Liquidity.MAKER)
        fills.append(TradeFill(trade_id, order_id, state, status, fill))
    return _checked(fills)


def _checked(fills: list[TradeFill]) -> list[TradeFill]:
    for tf in fills:
        f = tf.fill
        if not 0 < f.price < ONE:
            raise ParseError(f"trade[{tf.trade_id}].price", f"outside (0, 1): {f.price / ONE}")
        if f.shares <= 0:
            raise ParseError(f"trade[{tf.trade_id}].size", f"not positive: {f.shares / ONE}")
    return fills


# ---------------------------------------------------------------------------------------
# orders


def order_status(raw: str, filled: Micros, expired: bool) -> OrderStatus:
    """A venue order status (``LIVE``, ``ORDER_STATUS_CANCELED``, ``live``...) → `OrderStatus`."""
    status = raw.upper().removeprefix("ORDER_STATUS_")
    if status in ("LIVE", "DELAYED", "UNMATCHED"):
        return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.OPEN
    if status == "MATCHED":
        return OrderStatus.FILLED
    if status in ("CANCELED", "CANCELLED"):
        return OrderStatus.EXPIRED if expired else OrderStatus.CANCELLED
    if status in ("CANCELED_MARKET_RESOLVED", "CANCELLED_MARKET_RESOLVED"):
        return OrderStatus.CANCELLED
    if status == "INVALID":
        return OrderStatus.REJECTED
    raise ParseError("order.status", f"unknown order status {short(raw)}")


def parse_order(row: Any, now_s: float | None = None, expiry_margin_s: int = 0) -> VenueOrder:
    """A ``/data/orders`` or ``/data/order/{id}`` row. A cancelled order whose expiration
    (less `expiry_margin_s`) has passed at `now_s` is reported EXPIRED."""
    where = "order"
    order_id = text(field_of(row, "id", where), f"{where}.id")
    where = f"order[{order_id}]"
    size = micros(field_of(row, "original_size", where), f"{where}.original_size")
    filled = micros(field_of(row, "size_matched", where), f"{where}.size_matched")
    if size <= 0 or not 0 <= filled <= size:
        raise ParseError(f"{where}.size_matched", f"{filled / ONE} of {size / ONE} shares")
    price = micros(field_of(row, "price", where), f"{where}.price")
    if not 0 < price < ONE:
        raise ParseError(f"{where}.price", f"outside (0, 1): {price / ONE}")
    raw_expiration = row.get("expiration")
    expiration = (
        integer(raw_expiration, f"{where}.expiration") if raw_expiration not in (None, "", "0", 0) else None
    )
    created = row.get("created_at")
    created_s = timestamp_ms(created, f"{where}.created_at") // 1000 if created not in (None, "") else None
    expired = expiration is not None and now_s is not None and now_s >= expiration - expiry_margin_s
    raw = text(field_of(row, "status", where), f"{where}.status")
    try:
        status = order_status(raw, filled, expired)
    except ParseError as exc:
        raise ParseError(f"{where}.status", str(exc).split(": ", 1)[-1]) from None
    return VenueOrder(
        order_id=order_id,
        market=text(row.get("market") or "", f"{where}.market", allow_empty=True),
        token_id=text(field_of(row, "asset_id", where), f"{where}.asset_id"),
        action=_action(field_of(row, "side", where), f"{where}.side"),
        price=price,
        size=size,
        filled=filled,
        status=status,
        raw_status=raw.upper().removeprefix("ORDER_STATUS_"),
        order_type=str(row.get("order_type") or "").upper(),
        created_s=created_s,
        expiration_s=expiration,
    )


def parse_post_order(data: Any) -> PostResult:
    """A ``POST /order`` answer (200)."""
    where = "post-order"
    if not isinstance(data, Mapping):
        raise ParseError(where, f"expected an object, got {short(data)}")
    success = flag(field_of(data, "success", where), f"{where}.success")
    error = error_message(data.get("errorMsg") or "")
    if not success:
        return PostResult(False, error or "refused without a reason", "", "", 0, 0, ())
    order_id = text(field_of(data, "orderID", where), f"{where}.orderID")
    status = text(data.get("status") or "", f"{where}.status", allow_empty=True).lower()
    if status not in ("live", "matched", "delayed", "unmatched"):
        raise ParseError(f"{where}.status", f"unknown status {short(data.get('status'))}")

    def amount(name: str) -> Micros:
        value = data.get(name)
        return 0 if value in (None, "") else micros(value, f"{where}.{name}")

    trade_ids = data.get("tradeIDs") or []
    if not isinstance(trade_ids, list):
        raise ParseError(f"{where}.tradeIDs", f"expected a list, got {short(trade_ids)}")
    ids = tuple(text(t, f"{where}.tradeIDs[{i}]") for i, t in enumerate(trade_ids))
    return PostResult(True, error, order_id, status, amount("makingAmount"), amount("takingAmount"), ids)


def parse_cancel(data: Any) -> tuple[list[str], dict[str, str]]:
    """``{canceled: [ids], not_canceled: {id: reason}}``."""
    canceled = field_of(data, "canceled", "cancel") or []
    not_canceled = data.get("not_canceled") or {}
    if not isinstance(canceled, list) or not isinstance(not_canceled, Mapping):
        raise ParseError("cancel", f"unexpected shape {short(data)}")
    return [text(c, "cancel.canceled[]") for c in canceled], {
        str(k): error_message(v) for k, v in not_canceled.items()
    }


def parse_page(data: Any, where: str) -> tuple[list[Any], str]:
    """A paginated answer ``{data, next_cursor}`` → (rows, next cursor; ``LTE=`` at the end)."""
    rows = field_of(data, "data", where)
    if not isinstance(rows, list):
        raise ParseError(f"{where}.data", f"expected a list, got {short(rows)}")
    cursor = data.get("next_cursor") or END_CURSOR
    return rows, text(cursor, f"{where}.next_cursor")


def parse_balance(data: Any) -> Micros:
    """``/balance-allowance`` → collateral in micros (the wire has an integer with 6 decimals)."""
    value = field_of(data, "balance", "balance-allowance")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not re.fullmatch(r"\d+", str(value)):
        raise ParseError("balance-allowance.balance", f"expected a non-negative integer, got {short(value)}")
    return int(value)
