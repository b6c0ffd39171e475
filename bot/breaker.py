"""The circuit breaker: runtime invariants and venue-error bursts put the bot in HALTED.

HALTED stops entries and cancels resting entries; exits and settlements go on. It is
persisted in the journal (`runtime_controls.halted`), so it survives a restart, and only an
operator clears it: a one-shot `controls/RESET` file or `bot reset`.

`check(...)` runs after every step that changed something and at every heartbeat, on what
it checks (the order manager, the portfolio, the venue, the journal); `check_state_files`
on the state-file writer. Each returns the first failed invariant as "name: detail", or "".
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from bot.model import Intent, Micros, usd
from bot.venues.base import holds_positions

if TYPE_CHECKING:
    from bot.journal import Journal
    from bot.orders import OrderManager
    from bot.portfolio import Portfolio
    from bot.statefiles import FileWriter
    from bot.venues.base import Venue


class VenueErrorWindow:
    """Trips when `limit` venue errors happen within `window_s` seconds (wall clock)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def record(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._times.append(now)
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        return len(self._times) >= self.limit

    def clear(self) -> None:
        self._times.clear()


def check(
    orders: OrderManager,
    portfolio: Portfolio,
    venue: Venue,
    now: int,
    max_exposure: Micros,
) -> str:
    """The invariants of the books against the venue and the caps (after every step that
    changed something). `now`: the market time of the last event."""
    markets = orders.markets
    for order in orders.orders.values():
        if not order.order_id:
            return f"order_ids: an open order has no id ({order.market_id})"
        if order.filled > order.size:
            return f"order_fills: {order.order_id} filled {order.filled} of {order.size}"
        if order.intent is Intent.ENTRY:
            market = markets.get(order.market_id)
            if market is None:
                return f"order_window: entry {order.order_id} is for a closed or unknown market"
            if not market.window_start_ms <= now < market.window_end_ms + 1:
                return f"order_window: entry {order.order_id} is outside its market window"
    if holds_positions(venue):
        ours_h = {k: p.shares for k, p in portfolio.positions.items() if p.shares}
        theirs_h = {k: v for k, v in venue.holdings.items() if v}
        if ours_h != theirs_h:
            return "venue_positions: positions differ from the venue's holdings"
    if portfolio.cash < 0:
        return f"balance: cash is negative ({usd(portfolio.cash)})"
    exposure = portfolio.deployed() + sum(o.locked for o in orders.orders.values())
    if exposure > max_exposure:
        return f"exposure: {usd(exposure)} deployed and locked, above the cap {usd(max_exposure)}"
    return ""


def check_state_files(files: FileWriter, heartbeat_s: float) -> str:
    """status.json handed to the writer within three heartbeats, and the disk not stuck."""
    age = time.monotonic() - files.status_written
    if files.status_written and age > 3 * heartbeat_s + 5:
        return f"heartbeat: status.json last written {age:.0f} s ago"
    stuck = files.busy_for()
    if stuck > 3 * heartbeat_s + 5:
        return f"state_files: the disk has not finished a state-file write for {stuck:.0f} s"
    return ""


def check_journal(journal: Journal, portfolio: Portfolio) -> str:
    """The journal's ledger, open positions and realised P&L equal the books' (at heartbeats:
    these read the journal)."""
    mode = portfolio.mode
    ledger = journal.cash_balance(mode)
    if ledger != portfolio.cash:
        return f"journal_cash: ledger {usd(ledger)} but the books say {usd(portfolio.cash)}"
    row = journal.conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(shares_micros), 0) FROM positions WHERE mode=? AND status='OPEN'",
        (mode.value,),
    ).fetchone()
    shares = sum(p.shares for p in portfolio.positions.values())
    if row[0] != len(portfolio.positions) or row[1] != shares:
        return f"journal_positions: journal has {row[0]} open, the books {len(portfolio.positions)}"
    realized = journal.conn.execute(
        "SELECT COALESCE(SUM(realized_pnl_micros), 0) FROM positions WHERE mode=?", (mode.value,)
    ).fetchone()[0]
    books = sum(p.realized for p in portfolio.positions.values()) + portfolio.realized_closed
    if realized != books:
        return f"journal_pnl: journal realized {usd(realized)}, the books {usd(books)}"
    return ""
