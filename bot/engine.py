"""The engine: one thread that owns the portfolio, the journal and the state files.

Other threads (the control-file watcher, signal handlers) only put a word in the inbox,
which wakes the loop at once; nothing else needs a lock. The loop waits for whichever
comes first: the next market event, the next heartbeat or a word in the inbox.

`step(event)` reads top to bottom like the paragraph that describes it:
    1 the market and the marks move
    2 the venue reports fills, expiries and settlements, which are booked
    3 exits: one decision per position (bot/exits.py); a flatten sells what is left
    4 strategies look at the window and may propose an entry
    5 the order manager checks risk and sends it to the venue of the mode
    6 the step's rows are committed to the journal, then the logs are appended;
      the invariants are checked (bot/breaker.py)
    7 the state files are rewritten
Controls are applied between steps, whenever the inbox wakes the loop (bot/supervisor.py).

Realtime venues (DRY_RUN, LIVE) read their books on the feed's own thread
(bot/feeds/background.py), which wakes the inbox with each finished batch, and the engine
also decides on a timer: every `decide_every_ms` of market time, exits, a flatten and the
strategies look again at each market whose book has not moved, so a quiet book still
triggers a last-minute entry or `exit_before_end_s`. Backtests and PAPER leave the timer
off (their feeds tick every market each market second), so their results do not change.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from types import MappingProxyType

from bot import exits, state, storage
from bot.activity import Activity
from bot.clock import DATA, STOP, WAKE, Clock, Inbox, MarketTime, SimulatedClock
from bot.engine_files import StateFiles
from bot.errors import StorageError
from bot.exits import ExitPolicy, Lifecycle
from bot.feeds import Feed
from bot.forecasts import Forecasts
from bot.guard import HomeGuard
from bot.intake import Intake
from bot.journal import Journal
from bot.layout import Paths
from bot.model import (
    ONE,
    BookTick,
    Market,
    MarketEvent,
    Mode,
    Outcome,
    Position,
    Signal,
    WindowOpened,
    WindowResolved,
)
from bot.notify import Alerts
from bot.orders import Execution, OrderManager
from bot.portfolio import Portfolio
from bot.resolution import settle_left_behind
from bot.risk import DAY_MS, RiskGate
from bot.runtime import CurrentLimits
from bot.scorecard import Scorecard
from bot.sentences import ExitTriggered, MarketResolved
from bot.statefiles import FileWriter
from bot.strategies import Strategy, WindowState
from bot.strategies.base import NOTHING_HELD
from bot.strikes import market_first_seen, strike_in_force
from bot.supervisor import Supervisor
from bot.venues.paper import PaperVenue

log = logging.getLogger("bot")

DECIDE_EVERY_MS = 1_000  # realtime venues: decide at least this often per market
START_INBOX_S = 0.2  # inbox/ is first read this long after the start: the first batch opens the markets
BACKTEST_COMMIT_ROWS = 5_000  # a backtest commits at least this often (rows kept for a retry)
WALL_EVERY = 64  # a backtest reads the wall clock every this many timestamps (~1 ms of data)
INF = float("inf")
UP, DOWN = Outcome.UP, Outcome.DOWN  # an enum member costs a lookup each time it is named
OUTCOMES = (UP, DOWN)


class Engine(StateFiles):
    """The loop and the step. Its parts are built and connected by bot/wiring.py; the
    engine moves the market time, the marks and the markets, and asks its parts to act."""

    quiet_ticks = True  # a backtest's quiet book ticks take the short way (`_replay_batch`)

    def __init__(
        self,
        *,
        paths: Paths,
        mode: Mode,
        clock: Clock,
        market_time: MarketTime,
        inbox: Inbox,
        feed: Feed,
        journal: Journal,
        activity: Activity,
        portfolio: Portfolio,
        orders: OrderManager,
        risk: RiskGate,
        limits: CurrentLimits,
        supervisor: Supervisor,
        guard: HomeGuard,
        files: FileWriter,
        scorecard: Scorecard,
        exit_policies: dict[str, ExitPolicy],
        strategies: list[Strategy],
        markets: dict[str, Market],
        market_names: dict[str, str],
        wallet: str,
        heartbeat_s: float,
        state_refresh_s: float,
        speed: float,
        live_from_ms: int,
        pid: int = 0,
        write_every_change: bool = True,
        decide_every_ms: int = 0,
        intake: Intake | None = None,
        forecasts: Forecasts | None = None,
    ) -> None:
        self.paths = paths
        self.mode = mode
        self.clock = clock
        self.market_time = market_time  # the market time of the last event (the one holder)
        self.inbox = inbox
        self.feed = feed
        self.journal = journal
        self.activity = activity
        self.portfolio = portfolio
        self.orders = orders
        self.venue = orders.venue
        self.risk = risk
        self.limits = limits
        self.supervisor = supervisor
        self.guard = guard  # refused writes and the home lock (bot/guard.py)
        self.files = files  # the state-file writer: the disk work, off the engine's thread
        self.scorecard = scorecard
        self.exit_policies = exit_policies
        self.strategies = strategies
        # each with its `acts_within_s` (bot/strategies/base.py): not asked earlier in a window
        self._asked = [(s, float(getattr(s, "acts_within_s", INF))) for s in strategies]
        self.markets = markets
        self.market_names = market_names  # every market seen, for the state files' names
        self.wallet = wallet
        self.heartbeat_s = heartbeat_s
        self.state_refresh_s = state_refresh_s
        self.speed = speed
        self.live_from_ms = live_from_ms  # earlier events are catch-up: book, don't trade
        self.pid = pid  # shown in status.json; 0 in backtests, which no one needs to signal
        # A reader of a running bot sees every fill at once; a backtest, which no one steers,
        # refreshes its files every `state_refresh_s` of wall time and writes them at the end.
        self.write_every_change = write_every_change
        self.decide_every_ms = decide_every_ms  # 0: decisions only on market events
        self._next_decision_ms = 0
        self.intake = intake  # inbox/: forecasts and order intents (None in backtests)
        # the live forecasts from inbox/, which every strategy sees (WindowState.forecasts)
        self.forecasts = forecasts if forecasts is not None else Forecasts(clock.wall_ms)
        self.on_heartbeat: Callable[[], None] | None = None  # the run's chores (`run`)
        self.views = state.Views()  # the state files' rows, rebuilt when they change
        self.last_signal: tuple[Signal, Execution] | None = None
        self.exit_reason = ""
        self.day_start_ms = supervisor.session.day_start(market_time.event_ms)
        self._running = False
        self._next_heartbeat = 0.0
        self._last_state_write = 0.0
        self._prices_moved = False
        self._checked_at = -1  # activity.added when the invariants were last checked
        self._written_at = -1  # ... and when the state files were last written
        # A backtest (no one reads its journal while it runs) commits with its state files,
        # or every BACKTEST_COMMIT_ROWS rows, not at every step; the clock mark goes with each
        # commit (a backtest is never taken back: only its last mark is read, the end's).
        self._file_failures = 0
        self.alerts: Alerts | None = None  # told each status.json written (bot/notify.py)

    @property
    def last_event_ms(self) -> int:
        """Market time of the last event handled."""
        return self.market_time.event_ms

    # -- life cycle -----------------------------------------------------------------

    def now_ms(self) -> int:
        """Market time for what the bot does between events (controls): never before the
        event it last handled, so the activity feed keeps its order."""
        return self.market_time.now_ms()

    def run(self, on_heartbeat: Callable[[], None] | None = None) -> str:
        """Trade until stopped; return why the loop ended. `on_heartbeat`: the run's own
        chores at every heartbeat (save the simulated market, venue heartbeats...)."""
        self.on_heartbeat = on_heartbeat
        self._running = True
        self._apply_controls()  # a control present at start-up acts before any order
        if self.intake is not None:  # files waiting since before the start: once markets are seen
            self.intake.recheck_at = time.monotonic() + START_INBOX_S
        self.commit()
        self.write_state(heartbeat=True)
        # the parts as locals: a backtest goes round this loop once per timestamp of its data
        feed, clock, supervisor, intake, inbox = (
            self.feed,
            self.clock,
            self.supervisor,
            self.intake,
            self.inbox.queue,
        )
        market_time, monotonic = self.market_time, time.monotonic
        replay = isinstance(clock, SimulatedClock)  # the backtest's clock: jumps to each event
        # a backtest's paper venue has no news to poll while nothing rests there
        paper = self.venue if replay and isinstance(self.venue, PaperVenue) else None
        quiet = (
            paper
            if paper is not None
            and self.quiet_ticks
            and type(paper).on_market is PaperVenue.on_market
            and intake is None
            and not self.decide_every_ms
            else None
        )
        while self._running:
            due = feed.peek_ms()
            if due is None:
                self.exit_reason = self.exit_reason or "end of market data"
                break
            if self.decide_every_ms:
                due = min(due, self._next_decision_ms)
            word = clock.wait(due, inbox, 0.0 if replay else self._wait_s())  # a replay never waits
            if word is not None and word != DATA:
                self._handle(word)
            elif supervisor.recheck_at and monotonic() >= supervisor.recheck_at:
                supervisor.recheck_at = 0.0
                self._handle(WAKE)
            elif intake is not None and intake.recheck_at and monotonic() >= intake.recheck_at:
                self._handle(WAKE)  # the rest of a flood, or a file that was still being written
            elif self.decide_every_ms:
                self._realtime_turn()
            elif quiet is not None and isinstance(clock, SimulatedClock):  # batch after batch
                self._replay(quiet, clock)  # back here for a word in the inbox or the end
                continue
            elif replay or clock.now_ms() >= due:
                for event in feed.next_batch():
                    self.step(event)
                if paper is None or paper.orders or self.orders.orders:
                    self.orders.poll(self.mode, market_time.event_ms)
                self.end_step()
            if monotonic() >= self._next_heartbeat:
                self.heartbeat()
        return self.exit_reason

    def _wait_s(self) -> float:
        """How long the loop may wait for the next event: until the next chore is due."""
        chores = (self.supervisor.recheck_at, self.intake.recheck_at if self.intake is not None else 0.0)
        return max(0.0, min([self._next_heartbeat, *(t for t in chores if t)]) - time.monotonic())

    def _realtime_turn(self) -> None:
        """DRY_RUN and LIVE: what the feed has read, then the timer's decisions, then the
        venue's news (fills, expiries) once per turn."""
        now = self.clock.now_ms()
        due = self.feed.peek_ms()
        batch = self.feed.next_batch() if due is not None and due <= now else []
        for event in batch:
            self.step(event)
        timed = now >= self._next_decision_ms
        if timed:
            self._next_decision_ms = now + self.decide_every_ms
            self.decide_on_time(max(now, self.last_event_ms))
        if batch or timed or self.orders.news_waiting():
            self.orders.poll(self.mode, self.last_event_ms)
            self.end_step()

    def decide_on_time(self, now: int) -> None:
        """Steps 3-5 for every market whose book has not moved for `decide_every_ms`: the
        last book, seen at `now`. The venue is not told (nothing new happened there)."""
        self.market_time.event_ms = now
        marks = self.portfolio.marks
        for market_id in list(self.markets):
            mark = marks.get(market_id)
            if mark is None or now - mark.ts_ms < self.decide_every_ms:
                continue
            tick = BookTick(
                now, market_id, mark.bid, mark.bid_size, mark.ask, mark.ask_size, mark.fair_forecast
            )
            tick.underlying = mark.underlying
            self._decide(tick)

    def _handle(self, word: str) -> None:
        while True:  # coalesce a burst of file events into one scan
            if word == STOP:
                self.exit_reason = self.exit_reason or "stop requested (Ctrl-C or SIGTERM)"
                self.supervisor.stop(self.exit_reason)
                self._running = False
            try:
                word = self.inbox.queue.get_nowait()
            except queue.Empty:
                break
        if self._running:
            self._apply_controls()
            if self._running:
                self._take_inbox()
            self.commit()
            self._answer_inbox()
            self.write_state(heartbeat=True)

    def _take_inbox(self) -> None:
        """Forecasts and order intents in inbox/ (bot/intake.py), after the controls."""
        if self.intake is not None:
            self.intake.take()

    def _answer_inbox(self) -> None:
        """After the commit: each handled inbox file moves to inbox/done/ with its answer."""
        if self.intake is not None:
            self.intake.answer()

    def _apply_controls(self) -> None:
        supervisor = self.supervisor
        supervisor.apply_controls()
        if supervisor.stopped_by:  # EMERGENCY_STOP: the loop ends
            self.exit_reason = supervisor.stopped_by
            self._running = False

    # -- the step ---------------------------------------------------------------------

    def step(self, event: MarketEvent) -> None:
        self.market_time.event_ms = event.ts_ms
        # 1 the market and the marks move
        if type(event) is BookTick:
            if event.market_id not in self.markets:
                return
            self.portfolio.marks[event.market_id] = event
            self._prices_moved = True
            reports = self.venue.on_market(event)  # 2 the venue reports fills, which are booked
            if reports:
                self.orders.apply(reports)
            self._decide(event)
            return
        if isinstance(event, WindowOpened):
            known = self.markets.get(event.market.market_id)
            if known is not None:
                if known == event.market:
                    return
                self._market_changed(known, event)
            else:
                self.markets[event.market.market_id] = event.market
                self.market_names[event.market.market_id] = event.market.name
                market_first_seen(event.market, self.journal, self.feed, event.ts_ms)
        elif isinstance(event, WindowResolved):
            if event.market_id not in self.markets:
                return
            resolved = self._resolved(event)
        # 2 the venue reports; fills, expiries and settlements are booked
        reports = self.venue.on_market(event)
        if reports:
            self.orders.apply(reports)
        if type(event) is WindowResolved and self.portfolio.positions:
            # LIVE: what the venue pays only on redemption (bot/resolution.py)
            settle_left_behind(
                event, resolved, self.portfolio, self.orders.apply, self.journal, self.activity, self.mode
            )

    def _replay(self, paper: PaperVenue, clock: SimulatedClock) -> None:
        """A backtest on the paper venue: what the run loop does with each batch, batch after
        batch, until the data ends or a word comes to the inbox (a stop: no operator steers a
        backtest); then back to the run loop, which ends or handles it. Not round the run loop
        for each timestamp: a replay never waits, has no timer and nothing to recheck, and the
        wall clock (the state files' refresh, the heartbeat) is read every WALL_EVERY batches."""
        feed, inbox, orders, mode, supervisor = (
            self.feed,
            self.inbox.queue,
            self.orders,
            self.mode,
            self.supervisor,
        )
        advance, market_time = clock.advance, self.market_time
        batches = 0
        while True:
            self._replay_batch(feed.next_batch(), paper)
            if paper.orders or orders.orders:
                orders.poll(mode, market_time.event_ms)
            batches += 1
            wall = not batches % WALL_EVERY
            self.end_step(wall)
            if wall and time.monotonic() >= self._next_heartbeat:
                self.heartbeat()
            due = feed.peek_ms()
            if due is None or not inbox.empty() or supervisor.recheck_at or not self._running:
                return
            advance(due)  # to the next batch; a word that comes now waits for the check above

    def _replay_batch(self, batch: list[MarketEvent], paper: PaperVenue) -> None:
        """A backtest's batch: `step` for each event, but a quiet book tick takes the short way
        (marks, then the strategies). Quiet: its market is open, nothing rests at the paper
        venue, no position in the market, no flatten, live. Then `step` would do only this:
        the venue with no order just keeps the book (`PaperVenue.on_market`), `_exits` finds
        no position in the market, and there is no flatten to continue. The same files either
        way (tests/unit/test_quiet_ticks.py, with `quiet_ticks` off)."""
        ts = batch[0].ts_ms  # a batch's events share their time
        if self.supervisor.flattening or ts < self.live_from_ms:  # a flatten starts between batches
            for event in batch:
                self.step(event)
            return
        self.market_time.event_ms = ts
        markets, marks, positions, books = (
            self.markets,
            self.portfolio.marks,
            self.portfolio.positions,
            paper.ticks,
        )
        for event in batch:
            if (
                type(event) is BookTick
                and not paper.orders
                and (market_id := event.market_id) in markets
                and not (positions and ((market_id, UP) in positions or (market_id, DOWN) in positions))
            ):
                marks[market_id] = event
                self._prices_moved = True
                books[market_id] = event
                self._evaluate(event)
            else:
                self.step(event)

    def _decide(self, event: BookTick) -> None:
        # 3 exits: one decision per position; a flatten sells what is left
        if self.portfolio.positions:
            self._exits(event)
        if self.supervisor.flattening:
            self.supervisor.continue_flatten(event.ts_ms)
        # 4-5 strategies propose, the order manager disposes
        if event.ts_ms >= self.live_from_ms:
            self._evaluate(event)

    def end_step(self, wall: bool = True) -> None:
        """6-7: commit the journal, check the invariants, then let the files show it. `wall`:
        whether the state files' refresh looks at the wall clock (a backtest: not each step)."""
        now = self.market_time.event_ms
        if not self.day_start_ms <= now < self.day_start_ms + DAY_MS:  # a new trading day
            self.day_start_ms = self.supervisor.session.day_start(now)
            self.portfolio.roll_day(self.day_start_ms)
        added = self.activity.added
        if added != self._checked_at:  # something happened in this step
            self._checked_at = added
            self.supervisor.check_invariants()
        changed = self.activity.added != self._written_at
        write = (changed and self.write_every_change) or (
            wall
            and (changed or self._prices_moved)
            and time.monotonic() - self._last_state_write >= self.state_refresh_s
        )
        if write or self.write_every_change or self.journal.pending >= BACKTEST_COMMIT_ROWS:
            self.commit()
        if write:
            self.write_state()

    def _exits(self, tick: BookTick) -> None:
        market = self.markets[tick.market_id]
        for outcome in OUTCOMES:
            position = self.portfolio.positions.get((tick.market_id, outcome))
            if position is None:
                continue
            bid = tick.bid if outcome is UP else ONE - tick.ask  # book_for(tick, outcome)[0]
            if position.state in exits.OPEN_STATES:
                if bid > position.peak:
                    position.peak = bid
                policy = self.exit_policies.get(position.strategy) or self.exit_policies[""]
                decision = exits.decide(position, bid, tick.ts_ms, market.window_end_ms, policy)
                if decision is not None:
                    self._trigger(position, decision, tick.ts_ms)
            elif not self.orders.exiting(position):  # what a partial exit left: sell it
                self.orders.exit_position(position, self.mode, tick.ts_ms, position.exit_reason)

    def _trigger(self, position: Position, decision: exits.ExitDecision, now: int) -> None:
        position.state = decision.trigger
        position.exit_trigger = decision.trigger
        position.exit_threshold = decision.threshold
        position.trigger_price = decision.trigger_price
        position.intended_exit_price = decision.intended_price
        self.activity.emit(now, ExitTriggered(position, decision))
        self.orders.exit_position(position, self.mode, now, decision.trigger.value)
        if position.state is not Lifecycle.CLOSED:
            self.journal.save_position(position, self.mode, "OPEN", None)

    def _evaluate(self, tick: BookTick) -> None:
        # this runs once per book tick of a backtest: locals, and no work a tick does not need
        market_id = tick.market_id
        market = self.markets[market_id]
        positions = self.portfolio.positions
        holding = NOTHING_HELD
        if positions:
            held = {o: p.shares for o in OUTCOMES if (p := positions.get((market_id, o))) is not None}
            if held:
                holding = MappingProxyType(held)
        orders = self.orders
        now = tick.ts_ms
        seconds_left = (market.window_end_ms - now) / 1000
        # one read-only view of the window per tick, shown to each strategy with its own entries
        window = WindowState(
            market,
            tick,
            now,
            holding,
            orders.open_in(market_id) if orders.orders else 0,
            0,
            seconds_left,
            self.forecasts.live(market_id) if self.forecasts.waiting else (),
        )
        entries = orders.entries
        # no entry of any strategy in this window yet (orders.window_entries is their sum)
        placed = orders.window_entries.get(market_id, 0)
        for strategy, acts_within_s in self._asked:
            if seconds_left > acts_within_s:  # it proposes nothing this early in a window
                continue
            n = entries.get((market_id, strategy.name), 0) if placed else 0
            signal = strategy.evaluate(window if n == window.entries else window.for_strategy(n))
            if signal is not None:
                result = orders.execute(signal, self.mode, tick)
                self.last_signal = (signal, result)  # shown in status.json (bot/state.py)

    def _resolved(self, event: WindowResolved) -> Market:
        market = self.markets.pop(event.market_id)
        self.journal.market_resolved(event.market_id, event.outcome, event.ts_ms)
        self.activity.emit(event.ts_ms, MarketResolved(market, event))
        self.orders.forget_market(event.market_id)
        self.forecasts.forget(event.market_id)
        if not any(key[0] == event.market_id for key in self.portfolio.positions):
            self.portfolio.marks.pop(event.market_id, None)  # rolling windows: none kept for days
        return market

    def _market_changed(self, known: Market, event: WindowOpened) -> None:
        """The venue changed a market's rules (tick, minimum size), or a new strike is in force
        (bot/strikes.py): the engine, the risk gates and the strategies use them from here on."""
        market = strike_in_force(known, event.market, self.journal, self.feed, event.ts_ms)
        self.markets[market.market_id] = market
        changes = [
            f"{name} {getattr(known, field) / ONE:g} -> {getattr(market, field) / ONE:g}"
            for name, field in (("tick", "tick"), ("minimum size", "min_size"))
            if getattr(known, field) != getattr(market, field)
        ]
        if changes:
            detail = "market rules: " + ", ".join(changes)
            self.activity.add(event.ts_ms, "MARKET_CHANGED", market.market_id, detail)

    # -- journal and files ------------------------------------------------------------

    def commit(self) -> None:
        """Commit, then append the logs. A refused write halts the bot (bot/guard.py); the
        rows wait in the journal and the lines in memory, retried every `guard.retry_s`."""
        while self.guard.may_write():
            try:
                if self.journal.conn.in_transaction:  # the market time of the rows, with them
                    self.journal.set_meta(f"clock_ms:{self.mode.value}", str(self.market_time.event_ms))
                    self.journal.commit()
                self.activity.flush()
                return
            except (StorageError, OSError) as exc:
                what = storage.describe(exc)
                if what is None:
                    raise
                if not self.guard.failed(what):  # the first time, once more at once
                    return

    def heartbeat(self) -> None:
        if self.on_heartbeat is not None:
            self.on_heartbeat()
        if self.files.failures != self._file_failures:  # the disk refused a state file
            self._file_failures = self.files.failures
            self.activity.add(self.market_time.event_ms, "ERROR", "System", self.files.last_error)
            what = storage.describe(self.files.last_exc) if self.files.last_exc else None
            if what is not None:
                self.guard.failed(what)
        self.guard.heartbeat()
        self.supervisor.check_invariants(deep=True)
        self._take_inbox()  # a file whose event was missed, or that stopped changing
        self.commit()
        self._answer_inbox()
        self.write_state(heartbeat=True)
