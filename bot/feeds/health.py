"""What status.json says about the market data feed: per market, when its book was last read
and how long ago; per websocket connection, its health. Feeds that keep no such record (the
simulated market, a replay) answer None."""

from __future__ import annotations

from typing import Any

from bot.model import Market, iso


def books(feed: object, markets: dict[str, Market], wall_ms: int) -> dict[str, Any] | None:
    """Live feeds: when each market's book was last read, and how long ago."""
    last = getattr(feed, "last_update_ms", None)
    if last is None:
        return None
    more = getattr(feed, "market_health", None)  # the websocket feed's gaps, source...
    out = {}
    for market_id in markets:
        ts = last(market_id)
        out[market_id] = {
            "last_update": iso(ts) if ts else None,
            "age_s": round((wall_ms - ts) / 1000, 3) if ts else None,
            **(more(market_id) if more else {}),
        }
    return out


def connections(feed: object) -> list[dict[str, Any]] | None:
    """The websocket feed: health per connection (None for the other feeds)."""
    health = getattr(feed, "connection_health", None)
    return health() if health else None


def discovery(feed: object) -> dict[str, Any] | None:
    """`[polymarket] series`: the roller's view (bot/markets/roller.py); None without one."""
    view = getattr(feed, "discovery_status", None)
    return view() if view else None
