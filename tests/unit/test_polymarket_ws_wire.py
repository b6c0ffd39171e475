"""The market websocket's parser on the documented message samples, and the local book."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.feeds import polymarket_ws_wire as wsw
from bot.feeds.ws_book import LocalBook
from bot.model import ONE
from bot.venues.polymarket.wire import ParseError

# BOOK and the first PRICE_CHANGE row are verbatim from docs.polymarket.com
# market-data/websocket/market-channel.md; LAST_TRADE's first six fields from the AsyncAPI
# (api-reference/wss/market.md). The rest follow the documented field lists
# (../shared/polymarket-realtime.md §2.3) with illustrative values: our copy of those
# samples was cut short, and a sample we did not see is not passed off as recorded.
BOOK = """{
  "event_type": "book",
  "asset_id": "65818619657568813474341868652308942079804919287380422192892211131408793125422",
  "market": "0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af",
  "bids": [
    { "price": ".48", "size": "30" },
    { "price": ".49", "size": "20" },
    { "price": ".50", "size": "15" }
  ],
  "asks": [
    { "price": ".52", "size": "25" },
    { "price": ".53", "size": "60" },
    { "price": ".54", "size": "10" }
  ],
  "timestamp": "123456789000",
  "hash": "0x0...."
}"""
PRICE_CHANGE = """{
  "event_type": "price_change",
  "market": "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1",
  "price_changes": [
    {
      "asset_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563",
      "price": "0.5",
      "size": "200",
      "side": "BUY",
      "hash": "56621a121a47ed9333273e21c83b660cff37ae50",
      "best_bid": "0.5",
      "best_ask": "1"
    },
    {
      "asset_id": "52114319501245915516055106046884209969926127482827954674443846427813813222426",
      "price": "0.5",
      "size": "200",
      "side": "SELL",
      "hash": "1895759e4df7a796bf4f1c5a5950b748306923e2",
      "best_bid": "0",
      "best_ask": "0.5"
    }
  ],
  "timestamp": "1757908892351"
}"""
LAST_TRADE = """{
  "event_type": "last_trade_price",
  "asset_id": "114122071509644379678018727908709560226618148003371446110114509806601493071694",
  "market": "0x6a67b9d828d53862160e470329ffea5246f338ecfffdf2cab45211ec578b0347",
  "price": "0.456",
  "size": "219.217767",
  "fee_rate_bps": "0",
  "side": "BUY",
  "timestamp": "1750428146322",
  "transaction_hash": "0xeeefffggghhh"
}"""
TICK = """{
  "event_type": "tick_size_change",
  "asset_id": "65818619657568813474341868652308942079804919287380422192892211131408793125422",
  "market": "0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af",
  "old_tick_size": "0.01",
  "new_tick_size": "0.001",
  "timestamp": "100000000"
}"""
BEST = """{
  "event_type": "best_bid_ask",
  "market": "0x0005c0d312de0be897668695bae9f32b624b4a1ae8b140c49f08447fcc74f442",
  "asset_id": "85354956062430465315924116860125388538595433819574542752031640332592237464430",
  "best_bid": "0.73",
  "best_ask": "0.77",
  "spread": "0.04",
  "timestamp": "1766789469958"
}"""
RESOLVED = """{
  "id": "1031769",
  "question": "Will NVIDIA (NVDA) close above $240 end of January?",
  "market": "0x311d0c4b6671ab54af4970c06fcf58662516f5168997bdda209ec3db5aa6b0c1",
  "slug": "nvda-above-240-on-january-30-2026",
  "description": "This market will resolve to Yes if...",
  "assets_ids": [
    "76043073756653678226373981964075571318267289248134717369284518995922789326425",
    "31690934263385727664202099278545688007799199447969475608906331829650099442770"
  ],
  "outcomes": ["Yes", "No"],
  "winning_asset_id": "76043073756653678226373981964075571318267289248134717369284518995922789326425",
  "winning_outcome": "Yes",
  "event_message": {"id": "125819", "ticker": "nvda", "slug": "nvda", "title": "NVDA", "description": ""},
  "timestamp": "1766790415550",
  "event_type": "market_resolved",
  "tags": []
}"""
NEW_MARKET = """{
  "id": "1031769",
  "question": "Will NVIDIA (NVDA) close above $240 end of January?",
  "market": "0x311d0c4b6671ab54af4970c06fcf58662516f5168997bdda209ec3db5aa6b0c1",
  "slug": "nvda-above-240-on-january-30-2026",
  "description": "",
  "assets_ids": [
    "76043073756653678226373981964075571318267289248134717369284518995922789326425",
    "31690934263385727664202099278545688007799199447969475608906331829650099442770"
  ],
  "outcomes": ["Yes", "No"],
  "event_message": {"id": "125819", "ticker": "nvda", "slug": "nvda", "title": "NVDA", "description": ""},
  "timestamp": "1766790415550",
  "event_type": "new_market",
  "tags": [],
  "condition_id": "0x311d0c4b6671ab54af4970c06fcf58662516f5168997bdda209ec3db5aa6b0c1",
  "active": true,
  "clob_token_ids": [
    "76043073756653678226373981964075571318267289248134717369284518995922789326425",
    "31690934263385727664202099278545688007799199447969475608906331829650099442770"
  ],
  "order_price_min_tick_size": "0.01",
  "fees_enabled": true,
  "fee_schedule": {"exponent": 1, "rate": 0.07, "taker_only": true, "rebate_rate": 0.2}
}"""


def one(frame: str) -> wsw.Parsed:
    [raw] = wsw.decode_frame(frame)
    return wsw.parse_event(raw)


def test_book_sample() -> None:
    book = one(BOOK)
    assert isinstance(book, wsw.BookSnapshot)
    assert book.asset_id.startswith("6581")
    assert book.market.startswith("0xbd31")
    assert book.bids == {480_000: 30 * ONE, 490_000: 20 * ONE, 500_000: 15 * ONE}
    assert book.asks == {520_000: 25 * ONE, 530_000: 60 * ONE, 540_000: 10 * ONE}
    assert book.ts_ms == 123456789000
    assert book.tick is None


def test_price_change_sample() -> None:
    change = one(PRICE_CHANGE)
    assert isinstance(change, wsw.PriceChange)
    assert change.ts_ms == 1757908892351
    buy, sell = change.changes
    assert (buy.buy, buy.price, buy.size, buy.best_bid, buy.best_ask) == (
        True,
        500_000,
        200 * ONE,
        500_000,
        ONE,
    )
    assert (sell.buy, sell.best_bid, sell.best_ask) == (False, 0, 500_000)


def test_other_samples() -> None:
    trade = one(LAST_TRADE)
    assert isinstance(trade, wsw.LastTrade)
    assert (trade.price, trade.size) == (456_000, 219_217_767)
    tick = one(TICK)
    assert isinstance(tick, wsw.TickSizeChange)
    assert tick.new_tick == 1_000
    best = one(BEST)
    assert isinstance(best, wsw.BestBidAsk)
    assert (best.best_bid, best.best_ask) == (730_000, 770_000)
    resolved = one(RESOLVED)
    assert isinstance(resolved, wsw.MarketResolved)
    assert resolved.winning_asset_id.startswith("7604")
    new = one(NEW_MARKET)
    assert isinstance(new, wsw.NewMarket)
    assert len(new.token_ids) == 2
    assert new.tick == 10_000
    assert new.outcomes == ("Yes", "No")


def test_frames_are_an_object_a_list_or_pong() -> None:
    dump = "[" + BOOK + "," + BOOK + "]"
    assert len(wsw.decode_frame(dump)) == 2
    assert wsw.decode_frame("PONG") == []
    assert isinstance(one('{"event_type": "something_new", "x": 1}'), wsw.Unknown)


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ('{"event_type": "price_change", "market": "0x1", "price_changes": [{"asset_id": "1", "pri', "frame"),
        ("42", "frame"),
        ('{"asset_id": "1"}', "event.event_type"),
        (PRICE_CHANGE.replace('"BUY"', '"HOLD"'), "price_change.price_changes[0].side"),
        (PRICE_CHANGE.replace('"200"', '"-1"', 1), "price_change.price_changes[0].size"),
        (BOOK.replace('".48"', '"1.48"'), "book.bids[0].price"),
        (BOOK.replace('"timestamp": "123456789000",', ""), "book.timestamp"),
        (TICK.replace('"0.001"', '"0.003"'), "tick_size_change.new_tick_size"),
        (RESOLVED.replace('"market"', '"mkt"'), "market_resolved.market"),
    ],
)
def test_a_bad_message_names_the_field(frame: str, field: str) -> None:
    def parse_all() -> None:
        for raw in wsw.decode_frame(frame):
            wsw.parse_event(raw)

    with pytest.raises(ParseError) as caught:
        parse_all()
    assert caught.value.field == field


def test_subscription_frames_have_the_documented_shape() -> None:
    first = json.loads(wsw.subscribe_frame(["1", "2"], first=True))
    assert first == {
        "assets_ids": ["1", "2"],
        "custom_feature_enabled": True,
        "type": "market",
        "initial_dump": True,
    }
    later = json.loads(wsw.subscribe_frame(["3"], first=False))
    assert later == {"assets_ids": ["3"], "custom_feature_enabled": True, "operation": "subscribe"}
    assert json.loads(wsw.unsubscribe_frame(["3"])) == {"operation": "unsubscribe", "assets_ids": ["3"]}


# -- the local book -----------------------------------------------------------------------


def change(side: str, price: float, size: float, bid: float | None = None, ask: float | None = None) -> Any:
    return wsw.LevelChange(
        "1",
        side == "BUY",
        round(price * ONE),
        round(size * ONE),
        None if bid is None else round(bid * ONE),
        None if ask is None else round(ask * ONE),
    )


def seeded() -> LocalBook:
    book = LocalBook()
    assert not book.trusted
    book.seed({480_000: 30 * ONE}, {520_000: 25 * ONE, 530_000: 60 * ONE}, 1_000)
    return book


def test_book_levels_are_set_and_removed() -> None:
    book = seeded()
    book.apply(change("BUY", 0.49, 10, bid=0.49, ask=0.52), 1_001)
    assert book.top() == (490_000, 10 * ONE, 520_000, 25 * ONE)
    assert book.trusted
    book.apply(change("SELL", 0.52, 0, bid=0.49, ask=0.53), 1_002)
    assert book.top() == (490_000, 10 * ONE, 530_000, 60 * ONE)
    assert book.trusted
    book.apply(change("SELL", 0.53, 0), 1_003)
    assert book.top() == (490_000, 10 * ONE, ONE, 0)  # an empty side reads as REST does


def test_a_change_older_than_the_snapshot_is_already_in_it() -> None:
    book = seeded()
    book.apply(change("BUY", 0.49, 10), 999)
    assert book.trusted
    assert book.top()[0] == 480_000


def test_out_of_order_missed_and_crossed_books_are_untrusted() -> None:
    book = seeded()
    book.apply(change("BUY", 0.49, 10), 1_005)
    book.apply(change("BUY", 0.47, 10), 1_004)
    assert not book.trusted
    assert "out of order" in book.reason
    book = seeded()
    book.apply(change("BUY", 0.49, 10, bid=0.50, ask=0.52), 1_001)  # the venue's book has a 0.50 bid
    assert not book.trusted
    assert "best bid" in book.reason
    book = seeded()
    book.apply(change("BUY", 0.53, 10, bid=0.53, ask=0.52), 1_001)
    assert not book.trusted
    assert "crossed" in book.reason
    book.apply(change("BUY", 0.53, 0), 1_002)  # nothing builds on an untrusted book
    assert not book.trusted
    book.seed({480_000: ONE}, {520_000: ONE}, 2_000)
    assert book.trusted


def _resolved_with(**fields: object) -> str:
    data = json.loads(RESOLVED)
    for name, value in fields.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    "fields",
    [
        {"winning_asset_id": "", "winning_outcome": "50-50"},
        {"winning_asset_id": None, "winning_outcome": "Split"},
        {"winning_asset_id": "", "winning_outcome": "50/50"},
    ],
)
def test_a_fifty_fifty_resolution_names_no_token_and_says_split(fields: dict[str, object]) -> None:
    resolved = one(_resolved_with(**fields))
    assert isinstance(resolved, wsw.MarketResolved)
    assert resolved.split
    assert resolved.winning_asset_id == ""


def test_a_winner_message_is_never_a_split_and_an_empty_winner_without_the_word_is_not_either() -> None:
    won = one(RESOLVED)
    assert isinstance(won, wsw.MarketResolved)
    assert not won.split
    blank = one(_resolved_with(winning_asset_id="", winning_outcome="Yes"))
    assert isinstance(blank, wsw.MarketResolved)
    assert not blank.split  # the feed refuses it: neither token, not a split
    missing = one(_resolved_with(winning_asset_id=None))  # no field at all: the same, said as such
    assert isinstance(missing, wsw.MarketResolved)
    assert not missing.split
    assert missing.winning_asset_id == ""
    assert not missing.winner_field
