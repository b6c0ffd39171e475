"""Gamma rows → GammaMarket → Market, the family rule check, series slugs and market references.

The samples follow the real payload shapes (../shared/polymarket-realtime.md §1.3): lists as
JSON-encoded strings, the fee schedule object, cryptoMarketConfig, ISO times with a Z.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bot.markets.discovery import parse_ref
from bot.markets.gamma import MissingTokens, parse_market
from bot.markets.rules import rule_difference
from bot.markets.series import DiscoveryError, parse_series, series_of_slug
from bot.model import Outcome
from bot.venues.polymarket.wire import ParseError

UP = "48415929365837409847283902738236482367489234823648723648723648723642376472364"
DOWN = "14947618629783640986432709864327098643270986432709864327098643270986432709864"
CONDITION = "0x5bed2aa5" + "0" * 56
RULES = (
    'This market will resolve to "Up" if the time-weighted average price (TWAP) of Bitcoin, generated'
    " by Chainlink, of the time range specified in the title is greater than or equal to the price at"
    ' the beginning of that range. Otherwise, it will resolve to "Down".'
)

# a 5-minute window as Gamma lists it inside /events?slug=btc-updown-5m-1785881100
ROW: dict[str, Any] = {
    "id": "2397858",
    "question": "Bitcoin Up or Down - August 4, 6:05PM-6:10PM ET",
    "conditionId": CONDITION,
    "slug": "btc-updown-5m-1785881100",
    "resolutionSource": "https://data.chain.link/streams/btc-usd-twap-60s-streams",
    "endDate": "2026-08-04T22:10:00Z",
    "startDate": "2026-08-03T22:05:12.345Z",
    "description": RULES,
    "outcomes": '["Up", "Down"]',
    "outcomePrices": '["0.515", "0.485"]',
    "active": True,
    "closed": False,
    "enableOrderBook": True,
    "orderPriceMinTickSize": 0.01,
    "orderMinSize": 5,
    "acceptingOrders": True,
    "clobTokenIds": json.dumps([UP, DOWN]),
    "negRisk": False,
    "eventStartTime": "2026-08-04T22:05:00Z",
    "feesEnabled": True,
    "feeType": "crypto_fees_v2",
    "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": True, "rebateRate": 0.2},
    "makerBaseFee": 1000,
    "takerBaseFee": 1000,
    "umaResolutionStatus": None,
    "umaResolutionStatuses": "[]",
    "cryptoMarketConfig": {
        "id": "btc-5m-twap-60",
        "asset": "btc",
        "duration": "5m",
        "twapEnabled": True,
        "twapLookbackSeconds": 60,
    },
    "cryptoMarketConfigId": "btc-5m-twap-60",
}
EVENT = {"slug": "btc-updown-5m-1785881100", "seriesSlug": "btc-up-or-down-5m", "markets": [ROW]}
FIVE = parse_series("btc-updown-5m")


def row(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(ROW)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def test_a_five_minute_row_maps_to_an_exact_market() -> None:
    gm = parse_market(ROW, EVENT)
    assert (gm.up_token, gm.down_token, gm.condition_id) == (UP, DOWN, CONDITION)
    assert (gm.event_slug, gm.series_slug) == ("btc-updown-5m-1785881100", "btc-up-or-down-5m")
    assert gm.start_ms == 1785881100_000
    assert gm.end_ms == 1785881400_000
    assert (gm.tick, gm.min_size, gm.fee_rate_ppm, gm.fee_exponent) == (10_000, 5_000_000, 70_000, 1)
    assert gm.outcome_prices == (515_000, 485_000)
    assert gm.resolution() is None
    market = gm.to_market(FIVE.instrument)
    assert market.market_id == CONDITION
    assert market.instrument == "BTC"
    assert (market.window_start_ms, market.window_end_ms) == (1785881100_000, 1785881400_000)
    assert market.token_ids == (UP, DOWN)
    assert market.tick == 10_000
    assert market.fee_rate_ppm == 70_000
    assert rule_difference(gm, FIVE) is None


def test_tokens_and_prices_follow_the_outcome_names_not_their_order() -> None:
    gm = parse_market(
        row(outcomes='["Down", "Up"]', clobTokenIds=json.dumps([DOWN, UP]), outcomePrices='["0.2", "0.8"]')
    )
    assert (gm.up_token, gm.down_token) == (UP, DOWN)
    assert gm.outcome_prices == (800_000, 200_000)


def test_real_arrays_are_read_like_json_strings() -> None:
    gm = parse_market(row(outcomes=["Up", "Down"], clobTokenIds=[UP, DOWN], outcomePrices=["1", "0"]))
    assert (gm.up_token, gm.outcome_prices) == (UP, (1_000_000, 0))


@pytest.mark.parametrize(
    ("changes", "winner"),
    [
        ({"closed": True, "umaResolutionStatus": "resolved", "outcomePrices": '["1", "0"]'}, Outcome.UP),
        ({"closed": True, "umaResolutionStatus": "resolved", "outcomePrices": '["0", "1"]'}, Outcome.DOWN),
        ({"closed": True, "umaResolutionStatus": "resolved", "outcomePrices": '["0.5", "0.5"]'}, None),
    ],
)
def test_resolved_when_closed_status_and_prices_agree(
    changes: dict[str, Any], winner: Outcome | None
) -> None:
    result = parse_market(row(**changes)).resolution()
    assert result is not None
    assert result.winner is winner
    assert result.up_payout + result.down_payout == 1_000_000


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"closed": False, "umaResolutionStatus": "resolved", "outcomePrices": '["1", "0"]'}, "closed=false"),
        ({"closed": True, "outcomePrices": '["1", "0"]'}, "umaResolutionStatus"),
        ({"closed": True, "umaResolutionStatus": "proposed", "outcomePrices": '["1", "0"]'}, "'proposed'"),
        (
            {"closed": True, "umaResolutionStatus": "resolved", "outcomePrices": '["0.9995", "0.0005"]'},
            "final",
        ),
        ({"closed": True, "umaResolutionStatus": "resolved", "outcomePrices": None}, "missing"),
    ],
)
def test_not_resolved_unless_all_three_agree(changes: dict[str, Any], reason: str) -> None:
    gm = parse_market(row(**changes))
    assert gm.resolution() is None
    assert reason in gm.pending_reason()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"clobTokenIds": '["4841", '}, "clobTokenIds"),
        ({"clobTokenIds": json.dumps(["0xabc", DOWN])}, "clobTokenIds[0]"),
        ({"clobTokenIds": json.dumps([UP, UP])}, "clobTokenIds"),
        ({"outcomes": '["Up", "Down", "Flat"]'}, "market"),
        ({"outcomes": '["Higher", "Lower"]'}, "outcomes"),
        ({"orderPriceMinTickSize": 0.03}, "orderPriceMinTickSize"),
        ({"orderMinSize": "five"}, "orderMinSize"),
        ({"orderMinSize": 0}, "orderMinSize"),
        ({"feeSchedule": None}, "feeSchedule"),
        ({"feeSchedule": {"rate": 1.5, "exponent": 1}}, "feeSchedule.rate"),
        ({"conditionId": "0x1234"}, "conditionId"),
        ({"endDate": "tomorrow"}, "endDate"),
        ({"endDate": "2026-08-04T22:00:00Z"}, "endDate"),
        ({"acceptingOrders": "yes"}, "acceptingOrders"),
        ({"cryptoMarketConfig": {"twapLookbackSeconds": "sixty"}}, "twapLookbackSeconds"),
    ],
)
def test_a_malformed_row_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_market(row(**changes))
    assert f"market.{field}" in str(caught.value) or field == caught.value.field.split(".")[-1]
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("tokens", [None, "", "[]"])
def test_a_market_without_token_ids_is_its_own_error(tokens: str | None) -> None:
    changes: dict[str, Any] = {"clobTokenIds": tokens} if tokens is not None else {"clobTokenIds": None}
    with pytest.raises(MissingTokens):
        parse_market(row(**changes))


def test_fine_ticks_and_no_fees_are_read() -> None:
    gm = parse_market(row(orderPriceMinTickSize="0.001", feesEnabled=False, feeSchedule=None))
    assert gm.tick == 1_000
    assert (gm.fees_enabled, gm.fee_rate_ppm) == (False, 0)


HOURLY = row(
    slug="bitcoin-up-or-down-october-4-2026-5am-et",
    question="Bitcoin Up or Down - October 4, 5AM ET",
    resolutionSource="https://www.binance.com/en/trade/BTC_USDT",
    cryptoMarketConfig=None,
    description='This market will resolve to "Up" if the close of the Binance 1 hour candle ...',
)


@pytest.mark.parametrize(
    ("market", "series", "reason"),
    [
        (HOURLY, None, "Binance"),
        (row(cryptoMarketConfig=None), FIVE, "no cryptoMarketConfig"),
        (row(cryptoMarketConfig={**ROW["cryptoMarketConfig"], "twapLookbackSeconds": 30}), FIVE, "30 s"),
        (row(cryptoMarketConfig={**ROW["cryptoMarketConfig"], "twapEnabled": False}), FIVE, "twapEnabled"),
        (row(cryptoMarketConfig={**ROW["cryptoMarketConfig"], "asset": "eth"}), FIVE, "asset"),
        (row(), parse_series("btc-updown-15m"), "duration"),
        (row(resolutionSource=""), FIVE, "resolutionSource"),
        (row(description="Resolves to the Chainlink BTC/USD price at the end."), FIVE, "description"),
        (row(negRisk=True), FIVE, "neg-risk"),
        (row(feeSchedule={"exponent": 1, "rate": 0.07, "takerOnly": False}), FIVE, "takerOnly"),
    ],
)
def test_rules_that_differ_give_one_reason(market: dict[str, Any], series: Any, reason: str) -> None:
    found = rule_difference(parse_market(market), series)
    assert found is not None
    assert reason in found
    assert "\n" not in found


def test_series_names_slugs_and_windows() -> None:
    assert parse_series("BTC-up-or-down-5m") == FIVE
    assert FIVE.slug(1785881100) == "btc-updown-5m-1785881100"
    assert series_of_slug("eth-updown-15m-1785881700") == (parse_series("eth-updown-15m"), 1785881700)
    assert series_of_slug("bitcoin-up-or-down-october-4-2026-5am-et") is None
    # 10 s before a 5-minute boundary, a 60 s horizon reaches the next window
    assert FIVE.window_starts(1785881390_000, 60_000) == [1785881100, 1785881400]
    assert FIVE.window_starts(1785881100_000, 0, back=1) == [1785880800, 1785881100]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("btc-updown-1h", "Binance"),
        ("doge-updown-7m", "timeframe"),
        ("pepe-updown-5m", "coin"),
        ("bitcoin", "expected <coin>-updown-<timeframe>"),
    ],
)
def test_unknown_series_are_refused_in_one_line(name: str, words: str) -> None:
    with pytest.raises(DiscoveryError) as caught:
        parse_series(name)
    assert words in str(caught.value)
    assert name in str(caught.value)
    assert "\n" not in str(caught.value)


def test_market_references() -> None:
    assert parse_ref(CONDITION).kind == "condition"
    assert parse_ref(UP).kind == "token"
    assert parse_ref("btc-updown-5m-1785881100").kind == "slug"
    url = parse_ref("https://polymarket.com/event/bitcoin-up-or-down-october-4-2026-5am-et?tid=1")
    assert (url.kind, url.value) == ("slug", "bitcoin-up-or-down-october-4-2026-5am-et")
    for bad in ("0x12", "Bitcoin Up!", "", "https://polymarket.com/profile/x"):
        with pytest.raises(DiscoveryError):
            parse_ref(bad)


@pytest.mark.parametrize(
    ("meta", "strike"),
    [
        (None, None),
        ({"priceToBeat": 100_012.5, "finalPrice": 100_020.0}, 100_012.5),
        ({"priceToBeat": "84634.69"}, 84634.69),
        ({"priceToBeat": "n/a"}, None),
        ({"priceToBeat": -1}, None),
        ({"priceToBeat": True}, None),
        ("not an object", None),
    ],
)
def test_the_price_to_beat_is_the_official_strike_when_gamma_gives_one(
    meta: Any, strike: float | None
) -> None:
    event = {**EVENT, "eventMetadata": meta} if meta is not None else EVENT
    gm = parse_market(ROW, event)
    assert gm.price_to_beat == strike
    assert gm.to_market(FIVE.instrument).strike == strike
