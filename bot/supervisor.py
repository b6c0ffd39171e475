"""The supervisor: the bot's trading state and everything that may change it.

It owns the state machine ACTIVE / PAUSED / FLATTENING / HALTED / STOPPED, applies the
control files (PAUSE, FLATTEN, EMERGENCY_STOP, ADJUST_RISK, RESET), the session limits and
the circuit breaker, and answers the one question the order manager asks before every
entry: `entry_block()` ("" when entries may go ahead, else why not).

Precedence of the trading state: STOPPED > HALTED > FLATTENING > PAUSED > ACTIVE. Session
limits (daily loss, losses in a row) block entries without changing the state; status.json
shows them in `risk.can_trade` and `risk.reason`.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bot import breaker, controls, layout, runtime, safefile
from bot.controls import Control
from bot.errors import Reaction, VenueError, reaction
from bot.model import ONE, Intent, Position, TradingState, iso, to_float, usd
from bot.risk import DAY_MS, SessionLimits, SessionView
from bot.venues.base import reports_failed_fills

if TYPE_CHECKING:
    from bot.activity import Activity
    from bot.clock import MarketTime
    from bot.journal import Journal
    from bot.orders import OrderManager
    from bot.portfolio import Portfolio
    from bot.risk import RiskGate
    from bot.scorecard import Scorecard
    from bot.statefiles import FileWriter

SETTLE_S = (
    0.5  # how long an ADJUST_RISK that may be cut short (empty, half a JSON) may still be being written
)


class Supervisor:
    """The one control facade. It is given what it acts on: the order manager (whose entry
    gate and venue-error report it answers), the journal, the activity feed, the portfolio,
    the one holder of the limits in force, and the market time of the engine's last event."""

    def __init__(
        self,
        *,
        orders: OrderManager,
        journal: Journal,
        activity: Activity,
        portfolio: Portfolio,
        limits: runtime.CurrentLimits,
        risk: RiskGate,
        scorecard: Scorecard,
        session: SessionLimits,
        errors: breaker.VenueErrorWindow,
        market_time: MarketTime,
        controls_dir: Path,
        market_names: dict[str, str],
        files: FileWriter,
        heartbeat_s: float,
        disable_rule: tuple[bool, int, float] = (False, 20, 0.4),
    ) -> None:
        self.orders = orders
        self.journal = journal
        self.activity = activity
        self.portfolio = portfolio
        self.limits = limits
        self.risk = risk
        self.scorecard = scorecard
        self.session = session
        self.errors = errors
        self.market_time = market_time
        self.controls_dir = controls_dir
        self.market_names = market_names
        self.files = files
        self.heartbeat_s = heartbeat_s
        self.disable_rule = disable_rule  # (on, after trades, below win rate): risk.disable_*
        self.mode = portfolio.mode
        self.stopped_by = ""  # EMERGENCY_STOP (file): the engine's loop ends with this reason
        self.trading_state = TradingState.ACTIVE
        self.state_reason = ""
        self.paused = False
        self.flattening: list[str] = []  # the FLATTEN files being carried out
        self.flatten_note = ""
        self.halted = ""  # why the circuit breaker tripped; "" when not halted
        self.controls_problem = ""  # controls/ cannot be read (a file, unreadable): no entries
        self.disk = ""  # why the disk refuses writes (bot/guard.py); lifts by itself
        self.last_control: dict[str, Any] | None = None
        self._seen: set[tuple[str, tuple[int, int, int]]] = set()
        self.recheck_at = 0.0  # when to scan controls/ again for a file still being written
        self._session_key: tuple[int, int, int] | None = None
        self._session_cache: SessionView | None = None
        self._session_day = (0, 0)  # the trading day the cached view is of: [start, next)
        # the order manager asks before every entry and reports venue errors here; the
        # portfolio reports each closed position (the scorecard's auto-disable)
        orders.entry_block = self.entry_block
        orders.on_venue_error = self.venue_error
        portfolio.on_closed = self.position_closed

    # -- restore ----------------------------------------------------------------------

    def restore(self, saved: dict[str, Any]) -> None:
        """Runtime controls, HALTED and the last RESET survive a restart."""
        values = {k: v for k, v in saved.items() if k in runtime.KEYS}
        if values:
            configured = self.limits.value.describe()
            kept = self._within_caps(values)
            self.limits.value = self.limits.value.with_values(kept)
            self._announce(kept, configured)
        self.halted = str(saved.get("halted") or "")
        self.session.reset_ms = int(saved.get("session_reset_ms") or 0)
        self.risk.disabled = set(saved.get("disabled_strategies") or [])
        self.update_state()

    def _announce(self, kept: dict[str, Any], configured: dict[str, Any]) -> None:
        """Name at start-up the persisted ADJUST_RISK limits that replace bot.toml's."""
        if not kept:
            return
        from bot.overrides import shown

        effective = self.limits.value.describe()
        parts = []
        for key in kept:
            part = f"{key}={shown(effective[key])}"
            if key in ("max_position_usd", "max_session_loss"):
                part += f" (bot.toml {shown(configured[key])})"
            parts.append(part)
        self.activity.add(
            self.market_time.clock.now_ms(),
            "RUNTIME_LIMITS",
            "System",
            f"persisted ADJUST_RISK limits override bot.toml: {', '.join(parts)}; `bot config` shows all",
        )

    def _within_caps(self, values: dict[str, Any]) -> dict[str, Any]:
        """Saved values are checked against today's caps; what no longer fits is dropped."""
        kept: dict[str, Any] = {}
        for key, value in values.items():
            try:
                kept.update(runtime.parse(orjson.dumps({key: value}), self.limits.value))
            except runtime.AdjustError as exc:
                now = self.market_time.clock.now_ms()
                self.activity.add(now, "ERROR", "System", f"saved runtime control dropped: {exc}")
        return kept

    # -- the questions --------------------------------------------------------------

    def session_view(self) -> SessionView:
        """Recomputed only when a position closes, the day turns, a RESET or a new limit."""
        closed = self.portfolio.closed_today
        now = self.market_time.event_ms
        loss_limit = self.limits.value.max_session_loss
        key = (len(closed), self.session.reset_ms, loss_limit)
        first, after = self._session_day  # the view depends on `now` only through its day
        if key != self._session_key or not first <= now < after or self._session_cache is None:
            self._session_key = key
            first = self.session.day_start(now)
            self._session_day = (first, first + DAY_MS)
            self._session_cache = self.session.view(closed, now, loss_limit)
        return self._session_cache

    def entry_block(self) -> str:
        if self.trading_state is not TradingState.ACTIVE:
            return f"trading state {self.trading_state.value}: {self.state_reason}"
        return self.session_view().block

    def update_state(self) -> None:
        if self.trading_state is TradingState.STOPPED:
            return
        if self.disk:
            state, reason = TradingState.HALTED, f"disk: {self.disk}; retrying, lifts by itself"
            if self.halted:
                reason += f"; also {self.halted}; clear with controls/RESET or `bot reset`"
        elif self.halted:
            state, reason = TradingState.HALTED, f"{self.halted}; clear with controls/RESET or `bot reset`"
        elif self.flattening:
            state, reason = TradingState.FLATTENING, "FLATTEN in progress"
        elif self.paused:
            state, reason = TradingState.PAUSED, "PAUSE file present"
        elif self.controls_problem:
            state, reason = TradingState.PAUSED, self.controls_problem
        else:
            state, reason = TradingState.ACTIVE, ""
        self.trading_state, self.state_reason = state, reason

    def stop(self, reason: str) -> None:
        self.trading_state = TradingState.STOPPED
        self.state_reason = reason

    # -- control files ------------------------------------------------------------------

    def apply_controls(self) -> None:
        now = self.market_time.now_ms()
        found = controls.scan(self.controls_dir)
        if found.recreated:
            self.activity.add(now, "ERROR", "System", "controls/ was missing: created it again")
        if found.problem != self.controls_problem:
            self.controls_problem = found.problem
            if found.problem:
                detail = f"{found.problem}; no new entries until it is a folder"
                self.activity.add(now, "ERROR", "System", detail)
            else:
                detail = "controls/ is a folder again: controls are read"
                self.activity.add(now, "CONTROL_APPLIED", "System", detail)
        if found.problem:  # nothing can be seen: keep what was in effect, block new entries
            self.update_state()
            return
        for rejected in found.rejected:
            key = (rejected.file, rejected.signature)
            if key not in self._seen:
                self._seen.add(key)
                self.record(now, rejected.file, "REJECTED", rejected.reason)
                if controls.control_for(rejected.file) is Control.ADJUST_RISK:
                    self._set_aside(now, rejected.file, rejected.reason, b"")
        if found.has(Control.EMERGENCY_STOP):
            self.emergency_stop(found.present[Control.EMERGENCY_STOP][0])
            return
        for name in found.present.get(Control.RESET, []):
            self.reset(now, name)
            controls.remove(self.controls_dir, [name])
        for name in found.present.get(Control.ADJUST_RISK, []):
            self.adjust(now, name, found.content[name])
        if found.has(Control.FLATTEN) and not self.flattening:
            self.flattening = found.present[Control.FLATTEN]
            self.start_flatten(now)
        paused = found.has(Control.PAUSE)
        if paused != self.paused:
            self.paused = paused
            if paused:
                n = self.orders.cancel_entries(self.mode, now, layout.PAUSE)
                detail = f"no new entries; {n} resting entry orders cancelled; exits go on"
                self.record(now, found.present[Control.PAUSE][0], "APPLIED", detail)
            else:
                self.record(now, layout.PAUSE, "APPLIED", "PAUSE removed: entries resume")
        self.update_state()

    def record(self, now: int, file: str, result: str, reason: str) -> None:
        file, reason = controls.shown(file), controls.shown(reason, 300)  # one printable line
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

    def adjust(self, now: int, name: str, content: bytes) -> None:
        try:
            values = runtime.parse(content, self.limits.value)
        except runtime.AdjustError as exc:
            if exc.incomplete and self._still_being_written(name):
                return  # `echo ... > ADJUST_RISK` creates the file before it writes: look again
            self.record(now, name, "REJECTED", str(exc))
            self._set_aside(now, name, str(exc), content)
            return
        self.limits.value = self.limits.value.with_values(values)
        for key, value in values.items():
            self.journal.set_runtime(key, value, now, name)
        disabled = self.risk.disabled
        for strategy in values.get("allowed_strategies") or []:
            if strategy in disabled:
                disabled.discard(strategy)
                self.scorecard.reenabled(strategy)
                self.journal.set_runtime("disabled_strategies", sorted(disabled), now, name)
        cancelled = self._cancel_disallowed(now)
        effective = self.limits.value.describe()
        shown = ", ".join(f"{k}={effective[k]}" for k in values)
        extra = f"; {cancelled} resting entries outside the new limits cancelled" if cancelled else ""
        self.record(now, name, "APPLIED", f"now in effect: {shown}{extra}")
        controls.remove(self.controls_dir, [name])

    def _still_being_written(self, name: str) -> bool:
        """A file younger than SETTLE_S that does not parse yet gets until then to be complete."""
        try:
            age = time.time() - os.stat(self.controls_dir / name).st_mtime
        except OSError:
            return False
        if not -SETTLE_S < age < SETTLE_S:  # old, or stamped in the future: it will not change
            return False
        self.recheck_at = time.monotonic() + SETTLE_S - max(0.0, age) + 0.01
        return True

    def _set_aside(self, now: int, name: str, reason: str, content: bytes) -> None:
        """A rejected ADJUST_RISK becomes NAME.rejected, with the reason on its first line."""
        folder = self.controls_dir
        note = f"REJECTED at {iso(now)}: {controls.shown(reason, 300)}\n".encode()
        if content:  # a short printable excerpt, never the raw bytes
            note += b"--- the file began:\n" + controls.excerpt(content).encode() + b"\n"
        # the file goes first, then the note: a writer that waits for the note and then
        # renames a corrected file into place never sees it removed by this refusal
        with contextlib.suppress(OSError):
            if (folder / name).is_file():
                os.unlink(folder / name)
        with contextlib.suppress(OSError):
            safefile.replace_small(folder / f"{name}.rejected", note)  # never opens what is there

    def _cancel_disallowed(self, now: int) -> int:
        limits = self.limits.value
        markets = self.orders.markets
        ids = []
        for order in self.orders.orders.values():
            market = markets.get(order.market_id)
            if order.intent is not Intent.ENTRY or market is None:
                continue
            instruments, strategies = limits.allowed_instruments, limits.allowed_strategies
            if (instruments is not None and market.instrument not in instruments) or (
                strategies is not None and order.strategy not in strategies
            ):
                ids.append(order.order_id)
        return self.orders.cancel(ids, self.mode, now, layout.ADJUST_RISK) if ids else 0

    def reset(self, now: int, name: str) -> None:
        was = self.halted or "not halted"
        self.halted = ""
        self.errors.clear()
        self.session.reset_ms = now
        self.journal.delete_runtime("halted")
        self.journal.set_runtime("session_reset_ms", now, now, name)
        self.record(now, name, "APPLIED", f"cleared ({was}); session limits count from now")
        self.update_state()

    # -- flatten and emergency stop -------------------------------------------------

    def start_flatten(self, now: int) -> None:
        cancelled = self.orders.cancel_all(self.mode, now, layout.FLATTEN)
        held = len(self.portfolio.positions)
        self.flatten_note = f"{cancelled} orders cancelled, {held} positions to close"
        self.continue_flatten(now)

    def continue_flatten(self, now: int) -> None:
        """Sell what can be sold; done when no order works and what is left cannot be sold
        by any order (dust, awaiting redemption, closed market): those are named."""
        orders, positions = self.orders, self.portfolio.positions
        for position in list(positions.values()):
            orders.exit_position(position, self.mode, now, layout.FLATTEN)
        if orders.orders:
            return
        held = [(p, orders.why_held(p)) for p in positions.values()]
        if all(why for _, why in held):
            files, self.flattening = self.flattening, []
            controls.remove(self.controls_dir, files)
            if held:
                left = "; ".join(self._describe(p, why) for p, why in held)
                note = f"{self.flatten_note} (sold, or settled); {len(held)} left, no order can sell: {left}"
            else:
                note = f"{self.flatten_note} (sold, or settled); nothing left open"
            self.record(now, files[0], "APPLIED", note)
            self.update_state()

    def _describe(self, position: Position, why: str) -> str:
        value = self.portfolio.value(position)
        name = self.market_names.get(position.market_id, position.market_id)
        return f"{name} {position.outcome.value} {position.shares / ONE:g} shares (worth {usd(value)}): {why}"

    def _why_not_sold(self, position: Position) -> str:
        orders = self.orders
        key = (position.market_id, position.outcome)
        return (
            orders.why_held(position)
            or orders.cannot_exit.get(key)
            or ("exit order sent, not filled" if orders.exiting(position) else "no buyer at the bid")
        )

    def emergency_stop(self, file: str) -> None:
        """Cancel everything, sell what can be sold, and end the engine's loop (`stopped_by`)."""
        now = self.market_time.now_ms()
        orders, positions = self.orders, self.portfolio.positions
        cancelled = orders.cancel_all(self.mode, now, layout.EMERGENCY_STOP)
        held = len(positions)
        for position in list(positions.values()):
            orders.exit_position(position, self.mode, now, layout.EMERGENCY_STOP)
        orders.cancel_all(self.mode, now, layout.EMERGENCY_STOP)
        left = list(positions.values())
        detail = f"{cancelled} orders cancelled, {held - len(left)} of {held} positions sold"
        if left:
            named = "; ".join(self._describe(p, self._why_not_sold(p)) for p in left)
            detail += f"; {len(left)} still held (see active_positions): {named}"
        self.record(now, file, "APPLIED", detail + "; the bot exits")
        self.stop(f"EMERGENCY_STOP: remove controls/{file} to allow a restart")
        self.stopped_by = f"EMERGENCY_STOP ({file})"

    def position_closed(self, position: Position) -> None:
        """Scorecard, and the optional auto-disable of a losing strategy."""
        self.scorecard.closed(position.strategy, position.realized)
        enabled, after, below = self.disable_rule
        name = position.strategy
        disabled = self.risk.disabled
        if enabled and name not in disabled and self.scorecard.should_disable(name, after, below):
            disabled.add(name)
            now = self.market_time.event_ms
            self.journal.set_runtime("disabled_strategies", sorted(disabled), now, "scorecard")
            card = self.scorecard.cards[name]
            self.activity.add(
                now,
                "STRATEGY_DISABLED",
                "System",
                f"{name}: win rate {card.wins}/{card.trades} below {below:.0%} after {after} trades;"
                " re-enable with ADJUST_RISK allowed_strategies",
            )

    # -- circuit breaker ----------------------------------------------------------------

    def venue_error(self, error: VenueError, now: int) -> None:
        """What the order manager could not settle by backing off (bot/errors.py `reaction`)."""
        react = reaction(error)
        if react is Reaction.HALT:
            self.halt(now, f"venue_fatal: {error}")
        elif react is Reaction.WAIT:
            return  # the venue asked us to wait (425 engine restart): the backoff is enough
        elif self.errors.record():
            limit = self.errors.limit
            window = self.errors.window_s
            self.halt(now, f"venue_errors: {limit} venue errors within {window:g} s (last: {error})")

    def check_invariants(self, deep: bool = False) -> None:
        if self.halted:
            return
        now = self.market_time.event_ms
        venue = self.orders.venue
        lost = venue.take_failed_fill() if reports_failed_fills(venue) else None
        if lost is not None:  # one at a time: each RESET brings up the next
            self.halt(
                now,
                f"venue_fills: trade {lost.trade_id} (fill {lost.fill_id}) was booked but FAILED on"
                " chain; the books may hold shares or cash the wallet does not: check the wallet",
            )
            return
        failed = (
            breaker.check(self.orders, self.portfolio, venue, now, self.risk.max_exposure)
            or breaker.check_state_files(self.files, self.heartbeat_s)
            or (breaker.check_journal(self.journal, self.portfolio) if deep else "")
        )
        if failed:
            self.halt(now, f"invariant {failed}")

    def halt(self, now: int, reason: str) -> None:
        if self.halted:
            return
        self.halted = reason
        self.journal.set_runtime("halted", reason, now, "circuit breaker")
        self.activity.add(now, "ERROR", "System", f"HALTED: {reason}; entries stop, exits go on")
        self.orders.cancel_entries(self.mode, now, "HALTED")
        self.update_state()

    def disk_fault(self, now: int, what: str) -> None:
        """A refused write (bot/guard.py): HALTED until the writes succeed again."""
        self.disk = what
        self.activity.add(now, "ERROR", "System", f"HALTED: disk: {what}; entries stop, exits go on")
        self.orders.cancel_entries(self.mode, now, "HALTED")
        self.update_state()

    def disk_ok(self, now: int, was: str) -> None:
        self.disk = ""
        self.activity.add(now, "DISK_RECOVERED", "System", f"writes succeed again (was: {was})")
        self.update_state()

    # -- views ----------------------------------------------------------------------

    def control_status(self) -> dict[str, Any]:
        in_effect = []
        if self.paused:
            in_effect.append(layout.PAUSE)
        if self.flattening:
            in_effect.append(layout.FLATTEN)
        if self.trading_state is TradingState.STOPPED and self.state_reason.startswith("EMERGENCY"):
            in_effect.append(layout.EMERGENCY_STOP)
        if self.halted or self.disk:
            in_effect.append("HALTED")
        return {
            "in_effect": in_effect,
            "last": self.last_control,
            "effective_limits": self.limits.value.describe(),
            "disabled_strategies": sorted(self.risk.disabled),
        }

    def risk_view(self) -> dict[str, Any]:
        view = self.session_view()
        block = self.entry_block()
        return {
            "can_trade": not block,
            "reason": block or None,
            "consecutive_losses": view.consecutive_losses,
            "daily_loss": to_float(view.daily_loss),
            "daily_loss_limit": to_float(self.limits.value.max_session_loss),
            "daily_loss_remaining": to_float(view.daily_loss_remaining),
            "emergency_stop": self.trading_state is TradingState.STOPPED
            and self.state_reason.startswith("EMERGENCY"),
            "halted": (f"disk: {self.disk}" if self.disk else self.halted) or None,
            "session_start": iso(view.period_start_ms),
        }
