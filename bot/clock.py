"""The engine's clocks: market time, the time readers compare heartbeats with, and waiting.

`RealtimeClock` runs market time `speed` times faster than the wall clock (PAPER, DRY_RUN,
LIVE); `SimulatedClock` jumps to each event and never waits (BACKTEST). Both wait on the
engine's inbox, so a control file or a finished feed batch wakes the loop at once.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Mapping
from typing import Protocol

from bot.errors import StartupRefused
from bot.model import now_ms


class Clock(Protocol):
    def now_ms(self) -> int:
        """Market time."""
        ...

    def wall_ms(self) -> int:
        """The time a reader compares heartbeats with: the wall clock, or market time in backtests."""
        ...

    def wait(self, until_ms: int, inbox: queue.SimpleQueue[str], max_wall_s: float) -> str | None:
        """Block until market time `until_ms`, a word in the inbox, or `max_wall_s`."""
        ...


class RealtimeClock:
    """Market time runs `speed` times faster than the wall clock from `start_ms`."""

    def __init__(self, start_ms: int, speed: float = 1.0) -> None:
        self.start_ms = start_ms
        self.speed = speed
        self._mono = time.monotonic()

    def now_ms(self) -> int:
        return self.start_ms + int((time.monotonic() - self._mono) * 1000 * self.speed)

    def wall_ms(self) -> int:
        return now_ms()

    def wait(self, until_ms: int, inbox: queue.SimpleQueue[str], max_wall_s: float) -> str | None:
        timeout = min(max(0.0, (until_ms - self.now_ms()) / 1000 / self.speed), max_wall_s)
        try:
            if timeout <= 0:
                return inbox.get_nowait()
            return inbox.get(timeout=timeout)
        except queue.Empty:
            return None


MARKET_CLOCK_ENV = "TOUCHTRADER_MARKET_CLOCK"


def market_clock_from_env(environ: Mapping[str, str]) -> RealtimeClock | None:
    """Tests only: ``TOUCHTRADER_MARKET_CLOCK="<wall ms>:<market ms>:<speed>"`` runs DRY_RUN
    and LIVE market time as a local test server's clock does (market time was `market ms` at
    wall time `wall ms`, and runs `speed` times faster), so rolling windows pass in seconds.
    Unset (always, outside tests): None, the wall clock."""
    raw = environ.get(MARKET_CLOCK_ENV, "").strip()
    if not raw:
        return None
    try:
        wall, market, speed = raw.split(":")
        wall_ms, market_ms, rate = int(wall), int(market), float(speed)
    except ValueError:
        raise StartupRefused(
            f"{MARKET_CLOCK_ENV}: expected <wall ms>:<market ms>:<speed>, got {raw!r}"
        ) from None
    if not 0 < rate <= 10_000:
        raise StartupRefused(f"{MARKET_CLOCK_ENV}: speed {rate:g} is not in (0, 10000]")
    return RealtimeClock(market_ms + round((now_ms() - wall_ms) * rate), rate)


class SimulatedClock:
    """Backtests: market time jumps to each event; nothing waits."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def wall_ms(self) -> int:
        return self._now

    def advance(self, until_ms: int) -> None:
        """Market time jumps to `until_ms` (never back)."""
        if until_ms > self._now:
            self._now = until_ms

    def wait(self, until_ms: int, inbox: queue.SimpleQueue[str], max_wall_s: float) -> str | None:
        self.advance(until_ms)
        if inbox.empty():  # the usual case, without raising queue.Empty a million times
            return None
        try:
            return inbox.get_nowait()
        except queue.Empty:
            return None


class MarketTime:
    """The market time of the last event the engine handled (`event_ms`), and `now_ms()` for
    what happens between events (controls): never before that event, so the activity feed
    keeps its order. One holder: the engine moves it, the supervisor and the guard read it."""

    __slots__ = ("clock", "event_ms")

    def __init__(self, clock: Clock, event_ms: int) -> None:
        self.clock = clock
        self.event_ms = event_ms

    def now_ms(self) -> int:
        return max(self.clock.now_ms(), self.event_ms)


WAKE = "wake"  # scan controls/
STOP = "stop"
DATA = "data"  # a background feed has a batch ready: no controls to scan


class Inbox:
    """The engine's inbox: the one thing other threads (the control-file watcher, a
    background feed, signal handlers) touch. A word wakes the loop at once."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[str] = queue.SimpleQueue()

    def wake(self) -> None:
        self.queue.put(WAKE)

    def data_ready(self) -> None:
        self.queue.put(DATA)

    def request_stop(self) -> None:
        self.queue.put(STOP)
