"""The CLOB market websocket's messages, parsed into typed events (pure: no I/O, no state).

Shapes as documented for ``wss://ws-subscriptions-clob.polymarket.com/ws/market``
(docs.polymarket.com ``market-data/websocket/market-channel.md`` and the AsyncAPI
``api-reference/wss/market.md``; ../shared/polymarket-realtime.md §2): every event is an
object with ``event_type``; a frame is one event or a JSON array of them (the initial dump);
the text ``PONG`` answers our ``PING``.

- ``book``: ``asset_id, market, bids[{price,size}], asks[...], timestamp (ms), hash``; the
  REST-shaped book may add ``tick_size`` and ``min_order_size``.
- ``price_change``: ``market, price_changes[{asset_id, price, size, side BUY|SELL, hash,
  best_bid, best_ask}], timestamp``. ``size`` is the level's new total; ``"0"`` removes it.
- ``tick_size_change``: ``asset_id, market, old_tick_size, new_tick_size, timestamp``.
- ``best_bid_ask``: ``asset_id, market, best_bid, best_ask, spread, timestamp``.
- ``last_trade_price``: ``asset_id, market, price, side, size, fee_rate_bps, timestamp``.
- ``market_resolved``: ``market, assets_ids[], winning_asset_id, winning_outcome, timestamp``.
  A 50/50 resolution (each token pays 0.5) has no documented shape (UNVERIFIED): it is
  recognised only when ``winning_outcome`` says so ("50-50", "50/50" or "split") and
  ``winning_asset_id`` names no token (`MarketResolved.split`); anything else with an empty
  or missing ``winning_asset_id`` is refused by the feed, never guessed (a missing one is
  not a parse error: the message is about one market, not about the books on its socket).
- ``new_market``: ``market``/``condition_id``, ``clob_token_ids[]``/``assets_ids[]``,
  ``outcomes[]``, ``order_price_min_tick_size``, ``timestamp``.

A message that does not have its documented shape raises `ParseError` naming the field;
an unknown ``event_type`` parses to `Unknown` (counted by the caller, never guessed at).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bot.model import ONE, Micros
from bot.venues.polymarket.wire import ParseError, field_of, micros, text, tick_micros, timestamp_ms

PING, PONG = "PING", "PONG"


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    asset_id: str
    market: str
    bids: dict[Micros, Micros]  # price → size, sizes > 0 only
    asks: dict[Micros, Micros]
    ts_ms: int
    tick: Micros | None = None
    min_size: Micros | None = None
    raw: Any = None  # the message itself, for the REST-shaped rules (tick, minimum size)


@dataclass(frozen=True, slots=True)
class LevelChange:
    asset_id: str
    buy: bool  # BUY: a bid level, SELL: an ask level
    price: Micros
    size: Micros  # the level's new total; 0 removes it
    best_bid: Micros | None  # the venue's top after this change, when it says
    best_ask: Micros | None


@dataclass(frozen=True, slots=True)
class PriceChange:
    market: str
    changes: tuple[LevelChange, ...]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class TickSizeChange:
    asset_id: str
    market: str
    new_tick: Micros
    ts_ms: int


@dataclass(frozen=True, slots=True)
class BestBidAsk:
    asset_id: str
    market: str
    best_bid: Micros | None
    best_ask: Micros | None
    ts_ms: int


@dataclass(frozen=True, slots=True)
class LastTrade:
    asset_id: str
    market: str
    price: Micros
    size: Micros
    ts_ms: int


@dataclass(frozen=True, slots=True)
class MarketResolved:
    market: str
    winning_asset_id: str  # "" when the message names no winning token
    ts_ms: int
    winning_outcome: str = ""
    winner_field: bool = True  # False: the message had no winning_asset_id at all

    @property
    def split(self) -> bool:
        """A 50/50 resolution: each token pays 0.5."""
        return not self.winning_asset_id and self.winning_outcome.lower() in SPLIT_WORDS


SPLIT_WORDS = frozenset({"50-50", "50/50", "split"})


@dataclass(frozen=True, slots=True)
class NewMarket:
    market: str
    token_ids: tuple[str, ...]
    outcomes: tuple[str, ...]
    tick: Micros | None
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Unknown:
    event_type: str


WsEvent = BookSnapshot | PriceChange | TickSizeChange | BestBidAsk | LastTrade | MarketResolved | NewMarket
Parsed = WsEvent | Unknown


def decode_frame(data: str | bytes) -> list[Any]:
    """A frame → its JSON events (a list even for one object); ``PONG`` → []."""
    if isinstance(data, str) and data.strip() == PONG:
        return []
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ParseError("frame", f"not JSON: {_head(data)} ({exc})") from None
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    raise ParseError("frame", f"expected an object or a list, got {_head(data)}")


def parse_event(data: Any) -> Parsed:
    kind = text(field_of(data, "event_type", "event"), "event.event_type")
    parser = _PARSERS.get(kind)
    if parser is None:
        return Unknown(kind)
    return parser(data)


def _ts(data: Any, where: str) -> int:
    return timestamp_ms(field_of(data, "timestamp", where), f"{where}.timestamp")


def _price(value: Any, field: str) -> Micros:
    price = micros(value, field)
    if not 0 < price < ONE:
        raise ParseError(field, f"outside (0, 1): {price / ONE}")
    return price


def _optional_top(value: Any, field: str) -> Micros | None:
    """A best bid/ask: None when absent or empty; 0 and 1 are the venue's 'no level'."""
    if value in (None, ""):
        return None
    price = micros(value, field)
    if not 0 <= price <= ONE:
        raise ParseError(field, f"outside [0, 1]: {price / ONE}")
    return price


