"""Market data in and out: the simulated market (simulated.py), the bot's own tape (tape.py),
backtest input formats (formats/) and replay/recording (replay.py).

Every feed offers the engine the same two calls (`Feed`). What only the live feeds report
for status.json, the order gate or the journal is a small protocol each (`ReportsBookAge`,
`ReportsDropped`, `ReportsStrikeSource`, `ReportsMarketHealth`, `ReportsConnections`,
`ReportsDiscovery`), asked with `reports_book_age(feed)` and the like. Those look the
method up by name rather than with `isinstance`: the feed the engine holds is a stack of
wrappers (the recording, the fair value, the rolling windows, the background reader) that
hand unknown names to the feed inside through ``__getattr__``, and since Python 3.12
`isinstance` against a protocol no longer sees such names."""

from __future__ import annotations

from typing import Any, Protocol, TypeGuard

from bot.model import MarketEvent


class Feed(Protocol):
    def peek_ms(self) -> int | None:
        """Market time of the next batch, or None when the data has ended."""
        ...

    def next_batch(self) -> list[MarketEvent]:
        """The events of the next market time, in order."""
        ...


class ReportsBookAge(Protocol):
    """A live feed: when it last read each market's book."""

    def last_update_ms(self, market_id: str) -> int | None: ...


class ReportsDropped(Protocol):
    """The rolling feed: why and when it stopped following a market (None: it has not)."""

    def dropped(self, market_id: str) -> str | None: ...


class ReportsStrikeSource(Protocol):
    """The fair-value feed: where a market's strike in force came from (`feed`, `gamma`)."""

    def strike_source(self, market_id: str) -> str | None: ...


class RestoresStrikes(Protocol):
    """The fair-value feed: the strikes in force when the bot stopped, with their sources
    (`Restored.strike_sources`), taken back at a restart."""

    def restore_strikes(self, strikes: dict[str, tuple[float, str | None]]) -> None: ...


class ReportsMarketHealth(Protocol):
    """The websocket feed: per market, where its book comes from, gaps, re-syncs..."""

    def market_health(self, market_id: str) -> dict[str, Any]: ...


class ReportsConnections(Protocol):
    """The websocket feed: one row per connection (bot/feeds/ws_session.py's health)."""

    def connection_health(self) -> list[dict[str, Any]]: ...


class ReportsDiscovery(Protocol):
    """`[polymarket] series`: the roller's view (bot/markets/roller.py)."""

    def discovery_status(self) -> dict[str, Any]: ...


def _offers(feed: object, method: str) -> bool:
    return callable(getattr(feed, method, None))


def reports_book_age(feed: object) -> TypeGuard[ReportsBookAge]:
    return _offers(feed, "last_update_ms")


def reports_dropped(feed: object) -> TypeGuard[ReportsDropped]:
    return _offers(feed, "dropped")


def reports_strike_source(feed: object) -> TypeGuard[ReportsStrikeSource]:
    return _offers(feed, "strike_source")


def restores_strikes(feed: object) -> TypeGuard[RestoresStrikes]:
    return _offers(feed, "restore_strikes")


def reports_market_health(feed: object) -> TypeGuard[ReportsMarketHealth]:
    return _offers(feed, "market_health")


def reports_connections(feed: object) -> TypeGuard[ReportsConnections]:
    return _offers(feed, "connection_health")


def reports_discovery(feed: object) -> TypeGuard[ReportsDiscovery]:
    return _offers(feed, "discovery_status")
