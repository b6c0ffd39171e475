"""Cash, positions and exact P&L, booked from venue events into the journal.

Identity kept at every step (checked in tests):
    cash = Σ deposits − Σ buys + Σ sells − Σ fees + Σ settlement payouts
         = SUM(amount_micros) FROM cash WHERE mode = <mode>

A position's `cost` is what the shares held cost (fees apart); an exit removes cost and
entry fees pro rata and realises `proceeds − cost removed − fees removed − exit fee`.
A closed position's `realized` therefore equals `sold_value − bought_cost − total_fees`.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.exits import ExitPolicy, Lifecycle, set_levels
from bot.journal import Journal, position_from_row
from bot.model import (
    ONE,
    Action,
    BookTick,
    Fill,
    Micros,
    Mode,
    Order,
    Outcome,
    Position,
    Settlement,
    book_for,
    exit_reason_at_resolution,
    notional,
)


class Portfolio:
    def __init__(
        self, journal: Journal, mode: Mode, policy_for: Callable[[str], ExitPolicy] | None = None
    ) -> None:
        self.journal = journal
        self.mode = mode
        self.policy_for = policy_for or (lambda strategy: ExitPolicy())
        self.cash: Micros = 0
        self.positions: dict[tuple[str, Outcome], Position] = {}
        self.marks: dict[str, BookTick] = {}
        self.closed_today: list[tuple[int, Position]] = []  # (closed_ms, position) this trading day
        self.realized_closed: Micros = 0  # Σ realized P&L of every closed position of the mode
        self.on_closed: Callable[[Position], None] | None = None

    def settled(self, s: Settlement, position: Position | None) -> None:
        """After the order manager booked a settlement: a market where nothing is held any
        more needs its marks no more."""
        if not any(k[0] == s.market_id for k in self.positions):
            self.marks.pop(s.market_id, None)

    def restore(self, cash: Micros, positions: list[Position], day_start_ms: int) -> None:
        self.cash = cash
        self.positions = {(p.market_id, p.outcome): p for p in positions}
        rows = self.journal.closed_positions(self.mode, since_ms=day_start_ms)
        self.closed_today = [(r["closed_ms"], position_from_row(r)) for r in rows]
        self.realized_closed = self.journal.realized_closed(self.mode)

    def roll_day(self, day_start_ms: int) -> None:
        self.closed_today = [(ts, p) for ts, p in self.closed_today if ts >= day_start_ms]

    # -- booking --------------------------------------------------------------------

    def deposit(self, amount: Micros, ts_ms: int, ref: str) -> None:
        self.cash += amount
        self.journal.add_cash(ts_ms, self.mode, "DEPOSIT", amount, ref)

    def on_fill(self, fill: Fill, order: Order) -> tuple[Position, bool]:
        """Book a fill; return the position and whether this fill closed it."""
        key = (fill.market_id, fill.outcome)
        amount = notional(fill.price, fill.shares)
        journal = self.journal
        if fill.action is Action.BUY:
            position = self.positions.get(key)
            if position is None:
                position = Position(
                    market_id=fill.market_id,
                    outcome=fill.outcome,
                    opened_ms=fill.ts_ms,
                    entry_edge=order.edge,
                    strategy=order.strategy,
                )
                self.positions[key] = position
            position.shares += fill.shares
            position.cost += amount
            position.fees += fill.fee
            position.bought += fill.shares
            position.bought_cost += amount
            if position.state in (Lifecycle.ENTRY, Lifecycle.MONITORING):
                position.state = Lifecycle.ENTRY if order.remaining else Lifecycle.MONITORING
            set_levels(position, self.policy_for(position.strategy))
            self.cash -= amount
            journal.add_cash(fill.ts_ms, self.mode, "BUY", -amount, fill.fill_id)
        else:
            position = self.positions[key]
            sold = min(fill.shares, position.shares)
            cost_out = position.cost * sold // position.shares
            fees_out = position.fees * sold // position.shares
            position.realized += amount - cost_out - fees_out - fill.fee
            position.shares -= sold
            position.cost -= cost_out
            position.fees -= fees_out
            position.sold += sold
            position.sold_value += amount
            self.cash += amount
            journal.add_cash(fill.ts_ms, self.mode, "SELL", amount, fill.fill_id)
        position.total_fees += fill.fee
        if fill.fee:
            self.cash -= fill.fee
            journal.add_cash(fill.ts_ms, self.mode, "FEE", -fill.fee, fill.fill_id)
        journal.add_fill(fill, self.mode)
        if position.shares == 0:
            position.exit_reason = position.exit_reason or order.reason or "SOLD"
            self._close(position, fill.ts_ms)
            return position, True
        journal.save_position(position, self.mode, "OPEN", None)
        return position, False

    def on_settlement(self, s: Settlement) -> Position | None:
        """Book a settlement payout; return the position it closed."""
        self.cash += s.payout
        self.journal.add_cash(s.ts_ms, self.mode, "SETTLEMENT", s.payout, s.market_id)
        position = self.positions.get((s.market_id, s.outcome))
        if position is None:
            return None
        position.realized += s.payout - position.cost - position.fees
        position.sold += position.shares
        position.sold_value += s.payout
        position.shares = position.cost = position.fees = 0
        position.exit_reason = exit_reason_at_resolution(s.winning, s.outcome)
        if not position.exit_trigger:  # held to resolution
            position.exit_trigger = Lifecycle.EXPIRY
            position.exit_threshold = "market resolved"
            position.trigger_price = position.intended_exit_price = s.payout * ONE // s.shares
        self._close(position, s.ts_ms)
        return position

    def _close(self, position: Position, ts_ms: int) -> None:
        del self.positions[(position.market_id, position.outcome)]
        position.state = Lifecycle.CLOSED
        self.realized_closed += position.realized
        self.journal.save_position(position, self.mode, "CLOSED", ts_ms)
        self.closed_today.append((ts_ms, position))
        if self.on_closed is not None:
            self.on_closed(position)

    # -- views ----------------------------------------------------------------------

    def mark(self, position: Position) -> Micros:
        """Price the position could be sold at now: the token's best bid."""
        tick = self.marks.get(position.market_id)
        if tick is None:
            return position.entry_price
        return book_for(tick, position.outcome)[0]

    def value(self, position: Position) -> Micros:
        return notional(self.mark(position), position.shares)

    def unrealized(self, position: Position) -> Micros:
        return self.value(position) - position.cost - position.fees

    def deployed(self) -> Micros:
        return sum(p.cost for p in self.positions.values())

    def realized_today(self) -> Micros:
        return sum(p.realized for _, p in self.closed_today)
