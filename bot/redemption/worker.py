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

from bot.activity import Activity
from bot.exits import Lifecycle
from bot.journal import Journal
from bot.model import ONE, Micros, Position, notional, usd
from bot.redemption.job import Candidate, Redeemer, Redemption, State, to_row
from bot.resolution import redemption_payout

log = logging.getLogger("bot")


def candidates(
    positions: Iterable[Position],
    neg_risk_of: Callable[[str], bool],
    payout_of: Callable[[Position], Micros | None] = lambda p: notional(ONE, p.shares),
) -> list[Candidate]:
    """One candidate per market with positions awaiting redemption (LIVE: market id = condition
    id): won ones at $1 a share, both sides of a 50/50 at 0.5 (`payout_of`; None: not yet)."""
    payout: dict[str, int] = {}
    for p in positions:
        pays = payout_of(p) if p.state == Lifecycle.AWAITING_REDEMPTION else None
        if pays is not None:
            payout[p.market_id] = payout.get(p.market_id, 0) + pays
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


class AutoRedeem:
    """`[polymarket] auto_redeem = true`: the engine thread's side of the worker. At each
    heartbeat it hands the worker the markets awaiting redemption and journals what came back,
    one REDEMPTION activity line per change."""

    def __init__(
        self,
        worker: RedemptionWorker,
        journal: Journal,
        neg_risk_of: Callable[[str], bool],
    ) -> None:
        self.worker = worker
        self.journal = journal
        self.neg_risk_of = neg_risk_of

    def on_heartbeat(self, positions: Iterable[Position], now_ms: int, activity: Activity) -> None:
        self.worker.submit(candidates(positions, self.neg_risk_of, self._payout))
        for row in self.worker.drain():
            self.journal.save_redemption(to_row(row))
            activity.add(now_ms, "REDEMPTION", row.condition_id, sentence(row), state=row.state.value)

    def _payout(self, position: Position) -> Micros | None:
        paid = redemption_payout(self.journal, position)
        return None if paid is None else paid[1]

    def by_market(self) -> dict[str, Redemption]:
        """The newest row per market (for the state files), read on the engine's thread."""
        return dict(self.worker.redeemer.rows)


def sentence(row: Redemption) -> str:
    payout = usd(row.payout_micros)
    if row.state is State.REDEEMABLE:
        waiting = f": {row.reason}, trying again" if row.reason else ""
        return f"{payout} to redeem on chain{waiting}"
    if row.state is State.REDEEMING:
        return f"redeeming {payout}: transaction {row.tx_id} sent ({row.sender}, attempt {row.attempts})"
    if row.state is State.REDEEMED:
        return f"redeemed {payout}" + (f" (transaction {row.tx_id})" if row.tx_id else f": {row.reason}")
    again = "will try again" if row.next_try_ms else "given up: redeem it by hand on polymarket.com"
    return f"redemption of {payout} FAILED ({row.reason}); {again}"
