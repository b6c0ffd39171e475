"""The engine: one thread that owns the portfolio, the journal and the state files.

Other threads (the control-file watcher, signal handlers) only put a word in the inbox,
which wakes the loop at once; nothing else needs a lock. The loop waits for whichever
comes first: the next market event, the next heartbeat or a word in the inbox.

`step(event)` reads top to bottom like the paragraph that describes it:
    1 the market and the marks move
    2 the venue reports fills, expiries and settlements, which are booked
    3 exits: a flatten in progress sells what is left
    4 strategies look at the window and may propose an entry
    5 the order manager checks risk and sends it to the venue of the mode
    6 the step's rows are committed to the journal, then the logs are appended
    7 the state files are rewritten
Controls are applied between steps, whenever the inbox wakes the loop.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot import controls, state
from bot.activity import Activity
from bot.controls import Control
from bot.journal import Journal
from bot.model import (
    BookTick,
    Market,
    MarketEvent,
    Mode,
    Outcome,
    Position,
    Settlement,
    TradingState,
    WindowOpened,
    WindowResolved,
    iso,
    utc_day,
)
from bot.orders import OrderManager
from bot.portfolio import Portfolio
from bot.strategies import Strategy, WindowState

log = logging.getLogger("bot")

WAKE = "wake"
STOP = "stop"


class Feed(Protocol):
    def peek_ms(self) -> int | None: ...

    def next_batch(self) -> list[MarketEvent]: ...


class Clock(Protocol):
    def now_ms(self) -> int: ...

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

    def wait(self, until_ms: int, inbox: queue.SimpleQueue[str], max_wall_s: float) -> str | None:
        timeout = min(max(0.0, (until_ms - self.now_ms()) / 1000 / self.speed), max_wall_s)
        try:
            if timeout <= 0:
                return inbox.get_nowait()
            return inbox.get(timeout=timeout)
        except queue.Empty:
            return None


class SimulatedClock:
    """Backtests: market time jumps to each event; nothing waits."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def wait(self, until_ms: int, inbox: queue.SimpleQueue[str], max_wall_s: float) -> str | None:
        self._now = max(self._now, until_ms)
        try:
            return inbox.get_nowait()
        except queue.Empty:
            return None


@dataclass(frozen=True)
class Paths:
    home: Path

    @property
    def state(self) -> Path:
        return self.home / "state"

    @property
    def controls(self) -> Path:
        return self.home / "controls"

    @property
    def logs(self) -> Path:
        return self.home / "logs"


