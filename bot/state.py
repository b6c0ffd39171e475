"""The state files: projections of the engine's state, written atomically.

`write_json` puts the bytes in a temporary file in the same folder, fsyncs it, renames it
over the target with `os.replace` and fsyncs the folder, so a reader sees the old file or
the new one, never a torn one, even across a crash. The field names of
trading_state.json, status.json and trades_today.json are the operator's contract and are
documented in state/README.md; `SCHEMA_VERSION` changes when a field changes meaning.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bot.model import ONE, Micros, Order, Position, iso, notional, to_float

if TYPE_CHECKING:
    from bot.engine import Engine

SCHEMA_VERSION = 1


def write_json(path: Path, data: Any) -> None:
    payload = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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


def position_view(engine: Engine, p: Position) -> dict[str, Any]:
    portfolio = engine.portfolio
    mark = portfolio.mark(p)
    value = portfolio.value(p)
    basis = p.cost + p.fees
    market = engine.markets.get(p.market_id)
    return {
        "market_name": market.name if market else p.market_id,
        "market_id": p.market_id,
        "side": p.outcome.value,
        "entry_price": to_float(p.entry_price),
        "current_price": to_float(mark),
        "shares": to_float(p.shares),
        "cost_basis": to_float(basis),
        "current_value": to_float(value),
        "pnl": to_float(value - basis),
        "pnl_percent": _pct(value - basis, basis),
        "entry_edge": _points(p.entry_edge),
        "entry_date": iso(p.opened_ms),
        "status": "ACTIVE" if p.state in ("ENTRY", "MONITORING") else "EXITING",
        "lifecycle": p.state,
        "stop_price": to_float(p.stop_price) if p.stop_price else None,
        "target_price": to_float(p.target_price) if p.target_price else None,
        "peak_price": to_float(p.peak) if p.peak else None,
        "exit_trigger": p.exit_trigger or None,
        "strategy": p.strategy,
        "window_end": iso(market.window_end_ms) if market else None,
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
        "open_orders": [order_view(o, engine.market_name(o.market_id)) for o in orders],
        "active_positions": [position_view(engine, p) for p in positions],
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
    risk = engine.risk_view()
    daily_pnl = portfolio.realized_today() + sum(
        portfolio.unrealized(p) for p in portfolio.positions.values()
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "timestamp": iso(wall),
        "is_alive": alive,
        "next_update": iso(wall + round(engine.heartbeat_s * 1000)) if alive else None,
        "heartbeat_s": engine.heartbeat_s,
        "pid": engine.pid,
        "mode": engine.mode.value,
        "trading_state": engine.trading_state.value,
        "reason": reason or engine.state_reason,
        "market_time": iso(engine.clock.now_ms()),
        "speed": engine.speed,
        "session_id": engine.journal.session_id,
        "account": {
            "balance": to_float(portfolio.cash),
            "daily_pnl": to_float(daily_pnl),
            "open_positions": len(portfolio.positions),
            "daily_trades": engine.trades_today_count(),
        },
        "risk": risk,
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
    rows: list[dict[str, Any]] = []
    for closed_ms, p in portfolio.closed_today:
        rows.append(_trade_row(engine, p, "CLOSED", closed_ms))
    for p in portfolio.positions.values():
        rows.append(_trade_row(engine, p, "OPEN", None))
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
