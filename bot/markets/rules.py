"""Does a market follow a rule the bot knows? One reason to skip it, or None.

The bot knows one family: the crypto up/down windows that settle on Chainlink's 60-second
TWAP (5 minutes, 15 minutes, 4 hours; the rule since 2026-08-14, polymarket-realtime.md §0,
§1.1, §1.3). The rules changed twice in August 2026, so a window is traded only when every
sign agrees with that rule, and skipped with the first difference otherwise (fail closed):

- ``cryptoMarketConfig``: present, ``twapEnabled``, ``twapLookbackSeconds`` 60, and the
  asset and duration of the series asked for;
- ``resolutionSource`` on data.chain.link (the hourly family says binance.com);
- the description (the rules text) names Chainlink and the time-weighted average price;
- outcomes Up and Down; not neg-risk; fees charged to takers only (the only fee model
  the bot has).

Markets picked one by one (a slug, condition id or token id) that are not crypto up/down at
all are `GENERIC`: they are checked for tradeability, and the rule is the operator's choice.
"""

from __future__ import annotations

from bot.markets.gamma import GammaMarket
from bot.markets.series import TWAP_LOOKBACK_S, Series

TWAP_FAMILY = "chainlink-twap-60"
GENERIC = "generic"


def looks_up_down(market: GammaMarket) -> bool:
    """A crypto up/down market, whatever its rule (so it must pass `rule_difference`)."""
    names = {n.lower() for n in market.outcome_names}
    return market.crypto is not None or (names == {"up", "down"} and "up or down" in market.question.lower())


def rule_difference(market: GammaMarket, series: Series | None) -> str | None:
    """Why `market` does not follow the Chainlink TWAP family (of `series` when given)."""
    names = [n.lower() for n in market.outcome_names]
    if sorted(names) != ["down", "up"]:
        return f"rules differ: outcomes are {list(market.outcome_names)}, not Up/Down"
    source = market.resolution_source.lower()
    if "binance" in source:
        return (
            f"rules differ: settles on Binance ({market.resolution_source}), not on the Chainlink"
            f" {TWAP_LOOKBACK_S} s TWAP the bot knows"
        )
    config = market.crypto
    if config is None:
        return "rules differ: no cryptoMarketConfig (the hourly and daily families have none)"
    if not config.twap_enabled:
        return "rules differ: cryptoMarketConfig.twapEnabled is false (settles on a single price)"
    if config.twap_lookback_s != TWAP_LOOKBACK_S:
        return f"rules differ: TWAP window is {config.twap_lookback_s} s, the bot knows {TWAP_LOOKBACK_S} s"
    if series is not None and config.asset != series.coin:
        return f"rules differ: cryptoMarketConfig.asset is {config.asset!r}, the series is {series.coin}"
    if series is not None and config.duration != series.timeframe:
        return (
            f"rules differ: cryptoMarketConfig.duration is {config.duration!r},"
            f" the series is {series.timeframe}"
        )
    if "chain.link" not in source:
        return (
            f"rules differ: resolutionSource {market.resolution_source or '(empty)'!r}"
            " is not a Chainlink data stream"
        )
    text = market.description.lower()
    if "chainlink" not in text or not ("time-weighted average" in text or "twap" in text):
        return "rules differ: the description does not state the Chainlink TWAP rule"
    return market_difference(market)


def market_difference(market: GammaMarket) -> str | None:
    """What any market must be for the bot to trade it (family apart)."""
    if market.neg_risk:
        return "neg-risk market: the bot trades plain binary markets only"
    if market.fees_enabled and not market.fee_taker_only:
        return "fee schedule charges makers too (takerOnly=false): the bot models taker fees only"
    return None
