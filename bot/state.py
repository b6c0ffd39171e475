"""The state files: projections of the engine's state, written atomically.

`write_json` puts the bytes in a temporary file in the same folder, fsyncs it, renames it
over the target with `os.replace` and fsyncs the folder, so a reader sees the old file or
the new one, never a torn one, even across a crash. The engine hands its files to a
`FileWriter`, which does that on a thread of its own: the engine serialises a snapshot in
its own thread and never waits on the disk. The field names of
trading_state.json, status.json and trades_today.json are the operator's contract and are
documented in state/README.md; `SCHEMA_VERSION` changes when a field changes meaning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bot import describe, layout
from bot.model import ONE, BookTick, Market, Micros, Order, Position, book_for, iso, notional, to_float

if TYPE_CHECKING:
    from bot.engine import Engine

log = logging.getLogger("bot")

SCHEMA_VERSION = layout.SCHEMA_VERSION


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def write_json(path: Path, data: Any) -> None:
    replace_file(path, dumps(data))


def replace_file(path: Path, payload: bytes) -> None:
    """Replace `path` atomically: a reader sees the old file or the new one, never a mix,
    and after a crash or a power cut the file on disk is one of the two (fsync of the file
    before the rename, and of the folder after it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):  # a full disk keeps no half-written temp file
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FileWriter:
    """Replaces files from a thread of its own; of the bytes handed over for one file, only
    the newest are written. `flush()` returns once everything handed over is on disk."""

    def __init__(self) -> None:
        self._pending: dict[Path, bytes] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.last_error = ""  # the last write that failed, for the text log and the tests
        self.last_exc: OSError | None = None
        self._batch_started = 0.0  # monotonic time the files being written were taken up

    def put(self, path: Path, data: Any) -> None:
        payload = dumps(data)  # here, in the caller's thread: the objects are the engine's
        with self._cond:
            if self._closed:
                raise RuntimeError("the state file writer is closed")
            self._pending[path] = payload
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="state-files", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def busy_for(self) -> float:
        """Seconds the write under way has taken so far (0 when idle): a disk that hangs
        shows here, since nothing raises."""
        started = self._batch_started
        return time.monotonic() - started if started else 0.0

    def flush(self) -> None:
        with self._cond:
            while self._pending or self._busy:
                self._cond.wait()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, {}
                self._busy = True
                self._batch_started = time.monotonic()
            for path, payload in batch.items():
                try:
                    replace_file(path, payload)
                except OSError as exc:
                    self.last_exc = exc
                    self.failures += 1
                    self.last_error = f"cannot write {path}: {exc}"
                    log.error("%s", self.last_error)
            with self._cond:
                self._busy = False
                self._batch_started = 0.0
                self._cond.notify_all()


def mask_wallet(wallet: str) -> str:
    if len(wallet) <= 10:
        return wallet
    return f"{wallet[:6]}...{wallet[-4:]}"


def _pct(part: Micros, whole: Micros) -> float:
    return round(part * 100 / whole, 2) if whole else 0.0


