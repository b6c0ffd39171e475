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

The errors of the other modules join the tree where they are defined (a `ValueError` one
stays a `ValueError` too, for the callers that catch it): ConfigError, HomeError,
BacktestError, CompareError, DiscoveryError, AdjustError, DataError, QueryError, SteerError,
NotAHome, FileRefused (an `OSError` too) ... tests/unit/test_errors.py finds them all.

Two tables, each the one place for its question:
- `reaction(error)`: what the order manager and the supervisor do about a venue error
  (SKIP / WAIT / RETRY / HALT, `REACTIONS`);
- `exit_code(error)`: the exit code of a CLI command that reports the error in one line
  (`EXIT_CODES`; bot/cli_common.py `fail`).
Both look the error's classes up nearest first, so a subclass answers as its parent until
it is given a line of its own.
"""

from __future__ import annotations

import enum
import sqlite3
from typing import TypeVar

T = TypeVar("T")


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
    SKIP = "SKIP"  # skip this order; the next one is a new intent
    WAIT = "WAIT"  # the venue asked us to wait: back off, not a fault, not counted
    RETRY = "RETRY"  # back off, retry later; counts towards the circuit breaker's window
    HALT = "HALT"  # halt trading and tell the operator


# nearest class first (see `_lookup`); BotError answers for what has no line of its own
REACTIONS: dict[type[BaseException], Reaction] = {
    OrderRefused: Reaction.SKIP,
    VenueBusy: Reaction.WAIT,
    VenueUnavailable: Reaction.RETRY,
    VenueFatal: Reaction.HALT,
    VenueError: Reaction.RETRY,  # a venue error with no class of its own: counted, retried
    StorageError: Reaction.HALT,
    StartupRefused: Reaction.HALT,
    BotError: Reaction.HALT,
}


def reaction(error: BaseException) -> Reaction:
    """What the bot does about `error`; anything unforeseen halts."""
    return _lookup(error, REACTIONS, Reaction.HALT)


EXIT_OK = 0
EXIT_ERROR = 1  # the command ran and something failed (the venue did not answer, ...)
EXIT_CONFIG = 2  # the settings or the input cannot be used: fix them, a retry will not help
EXIT_REFUSED = 3  # the bot must not start (another instance, EMERGENCY_STOP, the disk)

EXIT_CODES: dict[type[BaseException], int] = {
    StartupRefused: EXIT_REFUSED,  # a StorageError at start-up arrives as one (bot/app.py)
    BotError: EXIT_CONFIG,  # also a VenueError that ends `bot run` (reconciliation)
    ValueError: EXIT_CONFIG,  # input that does not parse
    sqlite3.Error: EXIT_CONFIG,  # a journal that cannot be read (bot config)
    ImportError: EXIT_CONFIG,  # an optional extra is not installed
}


def exit_code(error: BaseException) -> int:
    """The exit code of a CLI command that failed with `error`."""
    return _lookup(error, EXIT_CODES, EXIT_ERROR)


def _lookup(error: BaseException, table: dict[type[BaseException], T], default: T) -> T:
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return default
