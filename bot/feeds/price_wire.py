"""The underlying's price streams on the wire: frames to send, and parsers for what comes back.

Two protocols (../shared/polymarket-realtime.md §4):

- PolyBolt, Polymarket's live-data socket (``wss://ws-live-v2.polymarket.com/ws``): the bot
  sends ``{"op":"auth","rid":..,"auth":{apiKey,secret,passphrase}}`` (CLOB API credentials),
  waits for ``{"op":"authed"}``, then subscribes ``price.crypto.twap`` with the filter
  ``{"symbol":"btcusd","window_seconds":60}``: Chainlink's 60-second TWAP, the price the 5-minute,
  15-minute and 4-hour up/down windows settle on. Data frames are envelopes
  ``{"v":1,"channel","seq","ts","snapshot"?,"dropped"?,"payload"}``; a snapshot's payload holds
  ``data[]`` (about two minutes of history), a live one ``symbol, value,
  full_accuracy_value, timestamp`` (the observation time, ms). ``full_accuracy_value`` is an
  exact decimal string and is preferred over ``value``.
- Binance (``wss://stream.binance.com:9443/ws``): ``{"method":"SUBSCRIBE","params":
  ["btcusdt@kline_1h"],"id":1}``; each ``kline`` event carries the hour's candle (``k.t`` its
  start, ``k.o`` its open, ``k.c`` the last price), the rule the hourly windows settle on
  (close >= open). ``trade`` events (``p``, ``T``) are read too.

Parsers are pure: a frame in, `PricePoint`s (or a `Control` reply) out; anything malformed
raises `PriceParseError` with a one-line reason naming the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.errors import BotError

POLYBOLT = "polybolt"
BINANCE = "binance"
TWAP_CHANNEL = "price.crypto.twap"
TWAP_WINDOW_S = 60


class PriceParseError(BotError, ValueError):
    """A price frame that does not parse; the message names what was wrong."""


@dataclass(frozen=True, slots=True)
class PricePoint:
    """One price of `symbol` observed at `ts_ms` (wall clock); a candle's open when known."""

    symbol: str
    ts_ms: int
    price: float
    open_ms: int | None = None  # Binance klines: the candle's start...
    open_price: float | None = None  # ...and its open (the hourly windows' strike)
    snapshot: bool = False  # history sent on subscribe, not a live tick


@dataclass(frozen=True, slots=True)
class Control:
    """A PolyBolt reply that is not data: authed, subscribed, error, pong."""

    op: str
    rid: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Batch:
    """The prices of one data frame, with the channel's sequence number and drop count."""

    channel: str
    seq: int | None
    dropped: int
    points: list[PricePoint]


Parsed = Batch | Control


# -- frames to send ----------------------------------------------------------------------


def polybolt_auth(api_key: str, secret: str, passphrase: str, rid: str = "auth") -> str:
    auth = {"apiKey": api_key, "secret": secret, "passphrase": passphrase}
    return json.dumps({"op": "auth", "rid": rid, "auth": auth})


def polybolt_subscribe(symbols: list[str], rid: str = "sub") -> str:
    subs = [
        {"channel": TWAP_CHANNEL, "filter": {"symbol": s, "window_seconds": TWAP_WINDOW_S}} for s in symbols
    ]
    return json.dumps({"op": "subscribe", "rid": rid, "subscriptions": subs}, separators=(",", ":"))


POLYBOLT_PING = json.dumps({"op": "ping"})


def binance_subscribe(symbols: list[str], request_id: int = 1) -> str:
    return json.dumps(
        {"method": "SUBSCRIBE", "params": [f"{s.lower()}@kline_1h" for s in symbols], "id": request_id}
    )


# -- parsers -------------------------------------------------------------------------------


