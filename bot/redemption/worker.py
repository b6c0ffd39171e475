"""Redemption inside a running LIVE bot: the job on a thread of its own.

The engine's thread hands it the markets awaiting redemption at each heartbeat (`submit`) and
journals what came back (`drain`); the thread sends and polls transactions, which can take
seconds, so trading never waits on the chain. `candidates` reads the portfolio for that list.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable

from bot.exits import Lifecycle
from bot.model import ONE, Position, notional
from bot.redemption.job import Candidate, Redeemer, Redemption

log = logging.getLogger("bot")


def candidates(positions: Iterable[Position], neg_risk_of: Callable[[str], bool]) -> list[Candidate]:
    """One candidate per market with won positions awaiting redemption (LIVE: market id = condition id)."""
    payout: dict[str, int] = {}
    for p in positions:
        if p.state == Lifecycle.AWAITING_REDEMPTION:
            payout[p.market_id] = payout.get(p.market_id, 0) + notional(ONE, p.shares)
    return [Candidate(m, neg_risk_of(m), amount) for m, amount in sorted(payout.items())]


class RedemptionWorker:
    def __init__(self, redeemer: Redeemer, clock_ms: Callable[[], int], interval_s: float = 15.0) -> None:
        self.redeemer = redeemer
        self.clock_ms = clock_ms
        self.interval_s = interval_s
        self._todo: queue.Queue[list[Candidate]] = queue.Queue()
        self._done: queue.Queue[Redemption] = queue.Queue()
        self._stop = threading.Event()
        self._latest: list[Candidate] = []
        self._thread = threading.Thread(target=self._run, name="redemption", daemon=True)

    def start(self) -> RedemptionWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._todo.put([])
        self._thread.join(timeout=10)

    def submit(self, waiting: list[Candidate]) -> None:
        """The markets awaiting redemption now (engine thread); the worker looks at once."""
        self._todo.put(waiting)

    def drain(self) -> list[Redemption]:
        """The rows that changed since the last call, in order (engine thread)."""
        out = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Empty):  # else: look at pending transactions again
                self._latest = self._todo.get(timeout=self.interval_s)
            if self._stop.is_set():
                return
            try:
                for row in self.redeemer.step(self._latest, self.clock_ms()):
                    self._done.put(row)
            except Exception:  # a bug here must not stop trading: logged, tried again
                log.exception("redemption step failed")
