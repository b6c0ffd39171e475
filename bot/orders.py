"""OrderManager: the one path from a signal to a venue, and from venue events to the books.

`execute(signal, mode)` is the same for every mode; the mode only picks the venue (the
fill source). Before every entry it re-checks the control files on disk, because a file
watcher can miss an event. This module places, cancels and asks the venue; what the venue
reports (fills, expiries, cancellations, settlements) is booked by `bot/booking.py`
(`OrderBooking.apply`), which `OrderManager` extends.

An order the venue could not confirm comes back UNKNOWN and is booked like any other: it counts
against the caps and blocks new entries in its market until the venue says what became of it.
A post that failed without a definite answer is re-sent as the same intent (client id and
created time kept).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bot import controls
from bot.activity import Activity
from bot.booking import OrderBooking
from bot.errors import Reaction, VenueError, reaction
from bot.exits import HELD_STATES, OPEN_STATES, Lifecycle
from bot.fairvalue import signal_fields
from bot.journal import Journal
from bot.model import (
    ONE,
    Action,
    BookTick,
    Fill,
    Intent,
    Market,
    Micros,
    Mode,
    Order,
    OrderDone,
    OrderRequest,
    OrderStatus,
    OrderType,
    Outcome,
    Position,
    Settlement,
    Signal,
    book_for,
    iso,
    notional,
)
from bot.portfolio import Portfolio
from bot.risk import Decision, Exposure, RiskGate
from bot.sentences import (
    CancelFailed,
    OrderConfirmed,
    OrderPlaced,
    OrderRejected,
    PositionBelowMinimum,
    PositionDust,
    RiskRejected,
    VenueAnswering,
    VenuePollFailed,
    VenueWaiting,
)
from bot.venues.base import NewsSource, Venue, tracks_order_status


@dataclass(slots=True)  # read-only by convention; not frozen, for speed (see model.BookTick)
class Execution:
    executed: bool
    reason: str = ""
    order: Order | None = None


def _no_block() -> str:
    return ""


class OrderManager(OrderBooking):
    def __init__(
        self,
        *,
        venue: Venue,
        journal: Journal,
        portfolio: Portfolio,
        activity: Activity,
        risk: RiskGate,
        markets: dict[str, Market],
        controls_dir: Path | None,
        on_settled: Callable[[Settlement, Position | None], None],
        entry_block: Callable[[], str] | None = None,
        on_venue_error: Callable[[VenueError, int], None] | None = None,
        on_skip: Callable[[str, str], None] | None = None,
        feed_age_ms: Callable[[str, int], int | None] | None = None,
        feed_dropped: Callable[[str], str | None] | None = None,
        stale_feed_ms: int = 10_000,
        exit_min_notional: Micros | None = None,
    ) -> None:
        self.venue = venue  # one venue per run: the mode's
        self.journal = journal
        self.portfolio = portfolio
        self.activity = activity
        self.risk = risk
        self.markets = markets
        self.controls_dir = str(controls_dir) if controls_dir is not None else None
        # the supervisor answers these two (bot/supervisor.py takes them on when it is built)
        self.entry_block: Callable[[], str] = entry_block or _no_block
        self.on_settled = on_settled
        self.on_venue_error = on_venue_error
        self.on_skip = on_skip
        self.orders: dict[str, Order] = {}  # open orders
        self.entries: Counter[tuple[str, str]] = Counter()  # (market, strategy) -> entries
        self.window_entries: Counter[str] = Counter()  # market -> entries of every strategy
        self._last_skip: dict[tuple[str, str, Outcome], str] = {}
        self._held_rest: set[int | None] = set()  # positions whose remainder is below the minimum
        self.backoff_until = 0.0  # monotonic time before which nothing is sent to the venue
        self._backoff_s = 0.0
        self.feed_age_ms = feed_age_ms  # live feeds only
        self.feed_dropped = feed_dropped  # the rolling feed: why it no longer follows a market
        self._tick: BookTick | None = None  # the book of the signal being executed
        self.stale_feed_ms = stale_feed_ms
        self._done: dict[str, Order] = {}  # recently closed, for late fills
        # intents whose post failed before the venue answered: a re-send keeps the client id and
        # created time, so a live venue signs the same order and de-duplicates it
        self._intents: dict[str, tuple[str, int]] = {}
        self.on_orphan_fill: Callable[[Fill], None] | None = None  # LIVE: halt and report
        self._orphans: set[str] = set()
        self._busy_since = 0.0  # monotonic time the venue began to ask us to wait (425); 0: not
        # LIVE: exits are market orders (FAK), whose minimum is a notional (~$1), not a share
        # count; None: the market's share minimum applies to every order (paper fill model)
        self.exit_min_notional = exit_min_notional
        self.cannot_exit: dict[tuple[str, Outcome], str] = {}  # why the last exit try failed
        self._last_refusal = ""
        self._blocked = Decision()  # the refusal while entries are stopped (`check`)
        self._refused = (Decision(), Execution(False))  # the last refusal's answer (`_skipped`)
        # LIVE: the venue's news is read on a thread of its own (bot/venues/polymarket/poll.py)
        self.poller: NewsSource | None = None

    def _venue_for(self, mode: Mode) -> Venue:
        """The run's venue, which must be the one of `mode`."""
        if mode is not self.venue.mode:
            raise KeyError(f"no {mode.value} venue: this run's venue is {self.venue.mode.value}")
        return self.venue

    def news_waiting(self) -> bool:
        """A read of the venue's news waits to be booked (`poll`)."""
        return self.poller is not None and self.poller.ready()

    def restore(self, orders: list[Order]) -> None:
        for order in orders:
            self.orders[order.order_id] = order
            if order.intent is Intent.ENTRY:
                self.entries[(order.market_id, order.strategy)] += 1
                self.window_entries[order.market_id] += 1

    def restore_window_entries(self, rows: Iterable[tuple[str, str]]) -> None:
        """Entry orders already placed in still-open windows (any status), from the journal."""
        self.entries.clear()
        self.window_entries.clear()
        for market_id, strategy in rows:
            self.entries[(market_id, strategy)] += 1
            self.window_entries[market_id] += 1

    def forget_market(self, market_id: str) -> None:
        for key in [k for k in self.entries if k[0] == market_id]:
            del self.entries[key]
        for skip in [k for k in self._last_skip if k[1] == market_id]:
            del self._last_skip[skip]
        self.window_entries.pop(market_id, None)
        for outcome in (Outcome.UP, Outcome.DOWN):
            self.cannot_exit.pop((market_id, outcome), None)

    # -- queries --------------------------------------------------------------------

    def open_orders(self) -> list[Order]:
        return list(self.orders.values())

    def exiting(self, position: Position) -> bool:
        return any(
            o.intent is Intent.EXIT and o.market_id == position.market_id and o.outcome is position.outcome
            for o in self.orders.values()
        )

    def open_in(self, market_id: str) -> int:
        return sum(1 for o in self.orders.values() if o.market_id == market_id)

    # -- the one path to a venue ------------------------------------------------------

    def execute(self, signal: Signal, mode: Mode, tick: BookTick | None = None) -> Execution:
        """Turn an entry signal into an order on the venue of `mode`, or say why not. `tick`:
        the book it came from (its fair value goes to signals.jsonl)."""
        self._tick = tick
        venue = self._venue_for(mode)
        now = signal.ts_ms
        try:
            decision = self.check(signal, venue)
        except VenueError as exc:  # the balance could not be read
            self.venue_failed(exc, now)
            decision = Decision(reason=f"venue balance unavailable: {exc}", limit="venue")
        if not decision.ok:
            return self._skipped(signal, decision)
        client_id, created = self._intent(f"{signal.strategy}:{signal.market_id}:{signal.outcome.value}", now)
        request = OrderRequest(
            client_id=client_id,
            market_id=signal.market_id,
            outcome=signal.outcome,
            action=signal.action,
            price=signal.price,
            size=decision.size,
            order_type=signal.order_type,
            expires_ms=now + signal.ttl_s * 1000 if signal.ttl_s else None,
            intent=Intent.ENTRY,
            created_ms=created,
        )
        order = self._place(venue, request, now, signal.strategy, signal.edge, signal.reason)
        if order is None:
            return self._skipped(signal, Decision(reason="the venue refused the order", limit="venue"))
        self.entries[(signal.market_id, signal.strategy)] += 1
        self.window_entries[signal.market_id] += 1
        # the refusal before this entry is recorded again if it comes back after it
        self._last_skip.pop((signal.strategy, signal.market_id, signal.outcome), None)
        self._record_signal(signal, True, "", order.order_id)
        return Execution(True, "", order)

    def check(self, signal: Signal, venue: Venue) -> Decision:
        """Every gate an entry passes before it may reach the venue (bot/risk.py)."""
        blocked = self.entry_block()
        if blocked:  # while a limit holds, every tick's proposal ends here: one Decision for it
            if blocked != self._blocked.reason:
                self._blocked = Decision(reason=blocked, limit="trading_state")
            return self._blocked
        if self.controls_dir is not None:
            found = controls.quick_check(self.controls_dir)
            if found is not None:
                return Decision(reason=f"control file {found.value} present", limit="controls")
        market = self.markets.get(signal.market_id)
        if market is None:
            return self._not_open(signal.market_id)
        wait = self.backoff_until - time.monotonic()
        if wait > 0:
            return Decision(reason=f"the venue failed; next try in {wait:.1f} s", limit="venue_backoff")
        if any(
            o.status is OrderStatus.UNKNOWN and o.market_id == market.market_id for o in self.orders.values()
        ):
            return Decision(
                reason="an order in this market is UNKNOWN until reconciled", limit="unknown_order"
            )
        if self.feed_age_ms is not None:
            age = self.feed_age_ms(market.market_id, signal.ts_ms)
            if age is None or age > self.stale_feed_ms:
                return self._no_fresh_book(market.market_id, age)
        locked = 0
        market_locked = 0
        token_locked = 0
        for o in self.orders.values():
            amount = o.locked
            locked += amount
            if o.market_id == signal.market_id:
                market_locked += amount
                if o.outcome is signal.outcome:
                    token_locked += amount
        positions = self.portfolio.positions
        in_market = sum(
            p.cost + p.fees
            for key in ((signal.market_id, Outcome.UP), (signal.market_id, Outcome.DOWN))
            if (p := positions.get(key)) is not None
        )
        held = positions.get((signal.market_id, signal.outcome))
        exposure = Exposure(
            venue_balance=venue.balance(),
            locked=locked,
            deployed=self.portfolio.deployed(),
            open_orders=len(self.orders),
            market_exposure=in_market + market_locked,
            window_orders=self.window_entries[signal.market_id],
            exiting=held is not None and held.state not in OPEN_STATES,
            position_cost=token_locked + (held.cost + held.fees if held is not None else 0),
        )
        return self.risk.check_entry(signal, market, signal.ts_ms, exposure)

    def _not_open(self, market_id: str) -> Decision:
        """A market the engine does not hold: resolved (the journal says how), or never seen."""
        won = self.journal.winning_outcome(market_id)
        if won:
            return Decision(reason=f"market {market_id} has resolved ({won}): no more orders", limit="market")
        return Decision(reason=f"unknown market {market_id}: this bot has not seen it open", limit="market")

    def _no_fresh_book(self, market_id: str, age: int | None) -> Decision:
        """No book to judge an entry by: the feed dropped the market (it resolved, and the
        engine has not been told yet), has not read its book yet, or its book is old (feed down)."""
        dropped = self.feed_dropped(market_id) if self.feed_dropped is not None else None
        if dropped:
            return Decision(reason=f"market no longer followed: {dropped}", limit="market_dropped")
        if age is None:
            return Decision(reason="no book read yet for this market", limit="stale_feed")
        limit_s = self.stale_feed_ms / 1000
        reason = f"market data is stale (last book {age / 1000:.1f} s ago, limit {limit_s:g} s)"
        return Decision(reason=reason, limit="stale_feed", repeats_as="market data is stale")

    def why_held(self, position: Position) -> str:
        """Why no order can sell this position now ("" when one can be tried)."""
        if position.state == Lifecycle.DUST:
            return "dust: below the venue's smallest sell, held to resolution"
        if position.state == Lifecycle.AWAITING_REDEMPTION:
            return "market resolved in its favour (or 50/50): awaiting redemption on chain"
        if position.position_id in self._held_rest:
            return "below the market minimum size, held to resolution"
        if position.market_id not in self.markets:
            return "its market is closed"
        return ""

    def exit_position(self, position: Position, mode: Mode, now: int, reason: str) -> bool:
        """Sell the whole position at the best bid, taking what is there (FAK)."""
        if self.exiting(position) or position.state in HELD_STATES:
            return False
        key = (position.market_id, position.outcome)
        tick = self.portfolio.marks.get(position.market_id)
        if tick is None:
            self.cannot_exit[key] = "no order book seen yet"
            return False
        market = self.markets.get(position.market_id)
        if self.exit_min_notional is not None and market is not None:
            bid = book_for(tick, position.outcome)[0]
            if bid < market.tick:
                self.cannot_exit[key] = "no bid in the book"
                return False
            value = notional(bid, position.shares)
            if value < self.exit_min_notional:
                position.state = Lifecycle.DUST
                if not position.exit_trigger:
                    position.exit_trigger, position.exit_threshold = reason, "operator control"
                self.journal.save_position(position, self.portfolio.mode, "OPEN", None)
                self.activity.emit(now, PositionDust(position, value, bid, self.exit_min_notional))
                return False
        elif market is not None and position.shares < market.min_size:
            # the venue refuses sells below its minimum: what is left is held to resolution
            if position.position_id not in self._held_rest:
                self._held_rest.add(position.position_id)
                self.activity.emit(now, PositionBelowMinimum(position, market.min_size))
            position.state = Lifecycle.EXIT_PENDING
            if not position.exit_trigger:
                position.exit_trigger, position.exit_threshold = reason, "operator control"
            return False
        bid = book_for(tick, position.outcome)[0]
        client_id, created = self._intent(f"exit:{position.market_id}:{position.outcome.value}", now)
        request = OrderRequest(
            client_id=client_id,
            market_id=position.market_id,
            outcome=position.outcome,
            action=Action.SELL,
            price=bid,
            size=position.shares,
            order_type=OrderType.FAK,
            expires_ms=None,
            intent=Intent.EXIT,
            created_ms=created,
        )
        working_entries = [
            o.order_id
            for o in self.orders.values()
            if o.intent is Intent.ENTRY
            and o.market_id == position.market_id
            and o.outcome is position.outcome
        ]
        if working_entries:  # nothing may add to a position that is being exited
            self.cancel(working_entries, mode, now, f"{reason}: position exiting")
        position.exit_reason = reason
        position.state = Lifecycle.EXIT_PENDING
        if not position.exit_trigger:  # an operator's FLATTEN or EMERGENCY_STOP
            position.exit_trigger = reason
            position.exit_threshold = "operator control"
            position.trigger_price = position.intended_exit_price = bid
        self._last_refusal = ""
        if self._place(self._venue_for(mode), request, now, position.strategy, 0, reason) is None:
            self.cannot_exit[key] = self._last_refusal or "the venue is backing off after errors"
            return False
        self.cannot_exit.pop(key, None)
        return True

    def cancel(self, order_ids: Iterable[str], mode: Mode, now: int, reason: str) -> int:
        venue = self._venue_for(mode)
        count = 0
        for order_id in list(order_ids):
            try:
                events = venue.cancel(order_id, now, reason)
            except VenueError as exc:
                self.activity.emit(now, CancelFailed(order_id, exc))
                self.venue_failed(exc, now)
                continue
            count += sum(1 for e in events if isinstance(e, OrderDone))
            self.apply(events)
        return count

    def cancel_all(self, mode: Mode, now: int, reason: str) -> int:
        """The venue's cancel-all (one request on a real venue), then what it did not report."""
        try:
            events = self._venue_for(mode).cancel_all(now, reason)
        except VenueError as exc:
            self.activity.emit(now, CancelFailed(None, exc))
            self.venue_failed(exc, now)
            events = []
        count = sum(1 for e in events if isinstance(e, OrderDone))
        self.apply(events)
        return count + self.cancel(list(self.orders), mode, now, reason)

    def poll(self, mode: Mode, now: int) -> None:
        """What the venue has for us: fills, expiries, late fills, UNKNOWN orders resolved.
        Nothing is asked while backing off; a busy venue (425) is logged once, not per poll."""
        if time.monotonic() < self.backoff_until:
            return
        venue = self._venue_for(mode)
        try:
            events = venue.poll(now) if self.poller is None else self.poller.poll(now)
            if events is None:  # read on the poller's thread: nothing new yet
                return
        except VenueError as exc:
            if reaction(exc) is not Reaction.WAIT:
                self.activity.emit(now, VenuePollFailed(exc))
            elif not self._busy_since:
                self._busy_since = time.monotonic()
                self.activity.emit(now, VenueWaiting(exc))
            self.venue_failed(exc, now)
            return
        if self._busy_since:
            self.activity.emit(now, VenueAnswering(time.monotonic() - self._busy_since))
            self._busy_since = 0.0
        if events:
            self.apply(events)
        if self.orders and tracks_order_status(venue):  # an UNKNOWN order found resting: it is OPEN
            for order in self.orders.values():
                if (
                    order.status is OrderStatus.UNKNOWN
                    and venue.order_status(order.order_id) is OrderStatus.OPEN
                ):
                    order.status = OrderStatus.PARTIALLY_FILLED if order.filled else OrderStatus.OPEN
                    self.journal.save_order(order, self.portfolio.mode, now)
                    self.activity.emit(now, OrderConfirmed(order))

    def cancel_entries(self, mode: Mode, now: int, reason: str) -> int:
        ids = [o.order_id for o in self.orders.values() if o.intent is Intent.ENTRY]
        return self.cancel(ids, mode, now, reason)

    def venue_failed(self, exc: VenueError, now: int) -> None:
        """Retry with backoff: nothing goes to the venue until it has had time to recover.
        A refused order (SKIP) is a definite answer: no backoff, and not the breaker's."""
        if reaction(exc) is Reaction.SKIP:
            return
        retry_after = getattr(exc, "retry_after_s", None)
        self._backoff_s = min(30.0, max(1.0, self._backoff_s * 2))
        self.backoff_until = time.monotonic() + max(self._backoff_s, retry_after or 0.0)
        if self.on_venue_error is not None:
            self.on_venue_error(exc, now)

    def venue_ok(self) -> None:
        self._backoff_s = 0.0

    def _intent(self, key: str, now: int) -> tuple[str, int]:
        """(client id, created ms) for the next order of `key`: the pending one's, if a post
        of it failed without a definite answer; else a new one."""
        return self._intents.setdefault(key, (f"{key}:{now}", now))

    def _place(
        self, venue: Venue, request: OrderRequest, now: int, strategy: str, edge: int, reason: str
    ) -> Order | None:
        if time.monotonic() < self.backoff_until:
            return None
        intent_key = request.client_id.rsplit(":", 1)[0]
        try:
            order, events = venue.place(request, now)
        except VenueError as exc:
            if reaction(exc) is Reaction.SKIP:  # a definite answer: the next order is a new intent
                self._intents.pop(intent_key, None)
            self.venue_failed(exc, now)
            self._last_refusal = f"refused: {exc}"
            self.activity.emit(now, OrderRejected(request, exc))
            return None
        self._intents.pop(intent_key, None)
        self.venue_ok()
        order.strategy = strategy
        order.edge = edge
        order.reason = reason
        self.orders[order.order_id] = order
        self.journal.save_order(order, venue.mode, now)
        self.activity.emit(now, OrderPlaced(order, strategy, reason))
        self.apply(events)
        return order

    def _skipped(self, signal: Signal, decision: Decision) -> Execution:
        last, answer = self._refused
        if decision is not last:  # the same refusal as the last one (a limit holds): its answer
            answer = Execution(False, f"{decision.reason} [{decision.limit}]")
            self._refused = (decision, answer)
        reason = answer.reason
        # A strategy repeats its signal every tick while a gate holds; record each change only.
        key = (signal.strategy, signal.market_id, signal.outcome)
        seen = decision.repeats_as or reason
        if self._last_skip.get(key) != seen:
            self._last_skip[key] = seen
            if decision.limit not in ("trading_state", "controls", "market", "venue"):
                self.activity.emit(signal.ts_ms, RiskRejected(signal, decision.reason, decision.limit))
            self._record_signal(signal, False, reason, None)
            if self.on_skip is not None:
                self.on_skip(signal.strategy, reason)
        return answer

    def _record_signal(self, signal: Signal, executed: bool, skip_reason: str, order_id: str | None) -> None:
        tick = self._tick if self._tick is not None and self._tick.market_id == signal.market_id else None
        fair = (
            signal_fields(signal.ts_ms, tick.fair_forecast, tick.fair_info)
            if tick is not None
            else signal_fields(signal.ts_ms, None, None, has_tick=False)
        )
        self.activity.signal(
            {
                "timestamp": iso(signal.ts_ms),
                "ts_ms": signal.ts_ms,
                "strategy": signal.strategy,
                "market_id": signal.market_id,
                "outcome": signal.outcome.value,
                "action": signal.action.value,
                "price": signal.price / ONE,
                "price_micros": signal.price,
                "edge": round(signal.edge * 100 / ONE, 2),
                "edge_micros": signal.edge,
                "score": round(signal.score, 6),
                "reason": signal.reason,
                "executed": executed,
                "skip_reason": skip_reason,
                "order_id": order_id,
                **fair,
            }
        )