def _levels(data: Any, name: str, where: str) -> dict[Micros, Micros]:
    levels = field_of(data, name, where)
    if not isinstance(levels, list):
        raise ParseError(f"{where}.{name}", "expected a list of levels")
    out: dict[Micros, Micros] = {}
    for i, level in enumerate(levels):
        at = f"{where}.{name}[{i}]"
        price = _price(field_of(level, "price", at), f"{at}.price")
        size = micros(field_of(level, "size", at), f"{at}.size")
        if size < 0:
            raise ParseError(f"{at}.size", "negative")
        if size:
            out[price] = out.get(price, 0) + size
    return out


def _book(data: Any) -> BookSnapshot:
    tick = data.get("tick_size")
    size = data.get("min_order_size")
    return BookSnapshot(
        asset_id=text(field_of(data, "asset_id", "book"), "book.asset_id"),
        market=text(field_of(data, "market", "book"), "book.market"),
        bids=_levels(data, "bids", "book"),
        asks=_levels(data, "asks", "book"),
        ts_ms=_ts(data, "book"),
        tick=tick_micros(tick, "book.tick_size") if tick not in (None, "") else None,
        min_size=micros(size, "book.min_order_size") if size not in (None, "") else None,
        raw=data,
    )


def _price_change(data: Any) -> PriceChange:
    rows = field_of(data, "price_changes", "price_change")
    if not isinstance(rows, list) or not rows:
        raise ParseError("price_change.price_changes", "expected a non-empty list")
    changes = []
    for i, row in enumerate(rows):
        at = f"price_change.price_changes[{i}]"
        side = text(field_of(row, "side", at), f"{at}.side").upper()
        if side not in ("BUY", "SELL"):
            raise ParseError(f"{at}.side", f"expected BUY or SELL, got {side!r}")
        size = micros(field_of(row, "size", at), f"{at}.size")
        if size < 0:
            raise ParseError(f"{at}.size", "negative")
        changes.append(
            LevelChange(
                asset_id=text(field_of(row, "asset_id", at), f"{at}.asset_id"),
                buy=side == "BUY",
                price=_price(field_of(row, "price", at), f"{at}.price"),
                size=size,
                best_bid=_optional_top(row.get("best_bid"), f"{at}.best_bid"),
                best_ask=_optional_top(row.get("best_ask"), f"{at}.best_ask"),
            )
        )
    market = text(field_of(data, "market", "price_change"), "price_change.market")
    return PriceChange(market, tuple(changes), _ts(data, "price_change"))