def _points(edge: Micros) -> float:
    """Edge in percentage points: 0.05 of probability -> 5.0."""
    return round(edge * 100 / ONE, 2)


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
        # (what the row depends on, the parts a book does not move, the book, the row)
        self._positions: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._trades: dict[tuple[Any, ...], tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self.session: describe.SessionInfo | None = None  # the journal's row of this run

    def orders(self, engine: Engine, orders: list[Order]) -> list[dict[str, Any]]:
        cache = self._orders
        out = []
        for o in orders:
            name = engine.market_name(o.market_id)
            key = (_order_fields(o), name)
            hit = cache.get(o.order_id)
            if hit is None or hit[0] != key:
                hit = cache[o.order_id] = (key, order_view(o, name))
            out.append(hit[1])
        if len(cache) > 2 * len(orders) + 100:
            keep = {o.order_id for o in orders}
            self._orders = {k: v for k, v in cache.items() if k in keep}
        return out

    def positions(self, engine: Engine, positions: list[Position]) -> list[dict[str, Any]]:
        """A row is reused while neither the position nor its market's book has changed; the
        parts a book does not move (names, times) while the position has not."""
        cache = self._positions
        marks = engine.portfolio.marks
        out = []
        for p in positions:
            market = engine.markets.get(p.market_id)
            tick = marks.get(p.market_id)
            key = (_position_fields(p), market)
            slot = (p.market_id, p.outcome)
            hit = cache.get(slot)
            if hit is None or hit[0] != key:
                static = _position_static(p, market)
                hit = cache[slot] = (key, static, tick, _position_row(p, static, tick))
            elif hit[2] is not tick:
                hit = cache[slot] = (key, hit[1], tick, _position_row(p, hit[1], tick))
            out.append(hit[3])
        if len(cache) > 2 * len(positions) + 100:
            keep = {(p.market_id, p.outcome) for p in positions}
            self._positions = {k: v for k, v in cache.items() if k in keep}
        return out

    def trades(self, engine: Engine) -> list[dict[str, Any]]:
        """Today's rows: the closed trades, then the open ones."""
        portfolio = engine.portfolio
        rows = [self._trade(engine, p, closed_ms) for closed_ms, p in portfolio.closed_today]
        rows += [self._trade(engine, p, None) for p in portfolio.positions.values()]
        if len(self._trades) > 2 * len(rows) + 100:
            self._trades.clear()
        return rows

    def _trade(self, engine: Engine, p: Position, closed_ms: int | None) -> dict[str, Any]:
        row_id = (p.position_id, p.market_id, p.outcome, closed_ms)
        hit = self._trades.get(row_id)
        if hit is not None and closed_ms is not None:
            return hit[1]  # a closed trade does not change
        key = (_position_fields(p), engine.market_name(p.market_id))
        if hit is None or hit[0] != key:
            status = "OPEN" if closed_ms is None else "CLOSED"
            hit = self._trades[row_id] = (key, _trade_row(engine, p, status, closed_ms))
        return hit[1]


def position_view(p: Position, market: Market | None, tick: BookTick | None) -> dict[str, Any]:
    return _position_row(p, _position_static(p, market), tick)


_STATUS = {"ENTRY": "ACTIVE", "MONITORING": "ACTIVE", "DUST": "HELD", "AWAITING_REDEMPTION": "HELD"}


def _position_static(p: Position, market: Market | None) -> dict[str, Any]:
    """A position's row with the fields its market's book moves left empty: they are filled
    in on a copy (`_position_row`), so a new book costs four fields, not twenty."""
    basis = p.cost + p.fees
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
        "entry_date": iso(p.opened_ms),
        "status": _STATUS.get(p.state, "EXITING"),
        "lifecycle": p.state,
        "stop_price": to_float(p.stop_price) if p.stop_price else None,
        "target_price": to_float(p.target_price) if p.target_price else None,
        "peak_price": to_float(p.peak) if p.peak else None,
        "exit_trigger": p.exit_trigger or None,
        "strategy": p.strategy,
        "window_end": iso(market.window_end_ms) if market else None,
    }


def _position_row(p: Position, static: dict[str, Any], tick: BookTick | None) -> dict[str, Any]:
    mark = p.entry_price if tick is None else book_for(tick, p.outcome)[0]  # as Portfolio.mark
    value = notional(mark, p.shares)
    basis = p.cost + p.fees
    row = static.copy()  # the keys keep their order
    row["current_price"] = to_float(mark)
    row["current_value"] = to_float(value)
    row["pnl"] = to_float(value - basis)
    row["pnl_percent"] = _pct(value - basis, basis)
    return row


def order_view(o: Order, market_name: str) -> dict[str, Any]:
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
        "time_placed": iso(o.created_ms),
        "ttl_expiry": iso(o.expires_ms) if o.expires_ms else None,
        "status": o.status.value,
        "order_type": o.order_type.value,
        "intent": o.intent.value,
        "strategy": o.strategy,
    }


def trading_state(engine: Engine) -> dict[str, Any]:
    portfolio = engine.portfolio
    orders = engine.orders.open_orders()
    locked = sum(o.locked for o in orders)
    positions = list(portfolio.positions.values())
    deployed = sum(p.cost + p.fees for p in positions)
    return {
        "schema_version": SCHEMA_VERSION,
        "last_updated": iso(engine.clock.wall_ms()),
        "market_time": iso(engine.clock.now_ms()),
        "mode": engine.mode.value,
        "trading_state": engine.trading_state.value,
        "trading_state_reason": engine.state_reason,
        "balance": {
            "usdc": to_float(portfolio.cash),
            "wallet": mask_wallet(engine.wallet),
        },
        "open_orders": engine.views.orders(engine, orders),
        "active_positions": engine.views.positions(engine, positions),
        "recent_activity": list(reversed(engine.activity.recent)),
        "stats": {
            "total_open_orders": len(orders),
            "total_active_positions": len(positions),
            "total_capital_deployed": to_float(deployed),
            "total_locked_in_orders": to_float(locked),
            "available_balance": to_float(portfolio.cash - locked),
        },
        "controls": engine.control_status(),
        "strategy_scorecard": engine.scorecard.view(),
    }


