"""The running bot's watch over its home: refused writes and the one-bot-per-home lock.

A write refused for lack of space or permission (the journal's commit, a log append, a
state file, the tape; see bot/storage.py) puts the bot in HALTED with the reason: no entries
and no new orders; exits and cancels go on, their rows waiting in the journal's open
transaction. The first refusal gives up the disk reserve so that the halt itself can be
committed and shown. From then on the writes are retried every `retry_s`; once the journal
commits, the logs append and the reserve can be written again with room to spare, the halt
lifts by itself (the activity feed shows both: `ERROR` "HALTED: disk: ..." and then
`DISK_RECOVERED`). The tape of the session stops at its first refused write.

At every heartbeat `heartbeat()` also asks the home lock whether `state/` and the journal
are still the ones the bot opened (bot/startup.py); if not, the bot halts (a latched HALTED:
only RESET clears it).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bot import storage

if TYPE_CHECKING:
    from bot.activity import Activity
    from bot.clock import MarketTime
    from bot.journal import Journal
    from bot.startup import HomeLock
    from bot.statefiles import FileWriter
    from bot.supervisor import Supervisor

log = logging.getLogger("bot")


class HomeGuard:
    """Told of refused writes (the engine's commit, the state-file writer, the tape); halts
    and lifts the halt through the supervisor. `reserve`, `lock` and `logs` are the running
    bot's (None in backtests and tests, which have no disk reserve and no home lock)."""

    def __init__(
        self,
        *,
        supervisor: Supervisor,
        activity: Activity,
        journal: Journal,
        files: FileWriter,
        market_time: MarketTime,
        reserve: storage.Reserve | None = None,
        lock: HomeLock | None = None,
        logs: Path | None = None,
        retry_s: float = 1.0,
    ) -> None:
        self.supervisor = supervisor
        self.activity = activity
        self.journal = journal
        self.files = files
        self.market_time = market_time
        self.reserve, self.lock, self.logs = reserve, lock, logs
        self.retry_s = retry_s
        self.fault = ""  # why writes are refused; "" while they succeed
        self._retry_at = 0.0
        self._file_failures = 0  # the state-file writer's failures at the last retry

    def may_write(self) -> bool:
        """False while a refused write waits for its next retry."""
        return not self.fault or time.monotonic() >= self._retry_at

    def failed(self, what: str) -> bool:
        """A write was refused. Returns True the first time: the reserve is then given up and
        the caller may try once more at once, so that the halt is written."""
        first = not self.fault
        self.fault = what
        if not first:
            self._retry_at = time.monotonic() + self.retry_s
            return False
        self._retry_at = 0.0  # the next commit goes at once, into the room the reserve leaves
        log.error("a write was refused: %s", what)
        if self.reserve is not None:
            self.reserve.release()
        self.supervisor.disk_fault(self.market_time.event_ms, what)
        return True

    def tape_failed(self, exc: BaseException) -> None:
        what = storage.describe(exc) or f"{type(exc).__name__}: {exc}"
        self.activity.add(
            self.market_time.event_ms,
            "ERROR",
            "System",
            f"tape recording stopped for this session: {what}",
        )
        self.failed(what)

    def heartbeat(self) -> None:
        """Retry the reserve while writes are refused; check the home lock."""
        if self.lock is not None:
            problem = self.lock.check()  # also writes a missing pid file again
            if problem:  # halt() does nothing when already halted
                self.supervisor.halt(self.market_time.event_ms, f"home: {problem}")
        if not self.fault or time.monotonic() < self._retry_at:
            return
        try:
            if self.reserve is not None:
                self.reserve.restore()
            if self.logs is not None:
                storage.probe(self.logs)
        except OSError as exc:
            self.fault = storage.describe(exc) or str(exc)
            self._retry_at = time.monotonic() + self.retry_s
            return
        if self.journal.failing or self.activity.backlog:
            return  # the commit retries these; the halt lifts once they are through
        if self.files.failures != self._file_failures:  # a state file was refused since the last try
            self._file_failures = self.files.failures
            self._retry_at = time.monotonic() + self.retry_s
            return
        was, self.fault = self.fault, ""
        self.supervisor.disk_ok(self.market_time.event_ms, was)
