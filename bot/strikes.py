"""The strike in force for a market the engine already holds.

A new strike (the price feed's at the window's start, then Gamma's official price to beat:
bot/feeds/fair_feed.py) reaches the engine as a `WindowOpened` with `Market.strike` set. It
is a strike update, not a change of the market's rules: the engine's record takes it
(status.json `markets[].strike`, MARKET_RESOLVED) and so does the journal's markets row,
with where it came from (`strike_source`: `feed` or `gamma`, as the fair-value feed says;
None where the feed does not say) and when (`strike_ms`), so a restart takes back the strike
in force. A `WindowOpened` without a strike (new rules, or a window taken back after a
restart by a feed whose price at the window's start is long past) never erases one.

After a restart the fair-value feed is told the strikes in force too (`restored_strikes`):
the price at a window's start is long past, so without them it would price nothing in that
window until Gamma publishes the price to beat.
"""

from __future__ import annotations

import dataclasses

from bot.feeds import reports_strike_source
from bot.journal import Journal, Restored
from bot.model import Market


def restored_strikes(restored: Restored) -> dict[str, tuple[float, str | None]]:
    """market id -> (strike, source) of the restored markets that have one."""
    sources = restored.strike_sources
    return {
        m.market_id: (m.strike, sources.get(m.market_id)) for m in restored.markets if m.strike is not None
    }


def market_first_seen(market: Market, journal: Journal, feed: object, ts_ms: int) -> None:
    """A market the engine did not hold: its journal row, and the strike it opens with (if
    any) with its source and time, as a later strike update would record them."""
    journal.market_opened(market)
    if market.strike is not None:
        source = feed.strike_source(market.market_id) if reports_strike_source(feed) else None
        journal.market_strike(market.market_id, market.strike, source, ts_ms)


def strike_in_force(known: Market, market: Market, journal: Journal, feed: object, ts_ms: int) -> Market:
    """The record for `market` (re-sent) where `known` was held; a new strike is journaled."""
    if market.strike is None:
        return market if known.strike is None else dataclasses.replace(market, strike=known.strike)
    if market.strike != known.strike:
        source = feed.strike_source(market.market_id) if reports_strike_source(feed) else None
        journal.market_strike(market.market_id, market.strike, source, ts_ms)
    return market
