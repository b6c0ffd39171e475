"""The venue port: what the order manager needs from an exchange, paper or real.

Every venue reports what happened as `VenueEvent`s (fills, orders that left the book,
settlements); the engine books them the same way whatever the venue. Venues raise only
`bot.errors.VenueError` subclasses.
"""

from __future__ import annotations

from typing import Protocol

from bot.model import MarketEvent, Micros, Mode, Order, OrderRequest, VenueEvent


class Venue(Protocol):
    mode: Mode

    def place(self, request: OrderRequest, now_ms: int) -> tuple[Order, list[VenueEvent]]:
        """Submit an order; return it as acknowledged plus anything that filled at once."""
        ...

    def cancel(self, order_id: str, now_ms: int, reason: str) -> list[VenueEvent]: ...

    def cancel_all(self, now_ms: int, reason: str) -> list[VenueEvent]: ...

    def on_market(self, event: MarketEvent) -> list[VenueEvent]:
        """React to market data: the paper venue matches resting orders and settles here."""
        ...

    def poll(self, now_ms: int) -> list[VenueEvent]:
        """Fills and order changes the venue has for us (expiries, late fills)."""
        ...

    def balance(self) -> Micros:
        """Collateral the venue says we hold, resting orders included."""
        ...


class NewsSource(Protocol):
    """Where `OrderManager.poll` gets the venue's news instead of calling `venue.poll`: the
    venue read on a thread of its own (LIVE: bot/venues/polymarket/poll.py)."""

    def poll(self, now_ms: int) -> list[VenueEvent] | None:
        """The events of a finished read; None while nothing new has been read."""
        ...

    def ready(self) -> bool:
        """A finished read waits to be booked."""
        ...
