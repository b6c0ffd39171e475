"""Activity sentences: the human lines of logs/activity.jsonl, the journal's activity table and
the terminal, each made here from a typed event.

A caller says what happened (`OrderFilled(fill, order)`) and `Activity.emit(ts_ms, event)`
writes it: the activity type, the market column, the sentence and the extra JSON fields all
come from the event. The sentences are part of what operators and tests read: change them
here, knowingly.

Order placing (bot/orders.py), order booking (bot/booking.py) and market resolution
(bot/resolution.py) and the engine's step (exits, resolutions) speak through these; the
supervisor and the start-up still call `Activity.add` with their own text (to move here next).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bot.exits import ExitDecision, Lifecycle
from bot.model import (
    ONE,
    Fill,
    Market,
    Micros,
    Order,
    OrderDone,
    OrderRequest,
    OrderStatus,
    Outcome,
    Position,
    Signal,
    WindowResolved,
    iso,
    notional,
    resolution_name,
    usd,
)

SYSTEM = "System"  # the market column of what concerns no one market


class Sentence:
    """An event of the activity feed: its type, market, sentence and extra JSON fields."""

    kind: ClassVar[str]

    @property
    def market(self) -> str:
        return SYSTEM

    def text(self) -> str:
        raise NotImplementedError

    def data(self) -> dict[str, Any]:
        return {}


class AboutOrder(Sentence):
    """A sentence about one order (an `order` field): its market."""

    order: Order

    @property
    def market(self) -> str:
        return self.order.market_id


class AboutPosition(Sentence):
    """A sentence about one position (a `position` field): its market, its id in the JSON."""

    position: Position

    @property
    def market(self) -> str:
        return self.position.market_id

    def data(self) -> dict[str, Any]:
        return {"position_id": self.position.position_id}


# -- placing orders ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderPlaced(AboutOrder):
    kind: ClassVar[str] = "ORDER_PLACED"
    order: Order
    strategy: str
    reason: str

    def text(self) -> str:
        o = self.order
        ttl = f", expires {iso(o.expires_ms)}" if o.expires_ms else ""
        unknown = (
            " (UNKNOWN: not confirmed, reconciled with the venue)" if o.status is OrderStatus.UNKNOWN else ""
        )
        return (
            f"{o.action.value} {o.size / ONE:g} {o.outcome.value} @ {o.price / ONE:g}"
            f" ({o.order_type.value}{ttl}) {o.order_id} [{self.strategy}] {self.reason}{unknown}"
        )

    def data(self) -> dict[str, Any]:
        return {"order_id": self.order.order_id, "status": self.order.status.value}


@dataclass(frozen=True, slots=True)
class OrderConfirmed(AboutOrder):
    """An UNKNOWN order the venue found resting."""

    kind: ClassVar[str] = "ORDER_PLACED"
    order: Order

    def text(self) -> str:
        return f"{self.order.order_id} confirmed resting"


@dataclass(frozen=True, slots=True)
class OrderRejected(Sentence):
    kind: ClassVar[str] = "ORDER_REJECTED"
    request: OrderRequest
    error: Exception

    @property
    def market(self) -> str:
        return self.request.market_id

    def text(self) -> str:
        r = self.request
        return (
            f"{r.action.value} {r.size / ONE:g} {r.outcome.value} @ {r.price / ONE:g} refused: {self.error}"
        )


@dataclass(frozen=True, slots=True)
class RiskRejected(Sentence):
    kind: ClassVar[str] = "RISK_REJECTED"
    signal: Signal
    reason: str
    limit: str

    @property
    def market(self) -> str:
        return self.signal.market_id

    def text(self) -> str:
        s = self.signal
        return f"{s.strategy} {s.action.value} {s.outcome.value}: {self.reason}"

    def data(self) -> dict[str, Any]:
        return {"limit": self.limit}


@dataclass(frozen=True, slots=True)
class CancelFailed(Sentence):
    """A cancel the venue did not carry out; `order_id` None: the cancel-all."""

    kind: ClassVar[str] = "ERROR"
    order_id: str | None
    error: Exception

    @property
    def market(self) -> str:
        return ""

    def text(self) -> str:
        if self.order_id is None:
            return f"cancel-all failed: {self.error}; cancelling one by one"
        return f"cancel {self.order_id} failed: {self.error}"


@dataclass(frozen=True, slots=True)
class VenuePollFailed(Sentence):
    kind: ClassVar[str] = "ERROR"
    error: Exception

    def text(self) -> str:
        return f"venue poll failed: {self.error}"


@dataclass(frozen=True, slots=True)
class VenueWaiting(Sentence):
    """The venue asked us to wait (425): said once, when it starts."""

    kind: ClassVar[str] = "ERROR"
    error: Exception

    def text(self) -> str:
        return f"venue busy, backing off until it answers: {self.error}"


@dataclass(frozen=True, slots=True)
class VenueAnswering(Sentence):
    kind: ClassVar[str] = "BALANCE_CHECK"
    waited_s: float

    def text(self) -> str:
        return f"venue answering again after {self.waited_s:.0f} s"


# -- positions that no order can sell ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionDust(AboutPosition):
    """Worth less at the bid than the venue's smallest market order (LIVE)."""

    kind: ClassVar[str] = "POSITION_EXIT"
    position: Position
    value: Micros
    bid: Micros
    minimum: Micros

    def text(self) -> str:
        p = self.position
        return (
            f"{p.outcome.value}: {p.shares / ONE:g} shares worth {usd(self.value)} at the"
            f" bid {self.bid / ONE:g}, below the venue's {usd(self.minimum)} market-order"
            " minimum: dust, held to resolution"
        )


