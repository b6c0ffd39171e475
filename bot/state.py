"""The state files' contents: projections of a `Snapshot` the engine takes when it writes them.

The engine builds the snapshot (the values of the moment, and the books the rows are made
from), these functions turn it into trading_state.json, status.json and trades_today.json,
and the state-file writer (bot/statefiles.py) replaces the files atomically on a thread of
its own. The field names are the operator's contract and are documented in
state/README.md; `SCHEMA_VERSION` changes when a field changes meaning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from bot import describe, layout
from bot.model import (
    ONE,
    BookTick,
    Market,
    Micros,
    Mode,
    Order,
    Position,
    Signal,
    TradingState,
    book_for,
    iso,
    notional,
    to_float,
)

if TYPE_CHECKING:
    from bot.activity import Activity
    from bot.journal import Journal
    from bot.orders import Execution
    from bot.portfolio import Portfolio
    from bot.risk import RiskGate
    from bot.runtime import Limits
    from bot.scorecard import Scorecard

SCHEMA_VERSION = layout.SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the state files show, taken by the engine each time it writes them: the values
    of that moment, and the books (portfolio, open orders, activity) the rows are built
    from, read on the engine's thread while it waits."""

    wall_ms: int  # the time readers compare heartbeats with
    market_ms: int  # the market clock
    mode: Mode
    trading_state: TradingState
    state_reason: str
    wallet: str
    pid: int
    speed: float
    heartbeat_s: float
    day_start_ms: int
    portfolio: Portfolio
    open_orders: list[Order]
    activity: Activity
    journal: Journal
    scorecard: Scorecard
    markets: dict[str, Market]  # the windows watched now
    market_names: dict[str, str]  # every market seen, resolved ones too
    controls: dict[str, Any]  # the supervisor's control_status()
    limits: Limits  # in force now
    risk: RiskGate
    max_consecutive_losses: int
    views: Views
    last_signal: tuple[Signal, Execution] | None = None
    inbox: dict[str, Any] | None = None  # the inbox block (bot/intake.py); None: no inbox
    # status.json only (None in a snapshot taken for the other two files)
    risk_view: dict[str, Any] | None = None
    feeds: dict[str, Any] | None = None
    feed_connections: list[dict[str, Any]] | None = None
    discovery: dict[str, Any] | None = None  # the rolling windows (bot/markets/roller.py)
    # what one projection worked out for the next (status.json reuses the position rows)
    memo: dict[str, Any] = field(default_factory=dict)

    def market_name(self, market_id: str) -> str:
        return self.market_names.get(market_id, market_id)


def mask_wallet(wallet: str) -> str:
    if len(wallet) <= 10:
        return wallet
    return f"{wallet[:6]}...{wallet[-4:]}"


def _pct(part: Micros, whole: Micros) -> float:
    return round(part * 100 / whole, 2) if whole else 0.0


def _points(edge: Micros) -> float:
    """Edge in percentage points: 0.05 of probability -> 5.0."""
    return round(edge * 100 / ONE, 2)


_epoch_s = describe.epoch_s


def _when(ts_ms: int | None) -> tuple[str | None, float | None]:
    """A time as the files show it: ISO-8601 and, beside it, Unix epoch seconds (None: none)."""
    return (None, None) if ts_ms is None else (iso(ts_ms), _epoch_s(ts_ms))


# ---------------------------------------------------------------------------
# trading_state.json


