"""The price streams' parsers on the documented message shapes (polymarket-realtime.md §4)."""

from __future__ import annotations

import json

import pytest

from bot.feeds import price_wire as pw

TWAP = {
    "v": 1,
    "channel": "price.crypto.twap",
    "seq": 7,
    "ts": 1780264501234,
    "payload": {
        "symbol": "btcusd",
        "value": 97123.45,
        "full_accuracy_value": "97123.456789",
        "timestamp": 1780264501000,
        "window_seconds": 60,
    },
}
SNAPSHOT = {
    "v": 1,
    "channel": "price.crypto.twap",
    "seq": 1,
    "ts": 1780264500100,
    "snapshot": True,
    "payload": {
        "symbol": "btcusd",
        "data": [
            {"timestamp": 1780264500000, "value": 97100.0},
            {"timestamp": 1780264499000, "value": 97090.0, "full_accuracy_value": "97090.5"},
        ],
    },
}
KLINE = {
    "e": "kline",
    "E": 1780264800123,
    "s": "BTCUSDT",
    "k": {
        "t": 1780264800000,
        "T": 1780268399999,
        "s": "BTCUSDT",
        "i": "1h",
        "o": "97000.10",
        "c": "97010.00",
        "x": False,
    },
}


def test_a_live_twap_frame_gives_the_exact_value_at_its_observation_time() -> None:
    batch = pw.parse_polybolt(TWAP)
    assert isinstance(batch, pw.Batch)
    assert batch.seq == 7
    assert batch.dropped == 0
    [point] = batch.points
    assert point == pw.PricePoint("btcusd", 1780264501000, 97123.456789)


def test_a_snapshot_gives_its_history_oldest_first() -> None:
    batch = pw.parse_polybolt(SNAPSHOT)
    assert isinstance(batch, pw.Batch)
    assert [p.ts_ms for p in batch.points] == [1780264499000, 1780264500000]
    assert batch.points[0].price == 97090.5
    assert all(p.snapshot for p in batch.points)


def test_control_replies_are_not_prices() -> None:
    assert pw.parse_polybolt({"op": "authed", "rid": "auth"}) == pw.Control("authed", "auth")
    error = pw.parse_polybolt({"op": "error", "rid": "sub", "error": "unknown symbol"})
    assert error == pw.Control("error", "sub", "unknown symbol")


def test_a_binance_kline_gives_the_last_price_and_the_candle_open() -> None:
    [point] = pw.parse_binance(KLINE)  # type: ignore[misc]
    assert point.symbol == "btcusdt"
    assert point.price == 97010.0
    assert point.open_ms == 1780264800000
    assert point.open_price == 97000.1
    wrapped = pw.parse_binance({"stream": "btcusdt@kline_1h", "data": KLINE})
    assert wrapped == [point]
    assert pw.parse_binance({"result": None, "id": 1}) == pw.Control("subscribed", "1")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({**TWAP, "payload": {**TWAP["payload"], "value": "abc", "full_accuracy_value": None}}, "value"),
        ({**TWAP, "payload": {**TWAP["payload"], "timestamp": None}}, "timestamp"),
        ({**TWAP, "payload": {"value": 1, "timestamp": 1}}, "symbol"),
        ({**TWAP, "seq": "x"}, "seq"),
        ({**TWAP, "payload": {**TWAP["payload"], "full_accuracy_value": "-3"}}, "positive"),
        ({"channel": "price.crypto.twap"}, "payload"),
        ([], "object"),
    ],
)
def test_a_bad_frame_is_refused_with_a_reason(frame: object, message: str) -> None:
    with pytest.raises(pw.PriceParseError, match=message):
        pw.parse_polybolt(frame)


def test_frames_sent_have_the_documented_shape() -> None:
    sub = json.loads(pw.polybolt_subscribe(["btcusd"]))
    assert sub["op"] == "subscribe"
    assert sub["subscriptions"] == [
        {"channel": "price.crypto.twap", "filter": {"symbol": "btcusd", "window_seconds": 60}}
    ]
    assert json.loads(pw.binance_subscribe(["BTCUSDT"]))["params"] == ["btcusdt@kline_1h"]
    with pytest.raises(pw.PriceParseError, match="not JSON"):
        pw.decode("{oops")