class Engine:
    def __init__(
        self,
        *,
        paths: Paths,
        mode: Mode,
        clock: Clock,
        feed: Feed,
        journal: Journal,
        activity: Activity,
        portfolio: Portfolio,
        orders: OrderManager,
        strategies: list[Strategy],
        markets: dict[str, Market],
        wallet: str,
        heartbeat_s: float,
        state_refresh_s: float,
        speed: float,
        live_from_ms: int,
        on_heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.paths = paths
        self.mode = mode
        self.clock = clock
        self.feed = feed
        self.journal = journal
        self.activity = activity
        self.portfolio = portfolio
        self.orders = orders
        self.strategies = strategies
        self.markets = markets
        self.market_names = {m.market_id: m.name for m in markets.values()}
        self.wallet = wallet
        self.heartbeat_s = heartbeat_s
        self.state_refresh_s = state_refresh_s
        self.speed = speed
        self.live_from_ms = live_from_ms  # earlier events are catch-up: book, don't trade
        self.on_heartbeat = on_heartbeat
        self.inbox: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.today = utc_day(clock.now_ms())
        self.trading_state = TradingState.ACTIVE
        self.state_reason = ""
        self.paused = False
        self.flattening: list[str] = []  # FLATTEN files being carried out
        self._flatten_note = ""
        self.last_control: dict[str, Any] | None = None
        self.last_signal: dict[str, Any] | None = None
        self.exit_reason = ""
        self._seen_rejections: set[tuple[str, tuple[int, int, int]]] = set()
        self._running = False
        self._last_event_ms = clock.now_ms()
        self._next_heartbeat = 0.0
        self._last_state_write = 0.0
        self._prices_moved = False

    # -- life cycle -----------------------------------------------------------------

    def wake(self) -> None:
        self.inbox.put(WAKE)

    def request_stop(self) -> None:
        self.inbox.put(STOP)

    def run(self) -> str:
        """Trade until stopped; return why the loop ended."""
        self._running = True
        self.apply_controls()  # a control present at start-up acts before the first order
        self.commit()
        self.write_state(heartbeat=True)
        while self._running:
            due = self.feed.peek_ms()
            if due is None:
                self.exit_reason = self.exit_reason or "end of market data"
                break
            until_beat = max(0.0, self._next_heartbeat - time.monotonic())
            word = self.clock.wait(due, self.inbox, until_beat)
            if word is not None:
                self._handle(word)
            elif self.clock.now_ms() >= due:
                for event in self.feed.next_batch():
                    self.step(event)
                self.end_step()
            if time.monotonic() >= self._next_heartbeat:
                self.heartbeat()
        return self.exit_reason

    def _handle(self, word: str) -> None:
        while True:  # coalesce a burst of file events into one scan
            if word == STOP:
                self.exit_reason = self.exit_reason or "stop requested (Ctrl-C or SIGTERM)"
                self.trading_state = TradingState.STOPPED
                self.state_reason = self.exit_reason
                self._running = False
            try:
                word = self.inbox.get_nowait()
            except queue.Empty:
                break
        if self._running:
            self.apply_controls()
            self.commit()
            self.write_state(heartbeat=True)

    # -- the step ---------------------------------------------------------------------

    def step(self, event: MarketEvent) -> None:
        self._last_event_ms = event.ts_ms
        # 1 the market and the marks move
        if isinstance(event, WindowOpened):
            if event.market.market_id in self.markets:
                return
            self.markets[event.market.market_id] = event.market
            self.market_names[event.market.market_id] = event.market.name
            self.journal.market_opened(event.market)
        elif isinstance(event, BookTick):
            if event.market_id not in self.markets:
                return
            self.portfolio.marks[event.market_id] = event
            self._prices_moved = True
        elif event.market_id not in self.markets:
            return
        if isinstance(event, WindowResolved):
            self._resolved(event)
        # 2 the venue reports; fills, expiries and settlements are booked
        self.orders.apply(self.venue.on_market(event))
        if isinstance(event, WindowResolved):
            return
        # 3 exits
        if self.flattening:
            self._continue_flatten(event.ts_ms)
        # 4-5 strategies propose, the order manager disposes
        if isinstance(event, BookTick) and event.ts_ms >= self.live_from_ms:
            self._evaluate(event)

    def end_step(self) -> None:
        """6-7: commit the journal, then let the files show it."""
        day = utc_day(self._last_event_ms)
        if day != self.today:
            self.today = day
            self.portfolio.roll_day(day)
        self.commit()
        now = time.monotonic()
        if self.activity.dirty or (
            self._prices_moved and now - self._last_state_write >= self.state_refresh_s
        ):
            self.write_state()

    @property
    def venue(self) -> Any:
        return self.orders.venues[self.mode]

    def _evaluate(self, tick: BookTick) -> None:
        market = self.markets[tick.market_id]
        holding = {
            o: p.shares
            for o in (Outcome.UP, Outcome.DOWN)
            if (p := self.portfolio.positions.get((market.market_id, o))) is not None
        }
        open_orders = self.orders.open_in(market.market_id)
        for strategy in self.strategies:
            window = WindowState(
                market=market,
                book=tick,
                now_ms=tick.ts_ms,
                holding=holding,
                open_orders=open_orders,
                entries=self.orders.entries[(market.market_id, strategy.name)],
            )
            signal = strategy.evaluate(window)
            if signal is None:
                continue
            result = self.orders.execute(signal, self.mode)
            self.last_signal = {
                "time": iso(signal.ts_ms),
                "pattern": signal.strategy,
                "market": signal.market_id,
                "side": signal.outcome.value,
                "score": round(signal.score, 4),
                "executed": result.executed,
                "skip_reason": result.reason or None,
            }

    def _resolved(self, event: WindowResolved) -> None:
        market = self.markets.pop(event.market_id)
        self.journal.market_resolved(event.market_id, event.outcome, event.ts_ms)
        self.activity.add(
            event.ts_ms,
            "MARKET_RESOLVED",
            event.market_id,
            f"{market.name}: {event.outcome.value} (strike {market.strike}, final {event.final_underlying})",
        )
        self.portfolio.marks.pop(event.market_id, None)
        for key in [k for k in self.orders.entries if k[0] == event.market_id]:
            del self.orders.entries[key]

    def on_settled(self, s: Settlement, position: Position | None) -> None:
        """Called by the order manager for every settlement payout."""

    # -- controls -------------------------------------------------------------------

    def apply_controls(self) -> None:
        now = self.clock.now_ms()
        found = controls.scan(self.paths.controls)
        for rejected in found.rejected:
            key = (rejected.file, rejected.signature)
            if key not in self._seen_rejections:
                self._seen_rejections.add(key)
                self._control_result(now, rejected.file, "REJECTED", rejected.reason)
        if found.has(Control.EMERGENCY_STOP):
            self.emergency_stop(found.present[Control.EMERGENCY_STOP][0])
            return
        if found.has(Control.FLATTEN) and not self.flattening:
            self.flattening = found.present[Control.FLATTEN]
            self._start_flatten(now)
        paused = found.has(Control.PAUSE)
        if paused != self.paused:
            self.paused = paused
            if paused:
                n = self.orders.cancel_entries(self.mode, now, "PAUSE")
                detail = f"no new entries; {n} resting entry orders cancelled; exits go on"
                self._control_result(now, found.present[Control.PAUSE][0], "APPLIED", detail)
            else:
                self._control_result(now, "PAUSE", "APPLIED", "PAUSE removed: entries resume")
        for name in found.present.get(Control.ADJUST_RISK, []) + found.present.get(Control.RESET, []):
            key = (name, (0, 0, 0))
            if key not in self._seen_rejections:
                self._seen_rejections.add(key)
                self._control_result(now, name, "REJECTED", "not supported by this version yet")
        self._update_trading_state()

    def _control_result(self, now: int, file: str, result: str, reason: str) -> None:
        control = controls.control_for(file)
        name = control.value if control else file
        self.journal.add_control(now, name, file, result, reason)
        kind = "CONTROL_APPLIED" if result == "APPLIED" else "CONTROL_REJECTED"
        self.activity.add(now, kind, "System", f"{file}: {reason}", control=name)
        self.last_control = {
            "control": name,
            "file": file,
            "result": result,
            "reason": reason,
            "time": iso(now),
        }

    def control_status(self) -> dict[str, Any]:
        in_effect = []
        if self.paused:
            in_effect.append("PAUSE")
        if self.flattening:
            in_effect.append("FLATTEN")
        if self.trading_state is TradingState.STOPPED and self.exit_reason.startswith("EMERGENCY"):
            in_effect.append("EMERGENCY_STOP")
        return {"in_effect": in_effect, "last": self.last_control}

    def _update_trading_state(self) -> None:
        if self.trading_state is TradingState.STOPPED:
            return
        if self.flattening:
            self.trading_state, self.state_reason = TradingState.FLATTENING, "FLATTEN in progress"
        elif self.paused:
            self.trading_state, self.state_reason = TradingState.PAUSED, "PAUSE file present"
        else:
            self.trading_state, self.state_reason = TradingState.ACTIVE, ""

    def entry_block(self) -> str:
        """Why entries are blocked now, or '' when they may go ahead."""
        if self.trading_state is TradingState.ACTIVE:
            return ""
        return f"trading state {self.trading_state.value}: {self.state_reason}"

    def _start_flatten(self, now: int) -> None:
        cancelled = self.orders.cancel(list(self.orders.orders), self.mode, now, "FLATTEN")
        held = len(self.portfolio.positions)
        self._flatten_note = f"{cancelled} orders cancelled, {held} positions sold"
        self._continue_flatten(now)

    def _continue_flatten(self, now: int) -> None:
        for position in list(self.portfolio.positions.values()):
            self.orders.exit_position(position, self.mode, now, "FLATTEN")
        if not self.portfolio.positions and not self.orders.orders:
            files, self.flattening = self.flattening, []
            controls.remove(self.paths.controls, files)
            self._control_result(now, files[0], "APPLIED", f"{self._flatten_note}; nothing left open")
            self._update_trading_state()

    def emergency_stop(self, file: str) -> None:
        now = self.clock.now_ms()
        cancelled = self.orders.cancel(list(self.orders.orders), self.mode, now, "EMERGENCY_STOP")
        held = len(self.portfolio.positions)
        for position in list(self.portfolio.positions.values()):
            self.orders.exit_position(position, self.mode, now, "EMERGENCY_STOP")
        self.orders.cancel(list(self.orders.orders), self.mode, now, "EMERGENCY_STOP")
        left = len(self.portfolio.positions)
        detail = f"{cancelled} orders cancelled, {held - left} of {held} positions sold"
        if left:
            detail += f" except {left} with no buyer at the moment (held, see active_positions)"
        self._control_result(now, file, "APPLIED", detail + "; the bot exits")
        self.trading_state = TradingState.STOPPED
        self.state_reason = f"EMERGENCY_STOP: remove controls/{file} to allow a restart"
        self.exit_reason = f"EMERGENCY_STOP ({file})"
        self._running = False

    # -- journal and files ------------------------------------------------------------

    def commit(self) -> None:
        if self.journal.conn.in_transaction:
            self.journal.set_meta(f"clock_ms:{self.mode.value}", str(self._last_event_ms))
            self.journal.commit()
        self.activity.flush()

    def heartbeat(self) -> None:
        if self.on_heartbeat is not None:
            self.on_heartbeat()
            self.commit()
        self.write_state(heartbeat=True)

    def write_state(self, heartbeat: bool = False) -> None:
        folder = self.paths.state
        state.write_json(folder / "trading_state.json", state.trading_state(self))
        state.write_json(folder / "trades_today.json", state.trades_today(self))
        self.activity.dirty = False
        self._prices_moved = False
        self._last_state_write = time.monotonic()
        if heartbeat or self._last_state_write >= self._next_heartbeat:
            state.write_json(folder / "status.json", state.status(self))
            self._next_heartbeat = self._last_state_write + self.heartbeat_s

    def write_final(self, reason: str) -> None:
        folder = self.paths.state
        state.write_json(folder / "trading_state.json", state.trading_state(self))
        state.write_json(folder / "trades_today.json", state.trades_today(self))
        state.write_json(folder / "status.json", state.status(self, alive=False, reason=reason))

    # -- views for the state files --------------------------------------------------

    def market_name(self, market_id: str) -> str:
        return self.market_names.get(market_id, market_id)

    def trades_today_count(self) -> int:
        return len(self.portfolio.closed_today) + len(self.portfolio.positions)

    def risk_view(self) -> dict[str, Any]:
        block = self.entry_block()
        return {
            "can_trade": not block,
            "reason": block or None,
            "consecutive_losses": _consecutive_losses(self.portfolio),
            "daily_loss_remaining": None,
            "emergency_stop": self.trading_state is TradingState.STOPPED
            and self.exit_reason.startswith("EMERGENCY"),
        }


def _consecutive_losses(portfolio: Portfolio) -> int:
    count = 0
    for _, p in reversed(portfolio.closed_today):
        if p.realized >= 0:
            break
        count += 1
    return count


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.8g}"
