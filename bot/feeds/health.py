"""What status.json says about the market data feed: per market, when its book was last read
and how long ago; per websocket connection, its health. Feeds that keep no such record (the
simulated market, a replay) answer None. What a feed reports is one of the small protocols of
bot/feeds/__init__.py."""

from __future__ import annotations

from typing import Any

from bot.feeds import reports_book_age, reports_connections, reports_discovery, reports_market_health
from bot.model import Market, iso


def books(feed: object, markets: dict[str, Market], wall_ms: int) -> dict[str, Any] | None:
    """Live feeds: when each market's book was last read, and how long ago."""
    if not reports_book_age(feed):
        return None
    more = feed if reports_market_health(feed) else None  # the websocket feed's gaps, source...
    out = {}
    for market_id in markets:
        ts = feed.last_update_ms(market_id)
        out[market_id] = {
            "last_update": iso(ts) if ts else None,
            "age_s": round((wall_ms - ts) / 1000, 3) if ts else None,
            **(more.market_health(market_id) if more else {}),
        }
    return out


def connections(feed: object) -> list[dict[str, Any]] | None:
    """The websocket feed: health per connection (None for the other feeds)."""
    return feed.connection_health() if reports_connections(feed) else None


def discovery(feed: object) -> dict[str, Any] | None:
    """`[polymarket] series`: the roller's view (bot/markets/roller.py); None without one."""
    return feed.discovery_status() if reports_discovery(feed) else None
