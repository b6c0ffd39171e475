"""The risk envelope: pre-trade gates and session limits, for every strategy alike.

`RiskGate.check_entry` answers with the size to send or with the exact reason and the
setting that stopped the entry. The gates, in order:

    runtime     allowed_strategies, allowed_instruments (ADJUST_RISK), disabled strategies
    window      the market's window is open (not before its start, not after its end)
    tick        the price is on the market's tick, within [tick, 1 - tick]
    exiting     the position is not being exited
    size        max_position_usd (the runtime value) buys at least the market minimum
    per window  at most risk.max_orders_per_window entry orders per market window
    open orders risk.max_open_orders
    market      risk.max_market_exposure_usd (positions + resting orders in the market)
    total       risk.max_total_exposure_usd
    balance     the venue's reported balance, less cash locked in resting orders

`SessionLimits` blocks entries (exits go on) once the day's realised loss reaches the
daily limit or losses in a row reach `max_consecutive_losses`, until the next trading day
or an operator RESET.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import RiskConfig
from bot.model import ONE, Market, Micros, Position, Signal, iso, notional, taker_fee, to_micros, usd
from bot.runtime import CurrentLimits

DAY_MS = 86_400_000


@dataclass(slots=True)  # read-only by convention; not frozen, for speed (see model.BookTick)
class Decision:
    size: Micros = 0
    reason: str = ""  # empty when the entry may go ahead
    limit: str = ""  # the setting that stopped it
    # what makes a refusal new for the records (signals.jsonl, RISK_REJECTED), when not its
    # whole reason: a stale book's age changes on every tick, the refusal does not
    repeats_as: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


@dataclass(slots=True)  # read-only by convention; not frozen, for speed (see model.BookTick)
class Exposure:
    venue_balance: Micros  # what the venue reports
    locked: Micros  # held back by our resting BUY orders
    deployed: Micros  # cost of open positions
    open_orders: int
    market_exposure: Micros  # positions and resting orders in this market
    window_orders: int  # entry orders already placed in this market window
    exiting: bool  # the position this entry would add to is being exited
    position_cost: Micros = 0  # the token already held plus resting buys of it


def _usd_micros(value: float) -> Micros:
    return to_micros(round(value, 6))


class RiskGate:
    def __init__(self, cfg: RiskConfig, limits: CurrentLimits) -> None:
        self.limits = limits  # the holder: ADJUST_RISK replaces its value
        self.max_exposure = _usd_micros(cfg.max_total_exposure_usd)
        self.max_market_exposure = _usd_micros(cfg.max_market_exposure_usd)
        self.max_open_orders = cfg.max_open_orders
        self.max_orders_per_window = cfg.max_orders_per_window
        self.disabled: set[str] = set()

    def check_entry(self, signal: Signal, market: Market, now_ms: int, ex: Exposure) -> Decision:
        limits = self.limits.value
        if limits.allowed_strategies is not None and signal.strategy not in limits.allowed_strategies:
            return Decision(
                reason=f"strategy {signal.strategy} is not in allowed_strategies",
                limit="runtime.allowed_strategies",
            )
        if signal.strategy in self.disabled:
            return Decision(
                reason=f"strategy {signal.strategy} was disabled by its scorecard",
                limit="risk.disable_losing_strategies",
            )
        if limits.allowed_instruments is not None and market.instrument not in limits.allowed_instruments:
            return Decision(
                reason=f"instrument {market.instrument} is not in allowed_instruments",
                limit="runtime.allowed_instruments",
            )
        if now_ms < market.window_start_ms:
            return Decision(reason=f"window {market.market_id} has not opened yet", limit="window")
        if now_ms >= market.window_end_ms:
            return Decision(reason=f"window {market.market_id} has closed", limit="window")
        price = signal.price
        if not market.tick <= price <= ONE - market.tick or price % market.tick:
            return Decision(
                reason=f"price {price / ONE:g} is not a valid tick price for {market.market_id}",
                limit="tick",
            )
        if ex.exiting:
            return Decision(reason="the position is being exited", limit="exit")
        budget = limits.max_position - ex.position_cost
        cap = self._size_for(price, max(0, budget))
        size = cap if signal.size is None else min(signal.size - signal.size % 10_000, cap)
        if size < market.min_size:
            held = f" with {usd(ex.position_cost)} already in the position" if ex.position_cost else ""
            return Decision(
                reason=(
                    f"max position {usd(limits.max_position)}{held} leaves {size / ONE:g} shares"
                    f" at {price / ONE:g}, below the market minimum of {market.min_size / ONE:g}"
                ),
                limit="max_position_usd",
            )
        cost = notional(price, size)
        if ex.window_orders >= self.max_orders_per_window:
            return Decision(
                reason=f"{ex.window_orders} entry orders already in this window",
                limit="risk.max_orders_per_window",
            )
        if ex.open_orders >= self.max_open_orders:
            return Decision(
                reason=f"{ex.open_orders} open orders, the maximum is {self.max_open_orders}",
                limit="risk.max_open_orders",
            )
        if ex.market_exposure + cost > self.max_market_exposure:
            return Decision(
                reason=(
                    f"exposure in {market.market_id} would be {usd(ex.market_exposure + cost)},"
                    f" the cap is {usd(self.max_market_exposure)}"
                ),
                limit="risk.max_market_exposure_usd",
            )
        total = ex.deployed + ex.locked + cost
        if total > self.max_exposure:
            return Decision(
                reason=f"total exposure would be {usd(total)}, the cap is {usd(self.max_exposure)}",
                limit="risk.max_total_exposure_usd",
            )
        need = cost + taker_fee(size, price, market.fee_rate_ppm, market.fee_exponent)
        free = ex.venue_balance - ex.locked
        if need > free:
            return Decision(
                reason=f"order needs {usd(need)}, the venue balance leaves {usd(free)} free",
                limit="balance",
            )
        return Decision(size=size)

    @staticmethod
    def _size_for(price: Micros, budget: Micros) -> Micros:
        shares = budget * ONE // price
        return shares - shares % 10_000


@dataclass(frozen=True, slots=True)
class SessionView:
    block: str  # why entries are blocked by a session limit, or ""
    consecutive_losses: int
    daily_loss: Micros
    daily_loss_remaining: Micros
    period_start_ms: int
    next_day_ms: int


class SessionLimits:
    def __init__(self, cfg: RiskConfig) -> None:
        self.day_offset_ms = cfg.trading_day_start_hour_utc * 3_600_000
        self.max_consecutive = cfg.max_consecutive_losses
        self.reset_ms = 0  # the last operator RESET
        # (the closed list, period start, how many of it are counted, their P&L, the streak):
        # the list only grows until the portfolio replaces it (a new day, a restart)
        self._counted: tuple[list[tuple[int, Position]], int, int, Micros, int] | None = None

    def day_start(self, now_ms: int) -> int:
        return (now_ms - self.day_offset_ms) // DAY_MS * DAY_MS + self.day_offset_ms

    def view(self, closed: list[tuple[int, Position]], now_ms: int, max_session_loss: Micros) -> SessionView:
        start = max(self.day_start(now_ms), self.reset_ms)
        next_day = self.day_start(now_ms) + DAY_MS
        counted = self._counted  # a closed position's P&L is final: count each one once
        if counted is not None and counted[0] is closed and counted[1] == start and counted[2] <= len(closed):
            done, pnl, streak = counted[2], counted[3], counted[4]
        else:
            done = pnl = streak = 0
        for ts, position in closed[done:]:
            if ts < start:
                continue
            pnl += position.realized
            streak = streak + 1 if position.realized < 0 else 0
        self._counted = (closed, start, len(closed), pnl, streak)
        loss = max(0, -pnl)
        block = ""
        resume = f"entries resume at the next trading day ({iso(next_day)}) or after RESET"
        if loss >= max_session_loss:
            block = f"daily loss limit reached: lost {usd(loss)} (limit {usd(max_session_loss)}); {resume}"
        elif streak >= self.max_consecutive:
            block = f"{streak} losing trades in a row (limit {self.max_consecutive}); {resume}"
        return SessionView(block, streak, loss, max(0, max_session_loss - loss), start, next_day)
