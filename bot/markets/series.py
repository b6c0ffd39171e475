"""Recurring crypto up/down series: which ones the bot knows, and the slugs of their windows.

A series is named by its event-slug prefix, ``<coin>-updown-<timeframe>`` (``btc-updown-5m``,
``eth-updown-15m``); Gamma's own series slug (``btc-up-or-down-5m``) is accepted too. Each
window is one Gamma event whose slug ends in the window's start as Unix seconds, on a UTC grid
of the window length: ``btc-updown-5m-1780264500`` opens at 1780264500 and ends 300 s later
(docs/polymarket-discovery.md, ../shared/polymarket-realtime.md §1.1).

Only the families that settle on Chainlink's 60-second TWAP are known: 5 minutes, 15 minutes
and 4 hours. The hourly and daily "Up or Down" markets settle on a Binance candle and have
date slugs: they are refused by name here, and skipped by rule if reached another way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import BotError

COINS = ("btc", "eth", "sol", "xrp", "doge", "bnb", "hype")
TIMEFRAMES = {"5m": 300, "15m": 900, "4h": 14_400}
TWAP_LOOKBACK_S = 60  # the rule since 2026-08-14 for every known timeframe
_NAME = re.compile(r"^([a-z]+)-(?:updown|up-or-down)-([0-9a-z]+)$")
_DATE_FAMILIES = ("1h", "hourly", "daily", "1d")


class DiscoveryError(BotError, ValueError):
    """Bad discovery input (an unknown series, a malformed market reference): exit 2."""


@dataclass(frozen=True, slots=True)
class Series:
    """One recurring family: a coin and a window length."""

    coin: str  # btc
    timeframe: str  # 5m
    length_s: int  # 300

    @property
    def name(self) -> str:
        return f"{self.coin}-updown-{self.timeframe}"

    @property
    def instrument(self) -> str:
        return self.coin.upper()

    def slug(self, start_s: int) -> str:
        return f"{self.name}-{start_s}"

    def start_of(self, slug: str) -> int | None:
        """The window start a slug of this series names, None when it is not one of ours."""
        prefix = self.name + "-"
        rest = slug[len(prefix) :] if slug.startswith(prefix) else ""
        return int(rest) if rest.isdigit() else None

    def window_starts(self, now_ms: int, horizon_ms: int, back: int = 0) -> list[int]:
        """Starts (Unix seconds) of the window open at `now_ms`, `back` windows before it and
        every window that starts before `now_ms + horizon_ms`."""
        now_s = now_ms // 1000
        current = now_s - now_s % self.length_s
        first = current - back * self.length_s
        last = (now_ms + max(horizon_ms, 0)) // 1000
        return list(range(first, max(last, current) + 1, self.length_s))


def parse_series(name: str) -> Series:
    """``btc-updown-5m`` (or ``btc-up-or-down-5m``) → `Series`; DiscoveryError naming what is wrong."""
    text = name.strip().lower()
    match = _NAME.match(text)
    if not match:
        raise DiscoveryError(
            f"unknown series {name!r}: expected <coin>-updown-<timeframe>, e.g. btc-updown-5m ({known()})"
        )
    coin, timeframe = match.groups()
    if timeframe in _DATE_FAMILIES:
        raise DiscoveryError(
            f"series {name!r} is not supported: hourly and daily up/down markets settle on a Binance"
            " candle and have date slugs; pick them one by one with --market SLUG"
        )
    if coin not in COINS:
        raise DiscoveryError(f"unknown series {name!r}: unknown coin {coin!r} ({known()})")
    if timeframe not in TIMEFRAMES:
        raise DiscoveryError(f"unknown series {name!r}: unknown timeframe {timeframe!r} ({known()})")
    return Series(coin, timeframe, TIMEFRAMES[timeframe])


def parse_series_list(names: list[str] | tuple[str, ...]) -> list[Series]:
    seen: dict[str, Series] = {}
    for name in names:
        series = parse_series(name)
        seen.setdefault(series.name, series)
    return list(seen.values())


def series_of_slug(slug: str) -> tuple[Series, int] | None:
    """(series, start) for an event slug of a known series, else None."""
    head, _, tail = slug.strip().lower().rpartition("-")
    if not tail.isdigit():
        return None
    try:
        series = parse_series(head)
    except DiscoveryError:
        return None
    return series, int(tail)


def known() -> str:
    return f"coins {', '.join(COINS)}; timeframes {', '.join(TIMEFRAMES)}"
