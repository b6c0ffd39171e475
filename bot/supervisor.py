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
from typing import TYPE_CHECKING, Any

import orjson

from bot import breaker, controls, layout, runtime, safefile
from bot.controls import Control
from bot.errors import Reaction, VenueError, reaction
from bot.model import ONE, Intent, Position, TradingState, iso, to_float, usd
from bot.risk import SessionLimits, SessionView

if TYPE_CHECKING:
    from bot.engine import Engine

SETTLE_S = 0.5  # how long an unparseable ADJUST_RISK may still be being written


class Supervisor:
    def __init__(self, engine: Engine, session: SessionLimits, errors: breaker.VenueErrorWindow) -> None:
        self.engine = engine
        self.session = session
        self.errors = errors
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
        self._session_key: tuple[int, int, int, int] | None = None
        self._session_cache: SessionView | None = None

    # -- restore ----------------------------------------------------------------------

    def restore(self, saved: dict[str, Any]) -> None:
        """Runtime controls, HALTED and the last RESET survive a restart."""
        e = self.engine
        values = {k: v for k, v in saved.items() if k in runtime.KEYS}
        if values:
            configured = e.limits.describe()
            kept = self._within_caps(values)
            e.limits = e.limits.with_values(kept)
            e.risk.limits = e.limits
            self._announce(kept, configured)
        self.halted = str(saved.get("halted") or "")
        self.session.reset_ms = int(saved.get("session_reset_ms") or 0)
        e.risk.disabled = set(saved.get("disabled_strategies") or [])
        self.update_state()

    def _announce(self, kept: dict[str, Any], configured: dict[str, Any]) -> None:
        """Name at start-up the persisted ADJUST_RISK limits that replace bot.toml's."""
        if not kept:
            return
        from bot.overrides import shown

        e = self.engine
        effective = e.limits.describe()
        parts = []
        for key in kept:
            part = f"{key}={shown(effective[key])}"
            if key in ("max_position_usd", "max_session_loss"):
                part += f" (bot.toml {shown(configured[key])})"
            parts.append(part)
        e.activity.add(
            e.clock.now_ms(),
            "RUNTIME_LIMITS",
            "System",
            f"persisted ADJUST_RISK limits override bot.toml: {', '.join(parts)}; `bot config` shows all",
        )

    def _within_caps(self, values: dict[str, Any]) -> dict[str, Any]:
        """Saved values are checked against today's caps; what no longer fits is dropped."""
        kept: dict[str, Any] = {}
        for key, value in values.items():
            try:
                kept.update(runtime.parse(orjson.dumps({key: value}), self.engine.limits))
            except runtime.AdjustError as exc:
                now = self.engine.clock.now_ms()
                self.engine.activity.add(now, "ERROR", "System", f"saved runtime control dropped: {exc}")
        return kept

    # -- the questions --------------------------------------------------------------

    def session_view(self) -> SessionView:
        """Recomputed only when a position closes, the day turns, a RESET or a new limit."""
        e = self.engine
        closed = e.portfolio.closed_today
        key = (
            len(closed),
            self.session.day_start(e.last_event_ms),
            self.session.reset_ms,
            e.limits.max_session_loss,
        )
        if key != self._session_key or self._session_cache is None:
            self._session_key = key
            self._session_cache = self.session.view(closed, e.last_event_ms, e.limits.max_session_loss)
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
        e = self.engine
        now = e.now_ms()
        found = controls.scan(e.paths.controls)
        if found.recreated:
            e.activity.add(now, "ERROR", "System", "controls/ was missing: created it again")
        if found.problem != self.controls_problem:
            self.controls_problem = found.problem
            if found.problem:
                detail = f"{found.problem}; no new entries until it is a folder"
                e.activity.add(now, "ERROR", "System", detail)
            else:
                detail = "controls/ is a folder again: controls are read"
                e.activity.add(now, "CONTROL_APPLIED", "System", detail)
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
            controls.remove(e.paths.controls, [name])
        for name in found.present.get(Control.ADJUST_RISK, []):
            self.adjust(now, name, found.content[name])
        if found.has(Control.FLATTEN) and not self.flattening:
            self.flattening = found.present[Control.FLATTEN]
            self.start_flatten(now)
        paused = found.has(Control.PAUSE)
        if paused != self.paused:
            self.paused = paused
            if paused:
                n = e.orders.cancel_entries(e.mode, now, layout.PAUSE)
                detail = f"no new entries; {n} resting entry orders cancelled; exits go on"
                self.record(now, found.present[Control.PAUSE][0], "APPLIED", detail)
            else:
                self.record(now, layout.PAUSE, "APPLIED", "PAUSE removed: entries resume")
        self.update_state()

    def record(self, now: int, file: str, result: str, reason: str) -> None:
        e = self.engine
        file, reason = controls.shown(file), controls.shown(reason, 300)  # one printable line
        control = controls.control_for(file)
        name = control.value if control else file
        e.journal.add_control(now, name, file, result, reason)
        kind = "CONTROL_APPLIED" if result == "APPLIED" else "CONTROL_REJECTED"
        e.activity.add(now, kind, "System", f"{file}: {reason}", control=name)
        self.last_control = {
            "control": name,
            "file": file,
            "result": result,
            "reason": reason,
            "time": iso(now),
        }

    def adjust(self, now: int, name: str, content: bytes) -> None:
        e = self.engine
        try:
            values = runtime.parse(content, e.limits)
        except runtime.AdjustError as exc:
            if self._still_being_written(name):
                return  # `echo ... > ADJUST_RISK` creates the file before it writes: look again
            self.record(now, name, "REJECTED", str(exc))
            self._set_aside(now, name, str(exc), content)
            return
        e.limits = e.limits.with_values(values)
        e.risk.limits = e.limits
        for key, value in values.items():
            e.journal.set_runtime(key, value, now, name)
        for strategy in values.get("allowed_strategies") or []:
            if strategy in e.risk.disabled:
                e.risk.disabled.discard(strategy)
                e.scorecard.reenabled(strategy)
                e.journal.set_runtime("disabled_strategies", sorted(e.risk.disabled), now, name)
        cancelled = self._cancel_disallowed(now)
        effective = e.limits.describe()
        shown = ", ".join(f"{k}={effective[k]}" for k in values)
        extra = f"; {cancelled} resting entries outside the new limits cancelled" if cancelled else ""
        self.record(now, name, "APPLIED", f"now in effect: {shown}{extra}")
        controls.remove(e.paths.controls, [name])

    def _still_being_written(self, name: str) -> bool:
        """A file younger than SETTLE_S that does not parse yet gets until then to be complete."""
        try:
            age = time.time() - os.stat(self.engine.paths.controls / name).st_mtime
        except OSError:
            return False
        if age >= SETTLE_S:
            return False
        self.recheck_at = time.monotonic() + SETTLE_S - max(0.0, age) + 0.01
        return True

    def _set_aside(self, now: int, name: str, reason: str, content: bytes) -> None:
        """A rejected ADJUST_RISK becomes NAME.rejected, with the reason on its first line."""
        folder = self.engine.paths.controls
        note = f"REJECTED at {iso(now)}: {controls.shown(reason, 300)}\n".encode()
        if content:  # a short printable excerpt, never the raw bytes
            note += b"--- the file began:\n" + controls.excerpt(content).encode() + b"\n"
        with contextlib.suppress(OSError):
            safefile.replace_small(folder / f"{name}.rejected", note)  # never opens what is there
            if (folder / name).is_file():
                os.unlink(folder / name)

    def _cancel_disallowed(self, now: int) -> int:
        e = self.engine
        limits = e.limits
        ids = []
        for order in e.orders.orders.values():
            market = e.markets.get(order.market_id)
            if order.intent is not Intent.ENTRY or market is None:
                continue
            instruments, strategies = limits.allowed_instruments, limits.allowed_strategies
            if (instruments is not None and market.instrument not in instruments) or (
                strategies is not None and order.strategy not in strategies
            ):
                ids.append(order.order_id)
        return e.orders.cancel(ids, e.mode, now, layout.ADJUST_RISK) if ids else 0

    def reset(self, now: int, name: str) -> None:
        e = self.engine
        was = self.halted or "not halted"
        self.halted = ""
        self.errors.clear()
        self.session.reset_ms = now
        e.journal.delete_runtime("halted")
        e.journal.set_runtime("session_reset_ms", now, now, name)
        self.record(now, name, "APPLIED", f"cleared ({was}); session limits count from now")
        self.update_state()

    # -- flatten and emergency stop -------------------------------------------------

    def start_flatten(self, now: int) -> None:
        e = self.engine
        cancelled = e.orders.cancel_all(e.mode, now, layout.FLATTEN)
        self.flatten_note = f"{cancelled} orders cancelled, {len(e.portfolio.positions)} positions to close"
        self.continue_flatten(now)

    def continue_flatten(self, now: int) -> None:
        """Sell what can be sold; done when no order works and what is left cannot be sold
        by any order (dust, awaiting redemption, closed market): those are named."""
        e = self.engine
        for position in list(e.portfolio.positions.values()):
            e.orders.exit_position(position, e.mode, now, layout.FLATTEN)
        if e.orders.orders:
            return
        held = [(p, e.orders.why_held(p)) for p in e.portfolio.positions.values()]
        if all(why for _, why in held):
            files, self.flattening = self.flattening, []
            controls.remove(e.paths.controls, files)
            if held:
                left = "; ".join(self._describe(p, why) for p, why in held)
                note = f"{self.flatten_note} (sold, or settled); {len(held)} left, no order can sell: {left}"
            else:
                note = f"{self.flatten_note} (sold, or settled); nothing left open"
            self.record(now, files[0], "APPLIED", note)
            self.update_state()

    def _describe(self, position: Position, why: str) -> str:
        e = self.engine
        value = e.portfolio.value(position)
        return (
            f"{e.market_name(position.market_id)} {position.outcome.value}"
            f" {position.shares / ONE:g} shares (worth {usd(value)}): {why}"
        )

    def _why_not_sold(self, position: Position) -> str:
        orders = self.engine.orders
        key = (position.market_id, position.outcome)
        return (
            orders.why_held(position)
            or orders.cannot_exit.get(key)
            or ("exit order sent, not filled" if orders.exiting(position) else "no buyer at the bid")
        )

    def emergency_stop(self, file: str) -> None:
        e = self.engine
        now = e.now_ms()
        cancelled = e.orders.cancel_all(e.mode, now, layout.EMERGENCY_STOP)
        held = len(e.portfolio.positions)
        for position in list(e.portfolio.positions.values()):
            e.orders.exit_position(position, e.mode, now, layout.EMERGENCY_STOP)
        e.orders.cancel_all(e.mode, now, layout.EMERGENCY_STOP)
        left = list(e.portfolio.positions.values())
        detail = f"{cancelled} orders cancelled, {held - len(left)} of {held} positions sold"
        if left:
            named = "; ".join(self._describe(p, self._why_not_sold(p)) for p in left)
            detail += f"; {len(left)} still held (see active_positions): {named}"
        self.record(now, file, "APPLIED", detail + "; the bot exits")
        self.stop(f"EMERGENCY_STOP: remove controls/{file} to allow a restart")
        e.exit_reason = f"EMERGENCY_STOP ({file})"
        e.stop_loop()

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
        failed_fills = getattr(self.engine.venue, "failed_fills", None)
        if failed_fills:  # one at a time: each RESET brings up the next
            tf = failed_fills.pop(0)
            self.halt(
                self.engine.last_event_ms,
                f"venue_fills: trade {tf.trade_id} (fill {tf.fill.fill_id}) was booked but FAILED on"
                " chain; the books may hold shares or cash the wallet does not: check the wallet",
            )
            return
        failed = breaker.check(self.engine, deep=deep)
        if failed:
            self.halt(self.engine.last_event_ms, f"invariant {failed}")

    def halt(self, now: int, reason: str) -> None:
        e = self.engine
        if self.halted:
            return
        self.halted = reason
        e.journal.set_runtime("halted", reason, now, "circuit breaker")
        e.activity.add(now, "ERROR", "System", f"HALTED: {reason}; entries stop, exits go on")
        e.orders.cancel_entries(e.mode, now, "HALTED")
        self.update_state()

    def disk_fault(self, now: int, what: str) -> None:
        """A refused write (bot/guard.py): HALTED until the writes succeed again."""
        e = self.engine
        self.disk = what
        e.activity.add(now, "ERROR", "System", f"HALTED: disk: {what}; entries stop, exits go on")
        e.orders.cancel_entries(e.mode, now, "HALTED")
        self.update_state()

    def disk_ok(self, now: int, was: str) -> None:
        self.disk = ""
        self.engine.activity.add(now, "DISK_RECOVERED", "System", f"writes succeed again (was: {was})")
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
            "effective_limits": self.engine.limits.describe(),
            "disabled_strategies": sorted(self.engine.risk.disabled),
        }

    def risk_view(self) -> dict[str, Any]:
        view = self.session_view()
        block = self.entry_block()
        return {
            "can_trade": not block,
            "reason": block or None,
            "consecutive_losses": view.consecutive_losses,
            "daily_loss": to_float(view.daily_loss),
            "daily_loss_limit": to_float(self.engine.limits.max_session_loss),
            "daily_loss_remaining": to_float(view.daily_loss_remaining),
            "emergency_stop": self.trading_state is TradingState.STOPPED
            and self.state_reason.startswith("EMERGENCY"),
            "halted": (f"disk: {self.disk}" if self.disk else self.halted) or None,
            "session_start": iso(view.period_start_ms),
        }
