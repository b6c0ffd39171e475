"""The state files an engine writes (status.json, trading_state.json, trades_today.json):
one frozen snapshot of the engine's parts (bot/state.py), written off the engine's thread
(bot/statefiles.py). A part of `Engine` (bot/engine.py), which sets every field below."""

from __future__ import annotations

import time
from typing import Any

from bot import state
from bot.activity import Activity
from bot.clock import Clock
from bot.feeds import Feed, health
from bot.intake import Intake
from bot.journal import Journal
from bot.layout import STATUS, TRADES_TODAY, TRADING_STATE, Paths
from bot.model import Market, Mode, Signal
from bot.notify import Alerts
from bot.orders import Execution, OrderManager
from bot.portfolio import Portfolio
from bot.risk import RiskGate
from bot.runtime import CurrentLimits
from bot.scorecard import Scorecard
from bot.statefiles import FileWriter
from bot.supervisor import Supervisor


class StateFiles:
    """The engine's state files: `snapshot`, `write_state` (each refresh), `write_final`."""

    paths: Paths
    mode: Mode
    clock: Clock
    feed: Feed
    journal: Journal
    activity: Activity
    portfolio: Portfolio
    orders: OrderManager
    risk: RiskGate
    limits: CurrentLimits
    supervisor: Supervisor
    files: FileWriter
    scorecard: Scorecard
    markets: dict[str, Market]
    market_names: dict[str, str]
    wallet: str
    pid: int
    speed: float
    heartbeat_s: float
    day_start_ms: int
    intake: Intake | None
    views: state.Views
    last_signal: tuple[Signal, Execution] | None
    alerts: Alerts | None
    _written_at: int
    _prices_moved: bool
    _last_state_write: float
    _next_heartbeat: float

    def snapshot(self, *, for_status: bool) -> state.Snapshot:
        """What the state files show now (bot/state.py); `for_status` adds what only
        status.json shows (the risk view, the feeds' health)."""
        supervisor = self.supervisor
        wall = self.clock.wall_ms()
        return state.Snapshot(
            wall_ms=wall,
            market_ms=self.clock.now_ms(),
            mode=self.mode,
            trading_state=supervisor.trading_state,
            state_reason=supervisor.state_reason,
            wallet=self.wallet,
            pid=self.pid,
            speed=self.speed,
            heartbeat_s=self.heartbeat_s,
            day_start_ms=self.day_start_ms,
            portfolio=self.portfolio,
            open_orders=self.orders.open_orders(),
            activity=self.activity,
            journal=self.journal,
            scorecard=self.scorecard,
            markets=self.markets,
            market_names=self.market_names,
            controls=supervisor.control_status(),
            limits=self.limits.value,
            risk=self.risk,
            max_consecutive_losses=supervisor.session.max_consecutive,
            views=self.views,
            last_signal=self.last_signal,
            inbox=self.intake.view() if self.intake is not None else None,
            risk_view=supervisor.risk_view() if for_status else None,
            feeds=health.books(self.feed, self.markets, wall) if for_status else None,
            feed_connections=health.connections(self.feed) if for_status else None,
            discovery=health.discovery(self.feed) if for_status else None,
        )

    def write_state(self, heartbeat: bool = False) -> None:
        """The three files from one snapshot: status.json's copies (balance, positions) are
        never older than trading_state.json. `heartbeat`: the heartbeat's write (or one
        that stands for it), after which the next heartbeat is due in `heartbeat_s`."""
        folder = self.paths.state
        now = time.monotonic()
        snap = self.snapshot(for_status=True)
        self.files.put(folder / TRADING_STATE, state.trading_state(snap))
        self.files.put(folder / TRADES_TODAY, state.trades_today(snap))
        self.files.put(folder / STATUS, self._status(state.status(snap)))
        self.files.status_written = now
        self._written_at = self.activity.added
        self._prices_moved = False
        self._last_state_write = now
        if heartbeat:
            self._next_heartbeat = now + self.heartbeat_s

    def _status(self, doc: dict[str, Any], final: bool = False) -> dict[str, Any]:
        """status.json, with what the alerts saw in it and how their delivery goes. The last
        one waits (a bounded time) for the alerts still queued, so it counts their fate."""
        if self.alerts is not None:
            self.alerts.observe(doc)
            if final:
                self.alerts.final(doc)
            doc["alerts"] = self.alerts.stats()
        return doc

    def write_final(self, reason: str) -> None:
        """The last word: every file written, and on disk when this returns."""
        folder = self.paths.state
        snap = self.snapshot(for_status=True)
        self.files.put(folder / TRADING_STATE, state.trading_state(snap))
        self.files.put(folder / TRADES_TODAY, state.trades_today(snap))
        self.files.put(
            folder / STATUS, self._status(state.status(snap, alive=False, reason=reason), final=True)
        )
        self.files.close()