def decode(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise PriceParseError(f"not JSON: {str(data)[:60]!r} ({exc})") from None


def parse_polybolt(raw: Any) -> Parsed:
    if not isinstance(raw, dict):
        raise PriceParseError(f"expected a JSON object, got {type(raw).__name__}")
    if "op" in raw:
        op = raw["op"]
        detail = raw.get("error") or raw.get("message") or raw.get("reason") or ""
        return Control(str(op), str(raw.get("rid", "")), str(detail)[:200])
    channel = raw.get("channel")
    if not isinstance(channel, str):
        raise PriceParseError("frame has neither op nor channel")
    payload = raw.get("payload")
    if not isinstance(payload, dict):
        raise PriceParseError(f"{channel}: payload is not an object")
    seq = raw.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
        raise PriceParseError(f"{channel}: seq {seq!r} is not an integer")
    dropped = raw.get("dropped") or 0
    if isinstance(dropped, bool) or not isinstance(dropped, int) or dropped < 0:
        raise PriceParseError(f"{channel}: dropped {dropped!r} is not a count")
    symbol = _symbol(payload, channel)
    snapshot = bool(raw.get("snapshot"))
    if snapshot or "data" in payload:
        rows = payload.get("data")
        if not isinstance(rows, list):
            raise PriceParseError(f"{channel}: snapshot data is not a list")
        points = [_polybolt_point(symbol, row, channel, True) for row in rows]
        points.sort(key=lambda p: p.ts_ms)
    else:
        points = [_polybolt_point(symbol, payload, channel, False)]
    return Batch(channel, seq, dropped, points)


def _symbol(payload: dict[str, Any], where: str) -> str:
    symbol = payload.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise PriceParseError(f"{where}: symbol missing")
    return symbol.lower()


def _polybolt_point(symbol: str, row: Any, where: str, snapshot: bool) -> PricePoint:
    if not isinstance(row, dict):
        raise PriceParseError(f"{where}: a price row is not an object")
    value = row.get("full_accuracy_value")
    if value is None:
        value = row.get("value")
    return PricePoint(
        symbol,
        _ms(row.get("timestamp"), f"{where}.timestamp"),
        _price(value, f"{where}.value"),
        snapshot=snapshot,
    )


def parse_binance(raw: Any) -> list[PricePoint] | Control:
    if not isinstance(raw, dict):
        raise PriceParseError(f"expected a JSON object, got {type(raw).__name__}")
    if "stream" in raw and "data" in raw:  # the combined-stream wrapper
        raw = raw["data"]
        if not isinstance(raw, dict):
            raise PriceParseError("stream data is not an object")
    if "result" in raw and "id" in raw:
        return Control("subscribed", str(raw["id"]))
    if "error" in raw:
        return Control("error", str(raw.get("id", "")), str(raw["error"])[:200])
    event = raw.get("e")
    if event == "kline":
        k = raw.get("k")
        if not isinstance(k, dict):
            raise PriceParseError("kline: k is not an object")
        symbol = _text(k.get("s") or raw.get("s"), "kline.s").lower()
        return [
            PricePoint(
                symbol,
                _ms(raw.get("E"), "kline.E"),
                _price(k.get("c"), "kline.k.c"),
                open_ms=_ms(k.get("t"), "kline.k.t"),
                open_price=_price(k.get("o"), "kline.k.o"),
            )
        ]
    if event in ("trade", "aggTrade"):
        symbol = _text(raw.get("s"), f"{event}.s").lower()
        return [PricePoint(symbol, _ms(raw.get("T"), f"{event}.T"), _price(raw.get("p"), f"{event}.p"))]
    raise PriceParseError(f"unknown Binance event {event!r}")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PriceParseError(f"{where}: expected a non-empty string, got {str(value)[:40]!r}")
    return value


def _ms(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise PriceParseError(f"{where}: expected a positive time in ms, got {str(value)[:40]!r}")
    ms = int(value)
    return ms * 1000 if ms < 10_000_000_000 else ms  # seconds given: ms


def _price(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise PriceParseError(f"{where}: expected a price, got {value!r}")
    try:
        price = float(value)
    except (TypeError, ValueError):
        raise PriceParseError(f"{where}: expected a price, got {str(value)[:40]!r}") from None
    if not price > 0 or price == float("inf"):
        raise PriceParseError(f"{where}: price must be positive and finite, got {str(value)[:40]!r}")
    return price