def _all_fields(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """Every field of a dataclass as one tuple (C speed): a cached row is rebuilt when any of
    them changes, so a field added later cannot be forgotten."""
    return attrgetter(*(f.name for f in dataclasses.fields(cls)))


_order_fields = _all_fields(Order)
_position_fields = _all_fields(Position)


class Views:
    """Rows of the state files, rebuilt only when their order or position changes: a write
    with a thousand positions and a thousand orders stays within a few milliseconds. Values
    are the model's StrEnums, which orjson writes as their strings."""

    def __init__(self) -> None:
        self._orders: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        # (what the row depends on, the parts a book does not move, the book, the row, its
        # unrealized P&L in micros)
        self._positions: dict[tuple[str, str], tuple[Any, ...]] = {}
        # status.json's rows: (trading_state.json's row, its book-free part, the row)
        self._status_rows: dict[int, tuple[dict[str, Any], ...]] = {}
        self.statics: list[dict[str, Any]] = []  # the book-free parts of the rows positions() gave last
        self._trades: dict[tuple[Any, ...], tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self.session: describe.SessionInfo | None = None  # the journal's row of this run
        self._markets: tuple[tuple[Market, ...], list[dict[str, Any]]] | None = None

    def markets(self, watched: dict[str, Market]) -> list[dict[str, Any]]:
        """status.json's `markets`, rebuilt only when a window opens or closes (or changes)."""
        key = tuple(watched.values())
        if self._markets is None or self._markets[0] != key:  # identity first: a cheap compare
            self._markets = (key, describe.markets(watched))
        return self._markets[1]

    def orders(self, names: dict[str, str], orders: list[Order]) -> list[dict[str, Any]]:
        cache = self._orders
        out = []
        for o in orders:
            name = names.get(o.market_id, o.market_id)
            key = (_order_fields(o), name)
            hit = cache.get(o.order_id)
            if hit is None or hit[0] != key:
                hit = cache[o.order_id] = (key, order_view(o, name))
            out.append(hit[1])
        if len(cache) > 2 * len(orders) + 100:
            keep = {o.order_id for o in orders}
            self._orders = {k: v for k, v in cache.items() if k in keep}
        return out

    def positions(
        self, markets: dict[str, Market], marks: dict[str, BookTick], positions: list[Position]
    ) -> tuple[list[dict[str, Any]], Micros]:
        """The rows, and the positions' unrealized P&L in micros. A row is reused while
        neither the position nor its market's book has changed; the parts a book does not
        move (names, times) while the position has not."""
        cache = self._positions
        out = []
        statics = self.statics = []
        unrealized = 0
        for p in positions:
            market = markets.get(p.market_id)
            tick = marks.get(p.market_id)
            key = (_position_fields(p), market)
            slot = (p.market_id, p.outcome)
            hit = cache.get(slot)
            if hit is None or hit[0] != key:
                static = _position_static(p, market)
                hit = cache[slot] = (key, static, tick, *_position_row(p, static, tick))
            elif hit[2] is not tick:
                hit = cache[slot] = (key, hit[1], tick, *_position_row(p, hit[1], tick))
            out.append(hit[3])
            statics.append(hit[1])
            unrealized += hit[4]
        if len(cache) > 2 * len(positions) + 100:
            keep = {(p.market_id, p.outcome) for p in positions}
            self._positions = {k: v for k, v in cache.items() if k in keep}
        return out, unrealized

    def status_positions(
        self, rows: list[dict[str, Any]], statics: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """status.json's rows, made from the rows `positions()` gave and their book-free
        parts (`statics`, in the same order), so both files show the same values: the
        operator's first names (`symbol`, `quantity`, `entry`, `stop`, `target`), then the
        names every file uses (`market_id`, `shares`, ...). A new book changes only
        `unrealized_pnl`: a copy of the row with that one field."""
        cache = self._status_rows  # by the book-free part's id, checked by identity
        out = []
        for row, static in zip(rows, statics, strict=True):
            hit = cache.get(id(static))
            if hit is None or hit[1] is not static:
                hit = cache[id(static)] = (row, static, _status_position(row))
            elif hit[0] is not row:
                moved = hit[2].copy()
                moved["unrealized_pnl"] = row["pnl"]
                hit = cache[id(static)] = (row, static, moved)
            out.append(hit[2])
        if len(cache) > 2 * len(rows) + 100:
            keep = {id(static) for static in statics}
            self._status_rows = {k: v for k, v in cache.items() if k in keep}
        return out

    def trades(self, names: dict[str, str], portfolio: Portfolio) -> list[dict[str, Any]]:
        """Today's rows: the closed trades, then the open ones."""
        rows = [self._trade(names, p, closed_ms) for closed_ms, p in portfolio.closed_today]
        rows += [self._trade(names, p, None) for p in portfolio.positions.values()]
        if len(self._trades) > 2 * len(rows) + 100:
            self._trades.clear()
        return rows

    def _trade(self, names: dict[str, str], p: Position, closed_ms: int | None) -> dict[str, Any]:
        row_id = (p.position_id, p.market_id, p.outcome, closed_ms)
        hit = self._trades.get(row_id)
        if hit is not None and closed_ms is not None:
            return hit[1]  # a closed trade does not change
        name = names.get(p.market_id, p.market_id)
        key = (_position_fields(p), name)
        if hit is None or hit[0] != key:
            status = "OPEN" if closed_ms is None else "CLOSED"
            hit = self._trades[row_id] = (key, _trade_row(name, p, status, closed_ms))
        return hit[1]


def position_view(p: Position, market: Market | None, tick: BookTick | None) -> dict[str, Any]:
    return _position_row(p, _position_static(p, market), tick)[0]


def _status_position(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "symbol": row["market_id"],
        "side": row["side"],
        "quantity": row["shares"],
        "entry": row["entry_price"],
        "unrealized_pnl": row["pnl"],
        "stop": row["stop_price"],
        "target": row["target_price"],
        "lifecycle": row["lifecycle"],
        "market_id": row["market_id"],
        "market_name": row["market_name"],
        "shares": row["shares"],
        "entry_price": row["entry_price"],
        "stop_price": row["stop_price"],
        "target_price": row["target_price"],
    }


_STATUS = {"ENTRY": "ACTIVE", "MONITORING": "ACTIVE", "DUST": "HELD", "AWAITING_REDEMPTION": "HELD"}


def _position_static(p: Position, market: Market | None) -> dict[str, Any]:
    """A position's row with the fields its market's book moves left empty: they are filled
    in on a copy (`_position_row`), so a new book costs four fields, not twenty."""
    basis = p.cost + p.fees
    entry_time, entry_epoch = _when(p.opened_ms)
    window_end, window_end_epoch = _when(market.window_end_ms if market else None)
    return {
        "market_name": market.name if market else p.market_id,
        "market_id": p.market_id,
        "side": p.outcome,
        "entry_price": to_float(p.entry_price),
        "current_price": None,
        "shares": to_float(p.shares),
        "cost_basis": to_float(basis),
        "current_value": None,
        "pnl": None,
        "pnl_percent": None,
        "entry_edge": _points(p.entry_edge),
        "entry_date": entry_time,
        "status": _STATUS.get(p.state, "EXITING"),
        "lifecycle": p.state,
        "stop_price": to_float(p.stop_price) if p.stop_price else None,
        "target_price": to_float(p.target_price) if p.target_price else None,
        "peak_price": to_float(p.peak) if p.peak else None,
        "exit_trigger": p.exit_trigger or None,
        "strategy": p.strategy,
        "window_end": window_end,
        "entry_time": entry_time,
        "entry_time_epoch_s": entry_epoch,
        "window_end_epoch_s": window_end_epoch,
    }


def _position_row(
    p: Position, static: dict[str, Any], tick: BookTick | None
) -> tuple[dict[str, Any], Micros]:
    """The row with the book's fields filled in, and its P&L in micros (Portfolio.unrealized)."""
    mark = p.entry_price if tick is None else book_for(tick, p.outcome)[0]  # as Portfolio.mark
    value = notional(mark, p.shares)
    basis = p.cost + p.fees
    row = static.copy()  # the keys keep their order
    row["current_price"] = to_float(mark)
    row["current_value"] = to_float(value)
    row["pnl"] = to_float(value - basis)
    row["pnl_percent"] = _pct(value - basis, basis)
    return row, value - basis


def order_view(o: Order, market_name: str) -> dict[str, Any]:
    placed, placed_epoch = _when(o.created_ms)
    expiry, expiry_epoch = _when(o.expires_ms or None)  # 0: good till cancelled
    return {
        "order_id": o.order_id,
        "market": market_name,
        "market_id": o.market_id,
        "side": o.outcome.value,
        "action": o.action.value,
        "price": to_float(o.price),
        "amount": to_float(notional(o.price, o.size)),
        "shares": to_float(o.size),
        "filled_shares": to_float(o.filled),
        "edge": _points(o.edge),
        "time_placed": placed,
        "ttl_expiry": expiry,
        "status": o.status.value,
        "order_type": o.order_type.value,
        "intent": o.intent.value,
        "strategy": o.strategy,
        "market_name": market_name,
        "time_placed_epoch_s": placed_epoch,
        "ttl_expiry_epoch_s": expiry_epoch,
    }


def trading_state(snap: Snapshot) -> dict[str, Any]:
    portfolio = snap.portfolio
    orders = snap.open_orders
    locked = sum(o.locked for o in orders)
    positions = list(portfolio.positions.values())
    deployed = sum(p.cost + p.fees for p in positions)
    rows, unrealized = snap.views.positions(snap.markets, portfolio.marks, positions)
    snap.memo["positions"] = rows, unrealized, snap.views.statics
    return {
        "schema_version": SCHEMA_VERSION,
        "last_updated": iso(snap.wall_ms),
        "last_updated_epoch_s": _epoch_s(snap.wall_ms),
        "market_time": iso(snap.market_ms),
        "market_time_epoch_s": _epoch_s(snap.market_ms),
        "mode": snap.mode.value,
        "trading_state": snap.trading_state.value,
        "trading_state_reason": snap.state_reason or None,
        "balance": {
            "usdc": to_float(portfolio.cash),
            "wallet": mask_wallet(snap.wallet),
        },
        "open_orders": snap.views.orders(snap.market_names, orders),
        "active_positions": rows,
        "recent_activity": list(reversed(snap.activity.recent)),
        "stats": {
            "total_open_orders": len(orders),
            "total_active_positions": len(positions),
            "total_capital_deployed": to_float(deployed),
            "total_locked_in_orders": to_float(locked),
            "available_balance": to_float(portfolio.cash - locked),
        },
        "controls": snap.controls,
        "strategy_scorecard": snap.scorecard.view(),
        **({"inbox": snap.inbox} if snap.inbox is not None else {}),
    }


# ---------------------------------------------------------------------------
# status.json


def status(snap: Snapshot, *, alive: bool = True, reason: str = "") -> dict[str, Any]:
    portfolio = snap.portfolio
    wall = snap.wall_ms
    now = snap.market_ms
    next_update = wall + round(snap.heartbeat_s * 1000) if alive else None
    info = snap.views.session = describe.session_info(snap.journal, snap.views.session)
    memo = snap.memo.get("positions")
    if memo is None:  # not written with trading_state.json
        memo = (
            *snap.views.positions(snap.markets, portfolio.marks, list(portfolio.positions.values())),
            snap.views.statics,
        )
    rows, unrealized, statics = memo
    daily_pnl = portfolio.realized_today() + unrealized
    return {
        "schema_version": SCHEMA_VERSION,
        "timestamp": iso(wall),
        "timestamp_epoch_s": describe.epoch_s(wall),
        "last_updated": iso(wall),
        "last_updated_epoch_s": describe.epoch_s(wall),
        "is_alive": alive,
        "next_update": iso(next_update) if next_update is not None else None,
        "next_update_epoch_s": describe.epoch_s(next_update) if next_update is not None else None,
        "heartbeat_s": snap.heartbeat_s,
        "pid": snap.pid,
        **describe.about(info, wall),
        "mode": snap.mode.value,
        "trading_state": snap.trading_state.value,
        "reason": reason or snap.state_reason or None,
        "market_time": iso(now),
        "market_time_epoch_s": describe.epoch_s(now),
        "speed": snap.speed,
        "session_id": snap.journal.session_id,
        "last_activity_id": snap.journal.last_activity_id,
        "account": {
            "balance": to_float(portfolio.cash),
            "daily_pnl": to_float(daily_pnl),
            "open_positions": len(portfolio.positions),
            "daily_trades": len(portfolio.closed_today) + len(portfolio.positions),
        },
        "risk": snap.risk_view,
        "limits": describe.limits(info, snap.limits, snap.risk, snap.max_consecutive_losses),
        "markets": snap.views.markets(snap.markets),
        "active_positions": snap.views.status_positions(rows, statics),
        "last_signal": _last_signal(snap.last_signal, snap.market_names),
        "feeds": snap.feeds,
        "feed_connections": snap.feed_connections,
        "discovery": snap.discovery,
        "errors": list(reversed(snap.activity.errors)),
    }


def _last_signal(last: tuple[Signal, Execution] | None, names: dict[str, str]) -> dict[str, Any] | None:
    if last is None:
        return None
    signal, result = last
    return {
        "time": iso(signal.ts_ms),
        "pattern": signal.strategy,
        "market": signal.market_id,
        "side": signal.outcome.value,
        "score": round(signal.score, 4),
        "executed": result.executed,
        "skip_reason": result.reason or None,
        "market_id": signal.market_id,
        "market_name": names.get(signal.market_id, signal.market_id),
        "time_epoch_s": _epoch_s(signal.ts_ms),
    }


# ---------------------------------------------------------------------------
# trades_today.json


def trades_today(snap: Snapshot) -> dict[str, Any]:
    portfolio = snap.portfolio
    day = iso(snap.day_start_ms)[:10]
    rows = snap.views.trades(snap.market_names, portfolio)
    closed = [p for _, p in portfolio.closed_today]
    wins = sum(1 for p in closed if p.realized > 0)
    closed_fees = sum(p.total_fees for p in closed)
    open_fees = sum(p.total_fees for p in portfolio.positions.values())
    return {
        "schema_version": SCHEMA_VERSION,
        "date": day,
        "last_updated": iso(snap.wall_ms),
        "last_updated_epoch_s": _epoch_s(snap.wall_ms),
        "trades": rows,
        "summary": {
            "total_trades": len(rows),
            "closed_trades": len(closed),
            "open_trades": len(portfolio.positions),
            "wins": wins,
            "losses": len(closed) - wins,
            "total_pnl": to_float(sum(p.realized for p in closed)),
            "total_fees": to_float(closed_fees + open_fees),
            "win_rate": round(wins / len(closed), 4) if closed else None,
            "closed_fees": to_float(closed_fees),
            "open_fees": to_float(open_fees),
        },
    }


def _trade_row(market_name: str, p: Position, status: str, closed_ms: int | None) -> dict[str, Any]:
    entry_time, entry_epoch = _when(p.opened_ms)
    exit_time, exit_epoch = _when(closed_ms or None)
    return {
        "position_id": p.position_id,
        "market": market_name,
        "market_id": p.market_id,
        "side": p.outcome.value,
        "strategy": p.strategy,
        "status": status,
        "shares": to_float(p.bought),
        "entry_time": entry_time,
        "entry_price": to_float(p.entry_price),
        "exit_time": exit_time,
        "exit_price": to_float(p.exit_price) if p.sold else None,
        "exit_reason": p.exit_reason or None,
        "exit_trigger": p.exit_trigger or None,
        "exit_threshold": p.exit_threshold or None,
        "trigger_price": to_float(p.trigger_price) if p.exit_trigger else None,
        "intended_exit_price": to_float(p.intended_exit_price) if p.exit_trigger else None,
        "slippage": to_float(notional(p.intended_exit_price, p.sold) - p.sold_value)
        if p.sold and p.exit_trigger
        else None,
        "fees": to_float(p.total_fees),
        "gross_pnl": to_float(p.sold_value - p.bought_cost) if status == "CLOSED" else None,
        "pnl": to_float(p.realized) if status == "CLOSED" else None,
        "market_name": market_name,
        "entry_time_epoch_s": entry_epoch,
        "exit_time_epoch_s": exit_epoch,
    }
