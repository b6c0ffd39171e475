"""bot.venues.polymarket.wire on JSON shaped like the CLOB V2 API's answers (no I/O)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.model import ONE, Action, Liquidity, Market, OrderStatus, Outcome, taker_fee
from bot.venues.polymarket import wire
from bot.venues.polymarket.wire import ParseError

COND = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
UP = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
DOWN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
OWNER = "00000000-0000-0000-0000-000000000001"
ADDRESS = "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
MARKET = Market(
    COND,
    "BTC",
    "BTC up or down",
    0,
    2_000_000_000_000,
    tick=10_000,
    fee_rate_ppm=70_000,
    token_ids=(UP, DOWN),
)
MARKETS = {COND: MARKET}

BOOK: dict[str, Any] = {  # as /book answers: bids ascending, asks descending (best last)
    "market": COND,
    "asset_id": UP,
    "timestamp": "1763683200123",
    "hash": "0c4d3b2a",
    "bids": [
        {"price": "0.46", "size": "500"},
        {"price": "0.47", "size": "120.5"},
        {"price": "0.48", "size": "30"},
    ],
    "asks": [
        {"price": "0.54", "size": "400"},
        {"price": "0.53", "size": "75"},
        {"price": "0.52", "size": "12.25"},
    ],
    "min_order_size": "5",
    "tick_size": "0.01",
    "neg_risk": False,
    "last_trade_price": "0.51",
}
COMPACT: dict[str, Any] = {  # /clob-markets/{condition_id}
    "c": COND,
    "t": [{"t": UP, "o": "Up"}, {"t": DOWN, "o": "Down"}],
    "mts": 0.01,
    "mos": 5,
    "nr": False,
    "fd": {"r": 0.07, "e": 1, "to": True},
    "ao": True,
}
ROW: dict[str, Any] = {  # /markets/{condition_id}
    "condition_id": COND,
    "question": "Bitcoin Up or Down - November 21, 12:00AM-12:15AM ET",
    "market_slug": "btc-updown-15m-1763701200",
    "end_date_iso": "2025-11-21T05:15:00Z",
    "tokens": [
        {"token_id": UP, "outcome": "Up", "price": 0.5, "winner": False},
        {"token_id": DOWN, "outcome": "Down", "price": 0.5, "winner": False},
    ],
    "active": True,
    "closed": False,
    "archived": False,
    "accepting_orders": True,
    "minimum_order_size": 5,
    "minimum_tick_size": 0.01,
    "neg_risk": False,
}
TAKER_TRADE: dict[str, Any] = {
    "id": "e85026eb-7018-48d2-a30a-975b4322b31a",
    "taker_order_id": "0x8c71e1a741f71db1dabe77ba6a9e7ac738add1e1015086aee8b12ac62cfe78c7",
    "market": COND,
    "asset_id": UP,
    "side": "BUY",
    "size": "5",
    "fee_rate_bps": "700",
    "price": "0.52",
    "status": "MATCHED",
    "match_time": "1763683201",
    "last_update": "1763683201",
    "outcome": "Up",
    "bucket_index": 0,
    "owner": OWNER,
    "maker_address": ADDRESS,
    "transaction_hash": "0xabcdef",
    "trader_side": "TAKER",
    "maker_orders": [
        {
            "order_id": "0x99",
            "owner": "00000000-0000-0000-0000-000000000002",
            "maker_address": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
            "matched_amount": "5",
            "price": "0.52",
            "fee_rate_bps": "0",
            "asset_id": UP,
            "outcome": "Up",
            "side": "SELL",
        }
    ],
}
MAKER_TRADE: dict[str, Any] = {  # ISO times and no trader_side, as some records have
    "id": "trade-0xabcdef1234",
    "taker_order_id": "0xtaker",
    "market": COND,
    "asset_id": UP,
    "side": "SELL",
    "size": "25.0000",
    "fee_rate_bps": "0",
    "price": "0.5000",
    "status": "CONFIRMED",
    "match_time": "2024-01-01T00:00:00Z",
    "owner": "00000000-0000-0000-0000-000000000009",
    "maker_orders": [
        {
            "order_id": "0xsomeone",
            "owner": "00000000-0000-0000-0000-000000000002",
            "maker_address": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
            "matched_amount": "15.0000",
            "price": "0.5000",
            "asset_id": UP,
            "side": "BUY",
        },
        {
            "order_id": "0xours",
            "owner": OWNER,
            "maker_address": ADDRESS.lower(),
            "matched_amount": "10.0000",
            "price": "0.5000",
            "asset_id": UP,
            "side": "BUY",
        },
    ],
}
ORDER_ROW: dict[str, Any] = {
    "associate_trades": ["0xabc001"],
    "id": "0x1234567890abcdef",
    "status": "LIVE",
    "market": COND,
    "original_size": "100.0000",
    "outcome": "Up",
    "maker_address": ADDRESS,
    "owner": OWNER,
    "price": "0.5000",
    "side": "BUY",
    "size_matched": "25.0000",
    "asset_id": UP,
    "expiration": None,
    "order_type": "GTC",
    "created_at": 1703875200,
}


def with_(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(data)
    result.update(changes)
    return result


def field_error(call: Any) -> str:
    with pytest.raises(ParseError) as info:
        call()
    return info.value.field


# -- books -----------------------------------------------------------------------------


def test_book_top_is_max_bid_and_min_ask_whatever_the_order() -> None:
    tick = wire.parse_book(BOOK, MARKET)
    assert (tick.ts_ms, tick.market_id) == (1763683200123, COND)
    assert (tick.bid, tick.bid_size, tick.ask, tick.ask_size) == (480_000, 30 * ONE, 520_000, 12_250_000)
    shuffled = with_(BOOK, bids=list(reversed(BOOK["bids"])), asks=list(reversed(BOOK["asks"])))
    assert wire.parse_book(shuffled, MARKET) == tick
    doubled = with_(
        BOOK, bids=[*BOOK["bids"], {"price": "0.48", "size": "5"}, {"price": "0.49", "size": "0"}]
    )
    assert wire.parse_book(doubled, MARKET).bid_size == 35 * ONE  # same level summed, empty level ignored


def test_book_of_the_down_token_is_mirrored_to_the_up_token() -> None:
    down = with_(BOOK, asset_id=DOWN)  # DOWN bid 0.48 x 30, ask 0.52 x 12.25
    tick = wire.parse_book(down, MARKET, ts_ms=7)
    assert (tick.ts_ms, tick.bid, tick.bid_size, tick.ask, tick.ask_size) == (
        7,
        480_000,
        12_250_000,
        520_000,
        30 * ONE,
    )


def test_empty_book_sides() -> None:
    tick = wire.parse_book(with_(BOOK, bids=[], asks=[]), MARKET)
    assert (tick.bid, tick.bid_size, tick.ask, tick.ask_size) == (0, 0, ONE, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bids": [{"price": "0.4x", "size": "1"}]}, "book.bids[0].price"),
        ({"asks": [{"price": "0.5", "size": "1"}, {"price": "0.6"}]}, "book.asks[1].size"),
        ({"asks": [{"price": "1.2", "size": "1"}]}, "book.asks[0].price"),
        ({"bids": None}, "book.bids"),
        ({"asset_id": "999"}, "book.asset_id"),
        ({"timestamp": "yesterday"}, "book.timestamp"),
    ],
)
def test_malformed_books_name_the_field(change: dict[str, Any], field: str) -> None:
    assert field_error(lambda: wire.parse_book(with_(BOOK, **change), MARKET)) == field
    no_asks = {k: v for k, v in BOOK.items() if k != "asks"}
    assert field_error(lambda: wire.parse_book(no_asks, MARKET)) == "book.asks"


# -- markets ---------------------------------------------------------------------------


def test_market_from_compact_form_and_row() -> None:
    info = wire.parse_clob_market(COMPACT, wire.parse_market_status(ROW))
    m = info.market
    assert (m.market_id, m.instrument, m.token_ids) == (COND, "BTC", (UP, DOWN))
    assert (m.tick, m.min_size, m.fee_rate_ppm, m.fee_exponent) == (10_000, 5 * ONE, 70_000, 1)
    assert m.name.startswith("Bitcoin Up or Down")
    assert m.window_end_ms == 1763702100000  # 2025-11-21T05:15:00Z
    assert (info.neg_risk, info.accepting_orders, info.closed, info.winner) == (False, True, False, None)
    assert info.token_for(Outcome.DOWN) == DOWN


def test_market_variants() -> None:
    reversed_tokens = with_(COMPACT, t=[{"t": DOWN, "o": "No"}, {"t": UP, "o": "Yes"}], nr=True, fd=None)
    info = wire.parse_clob_market(reversed_tokens)
    assert info.market.token_ids == (UP, DOWN)  # by outcome name, not position
    assert (info.neg_risk, info.market.fee_rate_ppm) == (True, 0)  # no fee schedule: no fee
    assert info.market.window_end_ms == wire.UNKNOWN_END_MS
    assert not info.closed
    squared = wire.parse_clob_market(with_(COMPACT, mts="0.0025", mos="15", fd={"r": "0.25", "e": 2.0}))
    assert (squared.market.tick, squared.market.min_size) == (2_500, 15 * ONE)
    assert (squared.market.fee_rate_ppm, squared.market.fee_exponent) == (250_000, 2)
    resolved = with_(ROW, closed=True, accepting_orders=False)
    resolved["tokens"][1]["winner"] = True
    info = wire.parse_clob_market(COMPACT, wire.parse_market_status(resolved))
    assert (info.closed, info.accepting_orders, info.winner) == (True, False, Outcome.DOWN)
    assert wire.parse_market_by_token({"condition_id": COND, "primary_token_id": UP}) == COND
    assert wire.looks_like_condition_id(COND)
    assert not wire.looks_like_condition_id(UP)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mts": 0.02}, "clob-market.mts"),
        ({"mos": "five"}, "clob-market.mos"),
        ({"fd": {"r": 0.07, "e": 1.5}}, "clob-market.fd.e"),
        ({"fd": {"e": 1}}, "clob-market.fd.r"),
        ({"t": [{"t": UP, "o": "Up"}]}, "clob-market.t"),
        ({"t": [{"t": UP, "o": "Up"}, {"t": "0xabc", "o": "Down"}]}, "clob-market.t"),
        ({"nr": "maybe"}, "clob-market.nr"),
    ],
)
def test_malformed_markets_name_the_field(change: dict[str, Any], field: str) -> None:
    assert field_error(lambda: wire.parse_clob_market(with_(COMPACT, **change))) == field


def test_malformed_market_row_and_tick_size() -> None:
    assert field_error(lambda: wire.parse_market_status(with_(ROW, closed=None))) == "market.closed"
    assert (
        field_error(lambda: wire.parse_market_status(with_(ROW, end_date_iso="soon")))
        == "market.end_date_iso"
    )
    assert wire.parse_tick_size({"minimum_tick_size": 0.001}) == 1_000
    assert field_error(lambda: wire.parse_tick_size({"tick": 0.01})) == "tick-size.minimum_tick_size"


# -- trades ----------------------------------------------------------------------------


def test_taker_trade_is_our_taker_fill_with_the_market_fee() -> None:
    [tf] = wire.parse_trade(TAKER_TRADE, MARKETS, OWNER, ADDRESS)
    f = tf.fill
    assert (tf.trade_id, tf.venue_order_id, tf.state) == (
        TAKER_TRADE["id"],
        TAKER_TRADE["taker_order_id"],
        "COUNTED",
    )
    assert (f.fill_id, f.order_id, f.ts_ms, f.market_id) == (
        TAKER_TRADE["id"],
        tf.venue_order_id,
        1763683201000,
        COND,
    )
    assert (f.outcome, f.action, f.price, f.shares, f.liquidity) == (
        Outcome.UP,
        Action.BUY,
        520_000,
        5 * ONE,
        Liquidity.TAKER,
    )
    assert f.fee == taker_fee(5 * ONE, 520_000, 70_000, 1) == 87_360


def test_maker_trade_picks_our_resting_order_among_the_makers() -> None:
    [tf] = wire.parse_trade(MAKER_TRADE, MARKETS, OWNER, ADDRESS)
    f = tf.fill
    assert (tf.venue_order_id, f.fill_id, f.ts_ms) == ("0xours", "trade-0xabcdef1234", 1704067200000)
    assert (f.action, f.price, f.shares, f.fee, f.liquidity) == (
        Action.BUY,
        500_000,
        10 * ONE,
        0,
        Liquidity.MAKER,
    )
    by_address = wire.parse_trade(MAKER_TRADE, MARKETS, "another-key", ADDRESS)
    assert [t.venue_order_id for t in by_address] == ["0xours"]
    two = copy.deepcopy(MAKER_TRADE)
    two["maker_orders"][0]["owner"] = OWNER
    assert [t.fill.fill_id for t in wire.parse_trade(two, MARKETS, OWNER, ADDRESS)] == [
        "trade-0xabcdef1234:0xsomeone",
        "trade-0xabcdef1234:0xours",
    ]


def test_trade_statuses_and_duplicates() -> None:
    def state(status: str) -> str:
        return wire.parse_trade(with_(TAKER_TRADE, status=status), MARKETS, OWNER, ADDRESS)[0].state

    assert [state(s) for s in ("MATCHED", "MINED", "CONFIRMED", "mined")] == ["COUNTED"] * 4
    assert state("FAILED") == "FAILED"
    assert state("RETRYING") == state("MATCHED_NOT_BROADCASTED") == "PENDING"
    rows = [TAKER_TRADE, copy.deepcopy(TAKER_TRADE)]  # the API can list a trade twice
    fills = [tf.fill for row in rows for tf in wire.parse_trade(row, MARKETS, OWNER, ADDRESS)]
    assert fills[0] == fills[1]  # same fill id: the venue adapter books it once
    assert wire.parse_trade(with_(TAKER_TRADE, market="0xother"), MARKETS, OWNER, ADDRESS) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"size": "5.0000001"}, "trade[e85026eb-7018-48d2-a30a-975b4322b31a].size"),
        ({"price": None}, "trade[e85026eb-7018-48d2-a30a-975b4322b31a].price"),
        ({"price": "1.5"}, "trade[e85026eb-7018-48d2-a30a-975b4322b31a].price"),
        ({"match_time": "later"}, "trade[e85026eb-7018-48d2-a30a-975b4322b31a].match_time"),
        ({"side": "HOLD"}, "trade[e85026eb-7018-48d2-a30a-975b4322b31a].side"),
        ({"asset_id": "42"}, "trade[e85026eb-7018-48d2-a30a-975b4322b31a].asset_id"),
        (
            {"trader_side": None, "owner": "someone"},
            "trade[e85026eb-7018-48d2-a30a-975b4322b31a].trader_side",
        ),
        ({"id": ""}, "trade.id"),
    ],
)
def test_malformed_trades_name_the_field(change: dict[str, Any], field: str) -> None:
    assert (
        field_error(lambda: wire.parse_trade(with_(TAKER_TRADE, **change), MARKETS, OWNER, ADDRESS)) == field
    )


def test_maker_trade_without_our_order_is_malformed() -> None:
    row = with_(MAKER_TRADE, trader_side="MAKER")
    assert (
        field_error(lambda: wire.parse_trade(row, MARKETS, "x", "0x0"))
        == "trade[trade-0xabcdef1234].maker_orders"
    )


# -- orders and answers ----------------------------------------------------------------


def test_order_rows() -> None:
    order = wire.parse_order(ORDER_ROW)
    assert (order.order_id, order.token_id, order.action, order.price) == (
        "0x1234567890abcdef",
        UP,
        Action.BUY,
        500_000,
    )
    assert (order.size, order.filled, order.status, order.created_s) == (
        100 * ONE,
        25 * ONE,
        OrderStatus.PARTIALLY_FILLED,
        1703875200,
    )
    assert order.expiration_s is None
    statuses = {
        "LIVE": OrderStatus.PARTIALLY_FILLED,
        "MATCHED": OrderStatus.FILLED,
        "ORDER_STATUS_CANCELED": OrderStatus.CANCELLED,
        "CANCELED_MARKET_RESOLVED": OrderStatus.CANCELLED,
        "INVALID": OrderStatus.REJECTED,
    }
    for raw, status in statuses.items():
        assert wire.parse_order(with_(ORDER_ROW, status=raw)).status is status
    gtd = with_(ORDER_ROW, status="CANCELED", expiration="1703875300", order_type="GTD", size_matched="0")
    assert wire.parse_order(gtd, now_s=1703875200).status is OrderStatus.CANCELLED
    assert wire.parse_order(gtd, now_s=1703875240, expiry_margin_s=60).status is OrderStatus.EXPIRED
    assert wire.parse_order(with_(ORDER_ROW, size_matched="0")).status is OrderStatus.OPEN


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "PAUSED"}, "order[0x1234567890abcdef].status"),
        ({"size_matched": "101"}, "order[0x1234567890abcdef].size_matched"),
        ({"original_size": "lots"}, "order[0x1234567890abcdef].original_size"),
        ({"expiration": "never"}, "order[0x1234567890abcdef].expiration"),
        ({"side": 1}, "order[0x1234567890abcdef].side"),
    ],
)
def test_malformed_orders_name_the_field(change: dict[str, Any], field: str) -> None:
    assert field_error(lambda: wire.parse_order(with_(ORDER_ROW, **change))) == field


def test_post_order_answers() -> None:
    live = {
        "success": True,
        "errorMsg": "",
        "orderID": "0xabc",
        "status": "live",
        "makingAmount": "",
        "takingAmount": "",
    }
    assert wire.parse_post_order(live) == wire.PostResult(True, "", "0xabc", "live", 0, 0, ())
    matched = {
        "success": True,
        "errorMsg": None,
        "orderID": "0xdef",
        "status": "matched",
        "makingAmount": "5.25",
        "takingAmount": "10",
        "transactionsHashes": ["0x1", "0x2"],
        "tradeIDs": ["t1", "t2"],
    }
    result = wire.parse_post_order(matched)
    assert (result.making, result.taking, result.trade_ids) == (5_250_000, 10 * ONE, ("t1", "t2"))
    refused = wire.parse_post_order({"success": False, "errorMsg": "not enough balance / allowance"})
    assert (refused.success, refused.error) == (False, "not enough balance / allowance")
    assert field_error(lambda: wire.parse_post_order('{"success": true, "orderID": "0x')) == "post-order"
    assert field_error(lambda: wire.parse_post_order(with_(live, status="pending"))) == "post-order.status"
    assert field_error(lambda: wire.parse_post_order(with_(live, orderID=""))) == "post-order.orderID"
    assert (
        field_error(lambda: wire.parse_post_order(with_(matched, takingAmount="ten")))
        == "post-order.takingAmount"
    )


def test_balance_cancel_page_and_error_bodies() -> None:
    assert wire.parse_balance({"balance": "1000000000", "allowances": {}}) == 1_000 * ONE
    for bad in ({"balance": "-5"}, {"balance": "1.5"}, {"balance": 1e9}, {}):
        assert field_error(lambda bad=bad: wire.parse_balance(bad)).startswith("balance-allowance")
    assert wire.parse_cancel(
        {"canceled": ["0x1"], "not_canceled": {"0x2": "already canceled or matched"}}
    ) == (
        ["0x1"],
        {"0x2": "already canceled or matched"},
    )
    assert wire.parse_page({"data": [1, 2], "next_cursor": "MQ=="}, "p") == ([1, 2], "MQ==")
    assert wire.parse_page({"data": [], "next_cursor": None}, "p") == ([], "LTE=")
    assert field_error(lambda: wire.parse_page({"data": {}}, "/data/trades")) == "/data/trades.data"
    assert wire.error_message({"error": "not enough balance / allowance"}) == "not enough balance / allowance"
    assert wire.error_message("<html>\n Bad   Gateway</html>") == "<html> Bad Gateway</html>"
    assert len(wire.error_message("x" * 1000)) == 200


def test_numbers_and_times() -> None:
    assert wire.micros("0.0025", "f") == 2_500
    assert wire.micros(5, "f") == 5 * ONE
    assert field_error(lambda: wire.micros(True, "flag")) == "flag"
    assert wire.timestamp_ms("1703875200", "t") == wire.timestamp_ms(1703875200000, "t") == 1703875200000
    assert wire.timestamp_ms("2024-01-01T00:00:00.5+00:00", "t") == 1704067200500
    assert field_error(lambda: wire.timestamp_ms("2024-01-01T00:00:00", "t")) == "t"  # no time zone
