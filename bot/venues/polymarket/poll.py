"""The venue's order and trade poll, read on a thread of its own (LIVE).

Reading what the venue has for us (``GET /data/orders``, ``/data/trades`` and the orders
that left the book) can take seconds on a slow venue; booking it must stay on the engine's
thread, the single owner of the books. So the poll is split in three
(bot/venues/polymarket/venue.py):

    poll_request()   engine thread: a snapshot of what to look up (the trade window, the
                     orders tracked, the UNKNOWN orders' hashes)
    read_poll(req)   this module's thread: HTTP only, touches no tracking
    book_poll(read)  engine thread: reconciliation, fills, departures -> venue events

`BackgroundPoll` keeps at most one read in flight. `poll(now_ms)` (engine thread, called by
`OrderManager.poll`) books a finished read and asks for the next one at once, which the
thread starts `interval_s` after the previous read started. It returns None while nothing
new has been read, and re-raises a read's `VenueError`, so failures, backoff and the breaker
work as before (after an error the next read is asked for when the backoff is over). Each
finished read wakes the engine's inbox (`wake`), so the engine waits for nothing but its
inbox: controls and heartbeats go on while a read takes seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.errors import VenueError, VenueUnavailable
from bot.model import VenueEvent
from bot.venues.polymarket import wire

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollRequest:
    after_s: float  # trades matched after this (the trade window)
    tracked: tuple[str, ...]  # venue ids of our orders that may still rest
    known: frozenset[str]  # every venue id tracked
    hashes: tuple[str, ...]  # signed-order hashes of the UNKNOWN orders
    covered: frozenset[str]  # the UNKNOWN orders (caller's ids) this read looks for


@dataclass(frozen=True)
class PollRead:
    start_s: float
    open_rows: dict[str, wire.VenueOrder]
    trades: list[wire.TradeFill]
    complete: bool  # every page of trades read
    lookups: dict[str, wire.VenueOrder | None]  # orders looked up one by one; None: unknown
    covered: frozenset[str]


class SplitPoll(Protocol):
    """A venue whose poll is split in three (`PolymarketVenue`)."""

    def poll_request(self) -> PollRequest: ...

    def read_poll(self, request: PollRequest) -> PollRead: ...

    def book_poll(self, read: PollRead, now_ms: int) -> list[VenueEvent]: ...


class BackgroundPoll:
    def __init__(self, venue: SplitPoll, wake: Callable[[], None], interval_s: float = 1.0) -> None:
        self.venue = venue
        self.interval_s = interval_s
        self._wake = wake
        self._requests: queue.SimpleQueue[tuple[PollRequest, float] | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[PollRead | VenueError] = queue.SimpleQueue()
        self._in_flight = False  # engine thread only
        self._next_s = 0.0  # monotonic time before which the next read does not start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="venue-poll", daemon=True)
        self.reads = 0  # finished reads (the thread's count)

    def start(self) -> BackgroundPoll:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 1.0) -> None:
        """A read in flight is left to finish on its own (daemon); nothing books it."""
        self._stop.set()
        self._requests.put(None)
        self._thread.join(timeout_s)

    # -- the engine's side -------------------------------------------------------------

    def ready(self) -> bool:
        """A finished read waits to be booked."""
        return not self._results.empty()

    def poll(self, now_ms: int) -> list[VenueEvent] | None:
        try:
            result = self._results.get_nowait()
        except queue.Empty:
            self._ask()
            return None
        self._in_flight = False
        if isinstance(result, VenueError):
            raise result  # the caller backs off; the next call after it asks again
        events = self.venue.book_poll(result, now_ms)
        self._ask()
        return events

    def _ask(self) -> None:
        """The next read, with the snapshot taken now; it starts `interval_s` after the
        previous one started (at once if that has passed)."""
        if self._in_flight:
            return
        start = max(time.monotonic(), self._next_s)
        self._next_s = start + self.interval_s
        self._in_flight = True
        self._requests.put((self.venue.poll_request(), start))

    # -- the reading thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            asked = self._requests.get()
            if asked is None:
                return
            request, start = asked
            if self._stop.wait(max(0.0, start - time.monotonic())):
                return
            result: PollRead | VenueError
            try:
                result = self.venue.read_poll(request)
            except VenueError as exc:
                result = exc
            except Exception as exc:  # the thread must outlive any surprise; the engine hears of it
                log.exception("venue poll: the read failed")
                result = VenueUnavailable(f"venue poll: {type(exc).__name__}: {exc}")
            self.reads += 1
            self._results.put(result)
            self._wake()
