"""The venue port: what the order manager needs from an exchange, paper or real.

Every venue reports what happened as `VenueEvent`s (fills, orders that left the book,
settlements); the engine books them the same way whatever the venue. Venues raise only
`bot.errors.VenueError` subclasses.

Features only some venues have are small runtime-checkable protocols below the port:
`TracksOrderStatus` (LIVE: what became of an UNKNOWN order), `ReportsFailedFills` (LIVE: a
booked fill whose trade FAILED on chain), `HoldsPositions` (paper: the shares it counts for
us), `SimulatesFills` (paper, dry run: its books are the journal's, restored at start-up).
Callers on the engine's step ask `tracks_order_status(venue)` and the like: the same answer
as `isinstance`, remembered per venue class (an `isinstance` against a protocol costs about 6.5 us on Python
3.11, and the invariants run after every step); once-only callers use `isinstance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeGuard, runtime_checkable

from bot.model import (
    Market,
    MarketEvent,
    Micros,
    Mode,
    Order,
    OrderRequest,
    OrderStatus,
    Outcome,
    VenueEvent,
)


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


@runtime_checkable
class TracksOrderStatus(Protocol):
    """A venue that knows what became of an order it could not confirm (LIVE)."""

    def order_status(self, order_id: str) -> OrderStatus | None:
        """UNKNOWN until the venue's order is found, OPEN while it may rest, then how it left
        the book; None for an order the venue does not track."""
        ...


@dataclass(frozen=True, slots=True)
class FailedFill:
    """A fill the venue reported whose trade later FAILED on chain: the books may be wrong."""

    trade_id: str
    fill_id: str


@runtime_checkable
class ReportsFailedFills(Protocol):
    """A venue whose fills can still fail after they were reported (LIVE: on chain)."""

    def take_failed_fill(self) -> FailedFill | None:
        """The oldest booked fill that FAILED since the last call, or None."""
        ...


@runtime_checkable
class HoldsPositions(Protocol):
    """A venue that counts the shares it holds for us (paper): the breaker compares them with
    the books."""

    holdings: dict[tuple[str, Outcome], Micros]


@runtime_checkable
class SimulatesFills(Protocol):
    """A venue that matches our orders itself (paper, dry run): its books are the journal's,
    restored at start-up, and its order ids carry the session."""

    def resume_books(
        self,
        session_id: int,
        cash: Micros,
        orders: list[Order],
        holdings: dict[tuple[str, Outcome], Micros],
        markets: list[Market],
    ) -> None:
        """Continue the journal's books; new order ids carry the session."""
        ...

    def deposit(self, amount: Micros) -> None:
        """The starting balance of a new home."""
        ...


_OFFERED: dict[tuple[type, type], bool] = {}


def _offers(venue: object, feature: type) -> bool:
    """`isinstance(venue, feature)`, remembered per venue class (a venue's features are its
    class's: every instance has the same methods and attributes)."""
    key = (type(venue), feature)
    found = _OFFERED.get(key)
    if found is None:
        found = _OFFERED[key] = isinstance(venue, feature)
    return found


def tracks_order_status(venue: object) -> TypeGuard[TracksOrderStatus]:
    return _offers(venue, TracksOrderStatus)


def reports_failed_fills(venue: object) -> TypeGuard[ReportsFailedFills]:
    return _offers(venue, ReportsFailedFills)


def holds_positions(venue: object) -> TypeGuard[HoldsPositions]:
    return _offers(venue, HoldsPositions)