@dataclass(frozen=True, slots=True)
class PositionBelowMinimum(AboutPosition):
    """Fewer shares left than the market's minimum order size."""

    kind: ClassVar[str] = "POSITION_EXIT"
    position: Position
    min_size: Micros

    def text(self) -> str:
        p = self.position
        return (
            f"{p.outcome.value}: {p.shares / ONE:g} shares left, below the market"
            f" minimum of {self.min_size / ONE:g}; held to resolution"
        )


@dataclass(frozen=True, slots=True)
class PositionAwaitingRedemption(AboutPosition):
    """The market resolved in the position's favour; the payout waits on chain."""

    kind: ClassVar[str] = "POSITION_EXIT"
    position: Position
    payout: Micros
    split: bool = False  # the market resolved 50/50: each share pays 0.5

    def text(self) -> str:
        p = self.position
        how = "resolved 50/50 (SPLIT, 0.5 a share)" if self.split else "won"
        return (
            f"{p.outcome.value} {p.shares / ONE:g} shares {how}: {usd(self.payout)} awaiting redemption"
            f" on chain (profit {usd(self.payout - p.cost - p.fees)} counted once redeemed)"
        )


# -- booking what the venue reports ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderFilled(Sentence):
    kind: ClassVar[str] = "ORDER_FILLED"
    fill: Fill
    order: Order

    @property
    def market(self) -> str:
        return self.fill.market_id

    def text(self) -> str:
        f = self.fill
        fee = f", fee {usd(f.fee)}" if f.fee else ""
        return (
            f"{f.action.value} {f.shares / ONE:g} {f.outcome.value} @ {f.price / ONE:g}"
            f" = {usd(notional(f.price, f.shares))}{fee} ({f.liquidity.value}) {self.order.order_id}"
            f" [{self.order.status.value}]"
        )

    def data(self) -> dict[str, Any]:
        return {"order_id": self.order.order_id, "fill_id": self.fill.fill_id}


@dataclass(frozen=True, slots=True)
class OrphanFill(Sentence):
    """A fill for an order the journal does not know (bot/orphans.py says what was done)."""

    kind: ClassVar[str] = "ERROR"
    fill: Fill
    note: str

    @property
    def market(self) -> str:
        return self.fill.market_id

    def text(self) -> str:
        return self.note

    def data(self) -> dict[str, Any]:
        return {"order_id": self.fill.order_id, "fill_id": self.fill.fill_id}


@dataclass(frozen=True, slots=True)
class OrderClosed(AboutOrder):
    """An order cancelled, expired or refused after it was placed."""

    kind: ClassVar[str] = "ORDER_CANCELLED"
    done: OrderDone
    order: Order

    def text(self) -> str:
        o = self.order
        left = f", {o.remaining / ONE:g} of {o.size / ONE:g} unfilled" if o.filled else ""
        return f"{o.order_id} {self.done.status.value}: {self.done.reason}{left}"

    def data(self) -> dict[str, Any]:
        return {"order_id": self.order.order_id}


@dataclass(frozen=True, slots=True)
class PositionClosed(AboutPosition):
    kind: ClassVar[str] = "POSITION_EXIT"
    position: Position

    def text(self) -> str:
        p = self.position
        gross = p.sold_value - p.bought_cost
        slip = ""
        if p.intended_exit_price and p.exit_trigger != Lifecycle.EXPIRY:
            slip = f", intended {p.intended_exit_price / ONE:g}"
        why = p.exit_reason if p.exit_reason == p.exit_trigger else f"{p.exit_reason}; {p.exit_trigger}"
        return (
            f"{p.outcome.value} {p.sold / ONE:g} shares, entry {p.entry_price / ONE:g},"
            f" exit {p.exit_price / ONE:g}{slip} ({why}: {p.exit_threshold}), gross {usd(gross)},"
            f" fees {usd(p.total_fees)},"
            f" net P&L {usd(p.realized)}"
        )

    def data(self) -> dict[str, Any]:
        p = self.position
        return {"position_id": p.position_id, "pnl": p.realized / ONE, "trigger": p.exit_trigger}


# -- the engine's step (bot/engine.py) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExitTriggered(AboutPosition):
    kind: ClassVar[str] = "EXIT_TRIGGERED"
    position: Position
    decision: ExitDecision

    def text(self) -> str:
        p, d = self.position, self.decision
        return (
            f"{p.outcome.value} {p.shares / 1e6:g} shares: {d.trigger.value} at bid"
            f" {d.trigger_price / 1e6:g} ({d.threshold}), entry {p.entry_price / 1e6:g}"
        )


@dataclass(frozen=True, slots=True)
class MarketResolved(Sentence):
    kind: ClassVar[str] = "MARKET_RESOLVED"
    window: Market  # the market as it stood (its name and strike)
    event: WindowResolved

    @property
    def market(self) -> str:
        return self.event.market_id

    def text(self) -> str:
        w, e = self.window, self.event
        return f"{w.name}: {_said(e.outcome)} (strike {_num(w.strike)}, final {_num(e.final_underlying)})"


def _said(winner: Outcome | None) -> str:
    """The MARKET_RESOLVED word: UP, DOWN, or "SPLIT (50/50: each token pays 0.5)"."""
    name = resolution_name(winner)
    return name if winner is not None else f"{name} (50/50: each token pays 0.5)"


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.8g}"
