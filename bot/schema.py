"""The journal's schema: `MIGRATIONS`, run once each and in order by bot/journal.py.

sqlite-utils commits table by table, so a kill can leave a migration half done: a journal
cut short inside `_v1` holds no session yet and is built again (bot/journal.py); later
migrations check before they add, so running one again finishes it.
state/README.md documents every table for readers with only the `sqlite3` shell.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("sessions").create(
        {
            "session_id": int,
            "mode": str,
            "version": str,
            "pid": int,
            "config": str,
            "started_ms": int,
            "started_at": str,
            "stopped_ms": int,
            "stopped_at": str,
            "exit_reason": str,
        },
        pk="session_id",
    )
    db.table("markets").create(
        {
            "market_id": str,
            "instrument": str,
            "name": str,
            "window_start_ms": int,
            "window_end_ms": int,
            "strike": float,
            "tick_micros": int,
            "min_size_micros": int,
            "fee_rate_ppm": int,
            "winning_outcome": str,
            "resolved_ms": int,
        },
        pk="market_id",
    )
    db.table("orders").create(
        {
            "order_id": str,
            "session_id": int,
            "mode": str,
            "market_id": str,
            "outcome": str,
            "action": str,
            "order_type": str,
            "intent": str,
            "price_micros": int,
            "size_micros": int,
            "filled_micros": int,
            "status": str,
            "strategy": str,
            "edge_micros": int,
            "created_ms": int,
            "expires_ms": int,
            "updated_ms": int,
            "reason": str,
        },
        pk="order_id",
    )
    db.table("fills").create(
        {
            "fill_id": str,
            "order_id": str,
            "session_id": int,
            "mode": str,
            "ts_ms": int,
            "market_id": str,
            "outcome": str,
            "action": str,
            "price_micros": int,
            "shares_micros": int,
            "fee_micros": int,
            "liquidity": str,
        },
        pk="fill_id",
        foreign_keys=[("order_id", "orders", "order_id")],
    )
    db.table("positions").create(
        {
            "position_id": int,
            "mode": str,
            "market_id": str,
            "outcome": str,
            "status": str,
            "shares_micros": int,
            "cost_micros": int,
            "fees_micros": int,
            "bought_micros": int,
            "bought_cost_micros": int,
            "sold_micros": int,
            "sold_value_micros": int,
            "total_fees_micros": int,
            "realized_pnl_micros": int,
            "entry_edge_micros": int,
            "strategy": str,
            "opened_ms": int,
            "closed_ms": int,
            "exit_reason": str,
        },
        pk="position_id",
    )
    db.table("cash").create(
        {
            "entry_id": int,
            "ts_ms": int,
            "session_id": int,
            "mode": str,
            "kind": str,
            "amount_micros": int,
            "ref": str,
        },
        pk="entry_id",
    )
    db.table("activity").create(
        {
            "activity_id": int,
            "ts_ms": int,
            "timestamp": str,
            "session_id": int,
            "type": str,
            "market": str,
            "details": str,
        },
        pk="activity_id",
    )
    db.table("signals").create(
        {
            "signal_id": int,
            "ts_ms": int,
            "session_id": int,
            "strategy": str,
            "market_id": str,
            "outcome": str,
            "action": str,
            "price_micros": int,
            "edge_micros": int,
            "score": float,
            "reason": str,
            "executed": int,
            "skip_reason": str,
            "order_id": str,
        },
        pk="signal_id",
    )
    db.table("controls").create(
        {
            "control_id": int,
            "ts_ms": int,
            "session_id": int,
            "name": str,
            "file": str,
            "result": str,
            "reason": str,
        },
        pk="control_id",
    )
    db.table("runtime_controls").create(
        {"key": str, "value": str, "updated_ms": int, "source": str}, pk="key"
    )
    db.table("orders").create_index(["status"])
    db.table("positions").create_index(["status"])
    db.table("fills").create_index(["ts_ms"])
    db.table("activity").create_index(["ts_ms"])


def _v2(db: sqlite_utils.Database) -> None:
    """Position lifecycle and exit records; the strategy scorecard view."""
    positions = db.table("positions")
    have = set(positions.columns_dict)
    for name, kind in (
        ("lifecycle", str),
        ("stop_price_micros", int),
        ("target_price_micros", int),
        ("peak_price_micros", int),
        ("exit_trigger", str),
        ("exit_threshold", str),
        ("trigger_price_micros", int),
        ("intended_exit_price_micros", int),
    ):
        if name not in have:
            positions.add_column(name, kind)
    db.create_view(
        "strategy_scorecard",
        """
        SELECT strategy, mode,
               COUNT(*) AS trades,
               SUM(realized_pnl_micros > 0) AS wins,
               ROUND(1.0 * SUM(realized_pnl_micros > 0) / COUNT(*), 4) AS win_rate,
               SUM(realized_pnl_micros) AS pnl_micros
        FROM positions WHERE status = 'CLOSED' GROUP BY strategy, mode
        """,
        replace=True,
    )


def _v3(db: sqlite_utils.Database) -> None:
    """Redemptions of won positions on chain (bot/redemption/job.py): one row per market."""
    if not db["redemptions"].exists():
        db.table("redemptions").create(
            {
                "condition_id": str,
                "state": str,
                "sender": str,
                "tx_id": str,
                "reason": str,
                "attempts": int,
                "payout_micros": int,
                "next_try_ms": int,
                "updated_ms": int,
            },
            pk="condition_id",
        )


def _v4(db: sqlite_utils.Database) -> None:
    """The inbox (bot/intake.py): one row per file handed to the bot, accepted or rejected."""
    if not db["inbox"].exists():
        db.table("inbox").create(
            {
                "inbox_id": int,
                "session_id": int,
                "received_ms": int,
                "market_ms": int,
                "file": str,
                "digest": str,
                "kind": str,
                "source": str,
                "market_id": str,
                "result": str,
                "reason": str,
                "order_id": str,
                "content": str,
            },
            pk="inbox_id",
        )
        db.table("inbox").create_index(["file", "digest"])


def _v5(db: sqlite_utils.Database) -> None:
    """The strike in force: where it came from (`feed`, `gamma`) and when it was set."""
    markets = db.table("markets")
    have = set(markets.columns_dict)
    for name, kind in (("strike_source", str), ("strike_ms", int)):
        if name not in have:
            markets.add_column(name, kind)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5]
