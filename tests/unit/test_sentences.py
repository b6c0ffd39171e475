"""Activity sentences (bot/sentences.py): each event's type, market, sentence and extra fields,
pinned, and `Activity.emit` writing them as `Activity.add` does."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bot import sentences as s
from bot.activity import Activity
from bot.errors import OrderRefused, VenueBusy, VenueUnavailable
from bot.exits import ExitDecision, Lifecycle
from bot.journal import Journal
from bot.model import (
    ONE,
    Action,
    Fill,
    Intent,
    Liquidity,
    Market,
    Order,
    OrderDone,
    OrderRequest,
    OrderStatus,
    OrderType,
    Outcome,
    Position,
    Signal,
    WindowResolved,
)

TS = 1_800_000_000_000  # 2027-01-15T08:00:00Z


def order(**changes: object) -> Order:
    o = Order("o-1", "m-1", Outcome.UP, Action.BUY, 420_000, 5 * ONE, OrderType.GTC, Intent.ENTRY, TS)
    for key, value in changes.items():
        setattr(o, key, value)
    return o


def fill(fee: int = 0) -> Fill:
    return Fill("f-1", "o-1", TS, "m-1", Outcome.UP, Action.BUY, 420_000, 2 * ONE, fee, Liquidity.TAKER)


def closed_position(**changes: object) -> Position:
    p = Position(
        "m-1",
        Outcome.DOWN,
        bought=4 * ONE,
        bought_cost=2 * ONE,
        sold=4 * ONE,
        sold_value=3 * ONE,
        total_fees=50_000,
        realized=950_000,
        position_id=7,
        exit_reason="take_profit",
        exit_trigger="take_profit",
        exit_threshold="bid >= 0.75",
        intended_exit_price=760_000,
    )
    for key, value in changes.items():
        setattr(p, key, value)
    return p


SIGNAL = Signal(TS, "edge", "m-1", Outcome.UP, Action.BUY, 420_000)
REQUEST = OrderRequest(
    "c-1", "m-1", Outcome.DOWN, Action.SELL, 310_000, 3 * ONE, OrderType.FAK, None, Intent.EXIT
)
WINDOW = Market("m-1", "BTC", "BTC up or down", TS - 300_000, TS, 97_000.0)
HELD = Position("m-1", Outcome.UP, shares=1_500_000, cost=600_000, fees=10_000, position_id=3)

CASES: list[tuple[s.Sentence, str, str, str, dict[str, object]]] = [
    (
        s.OrderPlaced(order(expires_ms=TS + 60_000), "edge", "edge 0.05"),
        "ORDER_PLACED",
        "m-1",
        "BUY 5 UP @ 0.42 (GTC, expires 2027-01-15T08:01:00.000Z) o-1 [edge] edge 0.05",
        {"order_id": "o-1", "status": "OPEN"},
    ),
    (
        s.OrderPlaced(order(status=OrderStatus.UNKNOWN), "edge", "why"),
        "ORDER_PLACED",
        "m-1",
        "BUY 5 UP @ 0.42 (GTC) o-1 [edge] why (UNKNOWN: not confirmed, reconciled with the venue)",
        {"order_id": "o-1", "status": "UNKNOWN"},
    ),
    (s.OrderConfirmed(order()), "ORDER_PLACED", "m-1", "o-1 confirmed resting", {}),
    (
        s.OrderRejected(REQUEST, OrderRefused("tick size")),
        "ORDER_REJECTED",
        "m-1",
        "SELL 3 DOWN @ 0.31 refused: tick size",
        {},
    ),
    (
        s.RiskRejected(SIGNAL, "too many open orders", "max_open_orders"),
        "RISK_REJECTED",
        "m-1",
        "edge BUY UP: too many open orders",
        {"limit": "max_open_orders"},
    ),
    (s.CancelFailed("o-1", VenueUnavailable("timeout")), "ERROR", "", "cancel o-1 failed: timeout", {}),
    (
        s.CancelFailed(None, VenueUnavailable("timeout")),
        "ERROR",
        "",
        "cancel-all failed: timeout; cancelling one by one",
        {},
    ),
    (s.VenuePollFailed(VenueUnavailable("502")), "ERROR", "System", "venue poll failed: 502", {}),
    (
        s.VenueWaiting(VenueBusy("425")),
        "ERROR",
        "System",
        "venue busy, backing off until it answers: 425",
        {},
    ),
    (s.VenueAnswering(61.6), "BALANCE_CHECK", "System", "venue answering again after 62 s", {}),
    (
        s.PositionDust(HELD, 450_000, 300_000, ONE),
        "POSITION_EXIT",
        "m-1",
        "UP: 1.5 shares worth $0.45 at the bid 0.3, below the venue's $1.00 market-order minimum:"
        " dust, held to resolution",
        {"position_id": 3},
    ),
    (
        s.PositionBelowMinimum(HELD, 5 * ONE),
        "POSITION_EXIT",
        "m-1",
        "UP: 1.5 shares left, below the market minimum of 5; held to resolution",
        {"position_id": 3},
    ),
    (
        s.PositionAwaitingRedemption(HELD, 1_500_000),
        "POSITION_EXIT",
        "m-1",
        "UP 1.5 shares won: $1.50 awaiting redemption on chain (profit $0.89 counted once redeemed)",
        {"position_id": 3},
    ),
    (
        s.OrderFilled(fill(), order(filled=2 * ONE, status=OrderStatus.PARTIALLY_FILLED)),
        "ORDER_FILLED",
        "m-1",
        "BUY 2 UP @ 0.42 = $0.84 (TAKER) o-1 [PARTIALLY_FILLED]",
        {"order_id": "o-1", "fill_id": "f-1"},
    ),
    (
        s.OrderFilled(fill(fee=12_345), order(status=OrderStatus.FILLED)),
        "ORDER_FILLED",
        "m-1",
        "BUY 2 UP @ 0.42 = $0.84, fee $0.012345 (TAKER) o-1 [FILLED]",
        {"order_id": "o-1", "fill_id": "f-1"},
    ),
    (s.OrphanFill(fill(), "a note"), "ERROR", "m-1", "a note", {"order_id": "o-1", "fill_id": "f-1"}),
    (
        s.OrderClosed(OrderDone("o-1", TS, OrderStatus.EXPIRED, "ttl"), order(filled=2 * ONE)),
        "ORDER_CANCELLED",
        "m-1",
        "o-1 EXPIRED: ttl, 3 of 5 unfilled",
        {"order_id": "o-1"},
    ),
    (
        s.OrderClosed(OrderDone("o-1", TS, OrderStatus.CANCELLED, "PAUSE"), order()),
        "ORDER_CANCELLED",
        "m-1",
        "o-1 CANCELLED: PAUSE",
        {"order_id": "o-1"},
    ),
    (
        s.PositionClosed(closed_position()),
        "POSITION_EXIT",
        "m-1",
        "DOWN 4 shares, entry 0.5, exit 0.75, intended 0.76 (take_profit: bid >= 0.75), gross $1.00,"
        " fees $0.05, net P&L $0.95",
        {"position_id": 7, "pnl": 0.95, "trigger": "take_profit"},
    ),
    (
        s.PositionClosed(closed_position(exit_reason="FLATTEN", exit_trigger="EXPIRY")),
        "POSITION_EXIT",
        "m-1",
        "DOWN 4 shares, entry 0.5, exit 0.75 (FLATTEN; EXPIRY: bid >= 0.75), gross $1.00,"
        " fees $0.05, net P&L $0.95",
        {"position_id": 7, "pnl": 0.95, "trigger": "EXPIRY"},
    ),
    (
        s.ExitTriggered(
            Position(
                "m-1", Outcome.UP, shares=1_500_000, bought=1_500_000, bought_cost=600_000, position_id=3
            ),
            ExitDecision(Lifecycle.STOP_TRIGGERED, "stop_loss_pct=10 (stop 0.36)", 350_000, 340_000),
        ),
        "EXIT_TRIGGERED",
        "m-1",
        "UP 1.5 shares: STOP_TRIGGERED at bid 0.35 (stop_loss_pct=10 (stop 0.36)), entry 0.4",
        {"position_id": 3},
    ),
    (
        s.MarketResolved(WINDOW, WindowResolved(TS, "m-1", Outcome.UP, 97_123.456789)),
        "MARKET_RESOLVED",
        "m-1",
        "BTC up or down: UP (strike 97000, final 97123.457)",
        {},
    ),
    (
        s.MarketResolved(WINDOW, WindowResolved(TS, "m-1", None)),
        "MARKET_RESOLVED",
        "m-1",
        "BTC up or down: SPLIT (50/50: each token pays 0.5) (strike 97000, final ?)",
        {},
    ),
]


@pytest.mark.parametrize(("event", "kind", "market", "text", "data"), CASES)
def test_each_sentence(event: s.Sentence, kind: str, market: str, text: str, data: dict[str, object]) -> None:
    assert (event.kind, event.market, event.text(), event.data()) == (kind, market, text, data)


def test_every_sentence_class_is_pinned_above() -> None:
    classes = {c for c in vars(s).values() if isinstance(c, type) and issubclass(c, s.Sentence)}
    bases = {s.Sentence, s.AboutOrder, s.AboutPosition}  # no sentence of their own
    assert classes - bases == {type(case[0]) for case in CASES}


def test_emit_writes_what_add_writes(tmp_path: Path) -> None:
    journal = Journal(":memory:")
    activity = Activity(journal, tmp_path)
    event = s.OrderFilled(fill(), order(status=OrderStatus.FILLED))
    activity.emit(TS, event)
    activity.add(TS, event.kind, event.market, event.text(), **event.data())
    activity.flush()
    lines = (tmp_path / "activity.jsonl").read_bytes().splitlines()
    assert len(lines) == 2
    assert lines[0] == lines[1]
    assert orjson.loads(lines[0]) == {
        "timestamp": "2027-01-15T08:00:00.000Z",
        "type": "ORDER_FILLED",
        "market": "m-1",
        "details": "BUY 2 UP @ 0.42 = $0.84 (TAKER) o-1 [FILLED]",
        "order_id": "o-1",
        "fill_id": "f-1",
    }
    rows = journal.rows("SELECT type, market, details FROM activity")
    shown = [(r["type"], r["market"], r["details"]) for r in rows]
    assert shown == [("ORDER_FILLED", "m-1", event.text())] * 2
    activity.close()