def _tick_size_change(data: Any) -> TickSizeChange:
    where = "tick_size_change"
    return TickSizeChange(
        asset_id=text(field_of(data, "asset_id", where), f"{where}.asset_id"),
        market=text(field_of(data, "market", where), f"{where}.market"),
        new_tick=tick_micros(field_of(data, "new_tick_size", where), f"{where}.new_tick_size"),
        ts_ms=_ts(data, where),
    )


def _best_bid_ask(data: Any) -> BestBidAsk:
    where = "best_bid_ask"
    return BestBidAsk(
        asset_id=text(field_of(data, "asset_id", where), f"{where}.asset_id"),
        market=text(field_of(data, "market", where), f"{where}.market"),
        best_bid=_optional_top(field_of(data, "best_bid", where), f"{where}.best_bid"),
        best_ask=_optional_top(field_of(data, "best_ask", where), f"{where}.best_ask"),
        ts_ms=_ts(data, where),
    )


def _last_trade(data: Any) -> LastTrade:
    where = "last_trade_price"
    return LastTrade(
        asset_id=text(field_of(data, "asset_id", where), f"{where}.asset_id"),
        market=text(field_of(data, "market", where), f"{where}.market"),
        price=_price(field_of(data, "price", where), f"{where}.price"),
        size=micros(field_of(data, "size", where), f"{where}.size"),
        ts_ms=_ts(data, where),
    )


def _market_resolved(data: Any) -> MarketResolved:
    where = "market_resolved"
    said = text(data.get("winning_outcome") or "", f"{where}.winning_outcome", allow_empty=True)
    winner = data.get("winning_asset_id")
    return MarketResolved(
        market=text(field_of(data, "market", where), f"{where}.market"),
        winning_asset_id=text(winner or "", f"{where}.winning_asset_id", allow_empty=True),
        ts_ms=_ts(data, where),
        winning_outcome=said,
        winner_field="winning_asset_id" in data,
    )


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if isinstance(value, str):  # Gamma-style JSON-encoded list
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ParseError(field, f"not a list: {_head(value)}") from None
    if not isinstance(value, list):
        raise ParseError(field, "expected a list")
    return tuple(text(v, f"{field}[{i}]") for i, v in enumerate(value))


def _new_market(data: Any) -> NewMarket:
    where = "new_market"
    market = data.get("condition_id") or field_of(data, "market", where)
    tokens = data.get("clob_token_ids") or field_of(data, "assets_ids", where)
    tick = data.get("order_price_min_tick_size")
    return NewMarket(
        market=text(market, f"{where}.market"),
        token_ids=_strings(tokens, f"{where}.clob_token_ids"),
        outcomes=_strings(data.get("outcomes") or [], f"{where}.outcomes"),
        tick=tick_micros(tick, f"{where}.order_price_min_tick_size") if tick not in (None, "") else None,
        ts_ms=_ts(data, where),
    )


_PARSERS: dict[str, Callable[[Any], WsEvent]] = {
    "book": _book,
    "price_change": _price_change,
    "tick_size_change": _tick_size_change,
    "best_bid_ask": _best_bid_ask,
    "last_trade_price": _last_trade,
    "market_resolved": _market_resolved,
    "new_market": _new_market,
}


def _head(data: Any, limit: int = 60) -> str:
    shown = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    return repr(shown if len(shown) <= limit else shown[: limit - 3] + "...")


def subscribe_frame(asset_ids: list[str], first: bool) -> str:
    """The first frame of a connection, or a later ``operation: subscribe``."""
    body: dict[str, Any] = {"assets_ids": asset_ids, "custom_feature_enabled": True}
    if first:
        body |= {"type": "market", "initial_dump": True}
    else:
        body["operation"] = "subscribe"
    return orjson.dumps(body).decode()


def unsubscribe_frame(asset_ids: list[str]) -> str:
    return orjson.dumps({"operation": "unsubscribe", "assets_ids": asset_ids}).decode()
