"""One error tree, classified by what the bot must do about it.

    BotError
    ├── ConfigError (bot.config)   the settings cannot be used: exit 2 before trading
    ├── StartupRefused             another instance runs, EMERGENCY_STOP is present: exit 3
    ├── StorageError               the disk refused a write (full, read-only, permission):
    │                              HALTED until a retry succeeds; at start-up, exit 3
    └── VenueError                 raised by venue adapters, never a vendor exception
        ├── OrderRefused           skip this order (bad price, size, balance, closed market)
        ├── VenueUnavailable       retry later with backoff (timeout, 5xx, 429); counts
        │   │                      towards the circuit breaker's venue-error window
        │   └── VenueBusy          the venue asked us to wait (425 engine restart, a
        │                          Retry-After still running): back off, not a fault
        └── VenueFatal             halt trading and tell the operator (401, unknown state,
                                   the same refusal again and again: no balance/allowance)

`reaction()` is the single place that maps an error to what the engine does.
"""

from __future__ import annotations

import enum


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class StartupRefused(BotError):
    """The bot must not start; the message says why and how to fix it."""


class StorageError(BotError):
    """A write to the home failed for lack of space or permission; the message says which."""


class VenueError(BotError):
    pass


class OrderRefused(VenueError):
    pass


class VenueUnavailable(VenueError):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class VenueBusy(VenueUnavailable):
    """The venue is there and asked us to wait; the weekly matching-engine restart answers 425
    for minutes. The bot backs off and resumes by itself: never a reason to halt."""


class VenueFatal(VenueError):
    pass


class Reaction(enum.StrEnum):
    SKIP = "SKIP"
    RETRY = "RETRY"
    HALT = "HALT"


def reaction(error: BaseException) -> Reaction:
    if isinstance(error, OrderRefused):
        return Reaction.SKIP
    if isinstance(error, VenueUnavailable):
        return Reaction.RETRY
    return Reaction.HALT


EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_REFUSED = 3