# ---------------------------------------------------------------------------
# status.json


def status(engine: Engine, *, alive: bool = True, reason: str = "") -> dict[str, Any]:
    portfolio = engine.portfolio
    wall = engine.clock.wall_ms()
    now = engine.clock.now_ms()
    next_update = wall + round(engine.heartbeat_s * 1000) if alive else None
    risk = engine.risk_view()
    daily_pnl = portfolio.realized_today() + sum(
        portfolio.unrealized(p) for p in portfolio.positions.values()
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "timestamp": iso(wall),
        "timestamp_epoch_s": describe.epoch_s(wall),
        "is_alive": alive,
        "next_update": iso(next_update) if next_update is not None else None,
        "next_update_epoch_s": describe.epoch_s(next_update) if next_update is not None else None,
        "heartbeat_s": engine.heartbeat_s,
        "pid": engine.pid,
        **describe.about(engine, wall),
        "mode": engine.mode.value,
        "trading_state": engine.trading_state.value,
        "reason": reason or engine.state_reason,
        "market_time": iso(now),
        "market_time_epoch_s": describe.epoch_s(now),
        "speed": engine.speed,
        "session_id": engine.journal.session_id,
        "last_activity_id": engine.journal.last_activity_id,
        "account": {
            "balance": to_float(portfolio.cash),
            "daily_pnl": to_float(daily_pnl),
            "open_positions": len(portfolio.positions),
            "daily_trades": engine.trades_today_count(),
        },
        "risk": risk,
        "limits": describe.limits(engine),
        "markets": describe.markets(engine),
        "active_positions": [
            {
                "symbol": p.market_id,
                "side": p.outcome.value,
                "quantity": to_float(p.shares),
                "entry": to_float(p.entry_price),
                "unrealized_pnl": to_float(portfolio.unrealized(p)),
                "stop": to_float(p.stop_price) if p.stop_price else None,
                "target": to_float(p.target_price) if p.target_price else None,
                "lifecycle": p.state,
            }
            for p in portfolio.positions.values()
        ],
        "last_signal": _last_signal(engine),
        "feeds": engine.feed_health(),
        "feed_connections": engine.feed_connections(),
        "errors": list(reversed(engine.activity.errors)),
    }


def _last_signal(engine: Engine) -> dict[str, Any] | None:
    if engine.last_signal is None:
        return None
    signal, result = engine.last_signal
    return {
        "time": iso(signal.ts_ms),
        "pattern": signal.strategy,
        "market": signal.market_id,
        "side": signal.outcome.value,
        "score": round(signal.score, 4),
        "executed": result.executed,
        "skip_reason": result.reason or None,
    }


# ---------------------------------------------------------------------------
# trades_today.json


def trades_today(engine: Engine) -> dict[str, Any]:
    portfolio = engine.portfolio
    day = iso(engine.day_start_ms)[:10]
    rows = engine.views.trades(engine)
    closed = [p for _, p in portfolio.closed_today]
    wins = sum(1 for p in closed if p.realized > 0)
    return {
        "schema_version": SCHEMA_VERSION,
        "date": day,
        "last_updated": iso(engine.clock.wall_ms()),
        "trades": rows,
        "summary": {
            "total_trades": len(rows),
            "closed_trades": len(closed),
            "open_trades": len(portfolio.positions),
            "wins": wins,
            "losses": len(closed) - wins,
            "total_pnl": to_float(sum(p.realized for p in closed)),
            "total_fees": to_float(sum(p.total_fees for p in closed)),
            "win_rate": round(wins / len(closed), 4) if closed else None,
        },
    }


def _trade_row(engine: Engine, p: Position, status: str, closed_ms: int | None) -> dict[str, Any]:
    return {
        "position_id": p.position_id,
        "market": engine.market_name(p.market_id),
        "market_id": p.market_id,
        "side": p.outcome.value,
        "strategy": p.strategy,
        "status": status,
        "shares": to_float(p.bought),
        "entry_time": iso(p.opened_ms),
        "entry_price": to_float(p.entry_price),
        "exit_time": iso(closed_ms) if closed_ms else None,
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
    }
