"""When the live venue may be called again, and when its refusals stop being worth retrying.

`RetryGate`: once the venue has said "wait" (a ``Retry-After`` header on any answer, or 425
during the weekly matching-engine restart), no request of any kind (reads as well as
writes) is sent until the wait is over; calls in between fail at once with `VenueBusy`,
which backs off without counting as a venue fault. A 425 without ``Retry-After`` waits 1 s,
then 2, 4, ... up to 30 s while it lasts; the first answer that is not a 425 ends that.

A 429 (rate limit) is the venue asking us to slow down: it holds every request the same
way, for ``Retry-After`` or, without one, 1, 2, 4 ... 30 s, and is no fault (`VenueBusy`, not
counted by the breaker), unless 429s keep coming for longer than `PERSISTENT_LIMIT_S`: from
then on each one is a `VenueUnavailable`, which counts towards `venue_error_limit`, so a
rate limit that does not go away halts the bot instead of throttling it forever.

`while_busy` waits the same way before trading starts (validating markets, the start-up
reconciliation's reads, the balance read), so a bot started during the restart, or whose
start-up reads meet its first second, waits for it instead of refusing to start.

`RefusalStreak`: the same kind of refusal again and again (no balance or allowance) will not
go away by retrying; after `limit` in a row it becomes `VenueFatal`, which halts the bot with
that reason. Any accepted order ends the streak.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from bot.errors import OrderRefused, VenueBusy, VenueError, VenueFatal

T = TypeVar("T")
log = logging.getLogger(__name__)

ENGINE_RESTART = 425
RATE_LIMITED = 429
PERSISTENT_LIMIT_S = 60.0  # 429s that keep coming for longer than this count as venue errors
MAX_WAIT_S = 30.0
BUSY_LIMIT_S = 900.0  # a start waits this long at most for the venue to stop answering 425
# a refusal's kind: (name, words of the venue's message that mark it)
REFUSAL_KINDS = (("no balance or allowance", ("balance", "allowance")),)


def while_busy(
    call: Callable[[], T],
    limit_s: float = BUSY_LIMIT_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, waited out while the venue is busy (a start during the engine restart):
    `VenueBusy` for longer than `limit_s` is raised."""
    deadline = clock() + limit_s
    while True:
        try:
            return call()
        except VenueBusy as exc:
            if clock() >= deadline:
                raise
            log.warning("venue busy, waiting: %s", exc)
            sleep(min(max(exc.retry_after_s or 1.0, 0.1), MAX_WAIT_S))


class RetryGate:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0
        self._why = ""
        self._restart_wait_s = 0.0
        self._limit_wait_s = 0.0
        self._limited_since = 0.0  # first 429 of the current run of them (0: none)
        self._last_limit = 0.0

    def rate_limited_s(self) -> float:
        """How long the current run of 429 answers has lasted (0: not rate limited). A run
        ends after `PERSISTENT_LIMIT_S` without a 429, whatever else answered meanwhile."""
        return self._last_limit - self._limited_since if self._limited_since else 0.0

    def check(self, where: str) -> None:
        """Raise `VenueBusy` when the venue asked to wait and the wait is not over."""
        left = self._until - self._clock()
        if left > 0:
            raise VenueBusy(f"{where}: not sent, the venue asked to wait {left:.1f} s ({self._why})", left)

    def answered(self, status: int, retry_after_s: float | None) -> float | None:
        """Note an answer; return how long to wait before the next request (None: no wait)."""
        wait = retry_after_s
        if status == ENGINE_RESTART:
            self._restart_wait_s = min(MAX_WAIT_S, max(1.0, self._restart_wait_s * 2))
            wait = max(wait or 0.0, self._restart_wait_s)
            why = "HTTP 425: matching-engine restart"
        elif status == RATE_LIMITED:
            now = self._clock()
            if not self._limited_since or now - self._last_limit > PERSISTENT_LIMIT_S:
                self._limited_since = now
            self._last_limit = now
            self._limit_wait_s = min(MAX_WAIT_S, max(1.0, self._limit_wait_s * 2))
            wait = max(wait or 0.0, self._limit_wait_s)
            why = "HTTP 429: rate limited"
        else:
            why = f"HTTP {status} with Retry-After"
        if wait:
            wait = min(wait, 10 * MAX_WAIT_S)
            self._until, self._why = max(self._until, self._clock() + wait), why
        return wait

    def ok(self) -> None:
        """A successful answer: the restart (if any) is over; the next 429 waits 1 s again
        (a run of 429s is only ended by a quiet `PERSISTENT_LIMIT_S`)."""
        self._restart_wait_s = 0.0
        self._limit_wait_s = 0.0


class RefusalStreak:
    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self._kind = ""
        self._count = 0

    def refused(self, exc: OrderRefused) -> VenueError:
        """The error to raise for this refusal: itself, or `VenueFatal` when it is the
        `limit`-th of the same kind in a row."""
        text = str(exc).lower()
        kind = next((name for name, words in REFUSAL_KINDS if any(w in text for w in words)), "")
        if not kind:
            self.accepted()  # another refusal: the streak is broken
            return exc
        self._count = self._count + 1 if kind == self._kind else 1
        self._kind = kind
        if self._count < self.limit:
            return exc
        return VenueFatal(
            f"the venue refused {self._count} orders in a row for {kind} (last: {exc}):"
            " fund the wallet or set the allowance, then RESET"
        )

    def accepted(self) -> None:
        self._kind, self._count = "", 0
