"""The `[polymarket]` settings of bot.toml: the venue, the markets and the series of
rolling windows (discovery), and the checks of their shape.

Each check returns the one-line problem (or None); `bot.config` raises it as a
`ConfigError`. Which coins and timeframes exist is checked at start (bot/markets/, a
higher layer); here only the names' shape. Secrets come from the environment only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKET_FEEDS = ("rest", "websocket")


@dataclass(frozen=True)
class PolymarketConfig:
    """LIVE and DRY_RUN: the venue and the markets to trade. Secrets come from the
    environment only (POLYMARKET_PRIVATE_KEY, POLYMARKET_API_KEY/SECRET/PASSPHRASE)."""

    host: str = "https://clob.polymarket.com"
    chain_id: int = 137
    signature_type: int = 0
    funder: str = ""
    markets: tuple[str, ...] = ()  # explicit: token ids, condition ids or Gamma slugs
    series: tuple[str, ...] = ()  # recurring windows rolled through forever: btc-updown-5m, ...
    gamma_host: str = "https://gamma-api.polymarket.com"
    discovery_lead_s: float = 60.0  # each window validated and subscribed this long before it opens
    discovery_refresh_s: float = 60.0  # a known window re-read from Gamma at most this often
    discovery_poll_s: float = 5.0  # how often the roller looks at Gamma (its own thread)
    resolve_poll_s: float = 15.0  # an ended window re-read this often until it resolves
    poll_interval_s: float = 1.0
    confirm_timeout_s: float = 5.0
    stale_feed_s: float = 10.0
    venue_heartbeat: bool = False
    market_feed: str = "rest"  # or "websocket": the CLOB market websocket, REST as its fallback
    market_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    ws_silence_s: float = 30.0  # a socket silent this long is reconnected (a gap)
    user_channel: bool = True  # LIVE: fills from the CLOB user websocket as they happen
    user_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    prices: bool = True  # the underlying's price stream and the fair value on every book tick
    price_ws_url: str = "wss://ws-live-v2.polymarket.com/ws"  # PolyBolt: the Chainlink 60 s TWAP
    binance_ws_url: str = "wss://stream.binance.com:9443/ws"  # the hourly windows' candle
    price_silence_s: float = 10.0  # no price this long: no fair value, the socket reconnected
    fair_vol_per_s: float = 0.0001  # volatility per sqrt(second) until enough prices are seen
    auto_redeem: bool = False  # LIVE: redeem won positions on chain after each resolution
    rpc_url: str = ""  # a Polygon JSON-RPC URL: an EOA wallet (signature_type 0) redeems through it
    redeem_interval_s: float = 15.0  # how often pending redemptions are looked at
    relayer_url: str = "https://relayer-v2.polymarket.com"  # proxy and Safe wallets redeem through it


_SERIES_NAME = re.compile(r"^[a-z0-9]+-(updown|up-or-down)-[0-9a-z]+$")
_MARKET_REF = re.compile(r"^(0x[0-9a-fA-F]{64}|[0-9]+|[a-z0-9][a-z0-9-]*|https?://\S*polymarket\.com/\S+)$")


def feed_problem(pm: PolymarketConfig) -> str | None:
    """polymarket.market_feed names a feed the bot has, or this says which it has."""
    if pm.market_feed in MARKET_FEEDS:
        return None
    choices = " or ".join(f'"{f}"' for f in MARKET_FEEDS)
    return f"polymarket.market_feed: {pm.market_feed!r} is not {choices}"


def discovery_problem(pm: PolymarketConfig) -> str | None:
    """The first series name, market reference or Gamma address of the wrong shape, or None."""
    for i, name in enumerate(pm.series):
        if not _SERIES_NAME.match(name.strip().lower()):
            return (
                f"polymarket.series[{i}]: {name!r} is not a series name: expected"
                " <coin>-updown-<timeframe>, e.g. btc-updown-5m"
            )
    for i, ref in enumerate(pm.markets):
        text = ref.strip()
        if not _MARKET_REF.match(text) or (text.startswith("0x") and len(text) != 66):
            return (
                f"polymarket.markets[{i}]: {ref!r} is not a token id, a 0x condition id"
                " (64 hex digits) or a market slug"
            )
    if not pm.gamma_host.startswith(("http://", "https://")):
        return f"polymarket.gamma_host: {pm.gamma_host!r} is not an http(s) URL"
    return None
