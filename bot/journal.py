"""The durable journal: `state/bot.db`, SQLite in WAL mode, through sqlite-utils.

The engine is the only writer. It appends a step's rows and calls `commit()` before any
file shows them, so a `kill -9` at any moment loses no committed fill. Money columns
end in `_micros` (1 USDC = 1_000_000) and times in `_ms` (Unix epoch milliseconds, UTC);
`state/README.md` documents every table for readers with only the `sqlite3` shell.

Schema changes go through `MIGRATIONS` (bot/schema.py): each entry runs once, in order,
and `meta.schema_version` records how far a database has come.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import sqlite_utils

from bot.errors import StartupRefused, StorageError
from bot.journal_restore import Restored as Restored  # where it has always been imported from
from bot.journal_restore import Restoring
from bot.journal_restore import position_from_row as position_from_row
from bot.model import Fill, Market, Mode, Order, Outcome, Position, iso, resolution_name
from bot.schema import MIGRATIONS


class Journal(Restoring):
    """The journal. Every write goes through `_w`, which also keeps it until the commit: a
    commit refused by the disk (full, read-only) makes SQLite roll the transaction back, and
    the kept statements are then run again, so the rows wait in an open transaction for the
    next commit instead of being lost (`commit` raises `StorageError` meanwhile)."""

    def __init__(self, path: Path | str, *, durable: bool = False) -> None:
        memory = str(path) == ":memory:"
        self.path = Path(path)
        conn = sqlite3.connect(str(path), isolation_level="DEFERRED", check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.conn = conn
        try:
            if not memory:
                # read to its end, not by sqlite-utils' enable_wal(): to SQLite an unfinished
                # `PRAGMA journal_mode` is a write in progress, and while anything keeps its
                # cursor alive (a profiler holding the frame) every COMMIT here fails
                conn.execute("PRAGMA journal_mode=wal").fetchall()
            # NORMAL in WAL mode survives any process crash; FULL also survives power loss.
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            # nothing reaches the disk before the commit, so a full disk fails the commit only
            conn.execute("PRAGMA cache_spill=OFF")
            self._migrate()
        except BaseException:
            conn.close()
            raise
        self.session_id = 0
        self._redo: list[tuple[str, tuple[Any, ...]]] = []
        self.failing = False  # the last commit was refused
        self._activity_id = 0  # the newest activity row written, committed or not
        row = conn.execute("SELECT MAX(activity_id) FROM activity").fetchone()
        self.last_activity_id = int(row[0] or 0)  # ... and the newest committed

    def _migrate(self) -> None:
        current = 0
        if self.db["meta"].exists():
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            current = int(row[0]) if row else 0
        if current > len(MIGRATIONS):
            raise StartupRefused(
                f"state/{self.path.name} has schema version {current}, newer than this touchtrader"
                f" knows ({len(MIGRATIONS)}): run the newer version that wrote it, or start over"
                " with `bot run --fresh` (the old files are kept in state/archive-<time>/)"
            )
        if current == 0 and self.db.table_names():
            # killed while the journal was being created (sqlite-utils commits table by
            # table): it holds no session yet, so it is built again from nothing
            for view in self.db.view_names():
                self.conn.execute(f"DROP VIEW [{view}]")
            for table in self.db.table_names():
                self.conn.execute(f"DROP TABLE [{table}]")
            self.conn.commit()
        for version, step in enumerate(MIGRATIONS, start=1):
            if version > current:
                with self.conn:
                    step(self.db)
                    self.conn.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),)
                    )

    def _w(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        self._redo.append((sql, params))
        return self.conn.execute(sql, params)

    def close(self) -> None:
        self.conn.close()

    def commit(self) -> None:
        """Commit the step's rows; on a refusal keep them for the next try (StorageError)."""
        try:
            if self.failing:  # the rows since the last good commit, in order, once more
                if self.conn.in_transaction:
                    self.conn.rollback()
                for sql, params in self._redo:
                    self.conn.execute(sql, params)
            self.conn.commit()
        except sqlite3.Error as exc:
            self.failing = True
            if not self.conn.in_transaction:  # SQLite rolled it back: the rows wait again
                try:
                    for sql, params in self._redo:
                        self.conn.execute(sql, params)
                except sqlite3.Error:
                    self.conn.rollback()  # all or nothing: the next commit writes them all
            raise StorageError(f"cannot commit to state/{self.path.name}: {exc}") from exc
        self.failing = False
        self._redo.clear()
        self.last_activity_id = self._activity_id or self.last_activity_id

    @property
    def pending(self) -> int:
        """Writes waiting for a commit."""
        return len(self._redo)

    # -- meta ---------------------------------------------------------------------------

    def quick_check(self, limit: int) -> list[str]:
        """SQLite's `quick_check`: ["ok"], or up to `limit` problems."""
        return [str(r[0]) for r in self.conn.execute(f"PRAGMA quick_check({int(limit)})")]

    def mark_opened(self, ts_ms: int) -> None:
        """Write and commit `meta.opened_ms` at once, outside the step's rows: SQLite opens a
        journal it may not write read-only, without a word, so writing once tells."""
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('opened_ms', ?)", (str(ts_ms),))
        self.conn.commit()

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._w("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- redemptions (bot/redemption/job.py) --------------------------------------------

    REDEMPTION_COLUMNS: tuple[str, ...] = ("condition_id", "state", "sender", "tx_id", "reason")
    REDEMPTION_COLUMNS = (*REDEMPTION_COLUMNS, "attempts", "payout_micros", "next_try_ms", "updated_ms")

    def save_redemption(self, row: dict[str, Any]) -> None:
        values = tuple(row[c] for c in self.REDEMPTION_COLUMNS)
        marks = ", ".join("?" * len(values))
        self._w(
            f"INSERT OR REPLACE INTO redemptions ({', '.join(self.REDEMPTION_COLUMNS)}) VALUES ({marks})",
            values,
        )

    def awaiting_redemption(self) -> list[tuple[str, int]]:
        """(market id, shares) of the open positions whose market resolved in their favour."""
        cursor = self.conn.execute(
            "SELECT market_id, SUM(shares_micros) FROM positions"
            " WHERE status = 'OPEN' AND lifecycle = 'AWAITING_REDEMPTION'"
            " GROUP BY market_id ORDER BY market_id"
        )
        return [(str(m), int(s)) for m, s in cursor]

    def redemption_rows(self) -> list[dict[str, Any]]:
        cursor = self.conn.execute(
            f"SELECT {', '.join(self.REDEMPTION_COLUMNS)} FROM redemptions ORDER BY updated_ms"
        )
        return [dict(zip(self.REDEMPTION_COLUMNS, r, strict=True)) for r in cursor]

    # -- the inbox (bot/intake.py) ------------------------------------------------------

    INBOX_COLUMNS: tuple[str, ...] = ("session_id", "received_ms", "market_ms", "file", "digest", "kind")
    INBOX_COLUMNS = (*INBOX_COLUMNS, "source", "market_id", "result", "reason", "order_id", "content")

    def save_inbox(self, row: dict[str, Any]) -> int:
        values = (self.session_id, *(row[c] for c in self.INBOX_COLUMNS[1:]))
        marks = ", ".join("?" * len(values))
        cur = self._w(f"INSERT INTO inbox ({', '.join(self.INBOX_COLUMNS)}) VALUES ({marks})", values)
        return int(cur.lastrowid or 0)

    def inbox_seen(self, file: str, digest: str) -> dict[str, Any] | None:
        """The row of a file already handled with these bytes (the newest), or None."""
        cursor = self.conn.execute(
            f"SELECT inbox_id, {', '.join(self.INBOX_COLUMNS)} FROM inbox WHERE file = ? AND digest = ?"
            " ORDER BY inbox_id DESC LIMIT 1",
            (file, digest),
        )
        row = cursor.fetchone()
        return None if row is None else dict(zip(("inbox_id", *self.INBOX_COLUMNS), row, strict=True))

    def inbox_forecasts(self, since_ms: int) -> list[tuple[str, str, str, int]]:
        """(file, market_id, content, received_ms) of the forecasts accepted since `since_ms`."""
        cursor = self.conn.execute(
            "SELECT file, market_id, content, received_ms FROM inbox"
            " WHERE kind = 'forecast' AND result = 'ACCEPTED' AND received_ms >= ? ORDER BY inbox_id",
            (since_ms,),
        )
        return [(str(f), str(m), str(c), int(r)) for f, m, c, r in cursor]

    def inbox_counts(self) -> dict[str, int]:
        cursor = self.conn.execute("SELECT result, COUNT(*) FROM inbox GROUP BY result")
        return {str(r): int(n) for r, n in cursor}

    # -- sessions -----------------------------------------------------------------------

    def start_session(self, mode: Mode, version: str, pid: int, config: dict[str, Any], ts_ms: int) -> int:
        cur = self._w(
            "INSERT INTO sessions (mode, version, pid, config, started_ms, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (mode.value, version, pid, orjson.dumps(config).decode(), ts_ms, iso(ts_ms)),
        )
        self.session_id = int(cur.lastrowid or 0)
        self.commit()
        return self.session_id

    def stop_session(self, ts_ms: int, reason: str) -> None:
        self._w(
            "UPDATE sessions SET stopped_ms=?, stopped_at=?, exit_reason=? WHERE session_id=?",
            (ts_ms, iso(ts_ms), reason, self.session_id),
        )
        self.commit()

    # -- appends ------------------------------------------------------------------------

    def market_opened(self, m: Market) -> None:
        self._w(
            "INSERT OR IGNORE INTO markets (market_id, instrument, name, window_start_ms,"
            " window_end_ms, strike, tick_micros, min_size_micros, fee_rate_ppm)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m.market_id,
                m.instrument,
                m.name,
                m.window_start_ms,
                m.window_end_ms,
                m.strike,
                m.tick,
                m.min_size,
                m.fee_rate_ppm,
            ),
        )

    def market_strike(self, market_id: str, strike: float, source: str | None, ts_ms: int) -> None:
        """A new strike in force (the feed's, then Gamma's): the row follows the engine's record."""
        self._w(
            "UPDATE markets SET strike=?, strike_source=?, strike_ms=? WHERE market_id=?",
            (strike, source, ts_ms, market_id),
        )

    def market_resolved(self, market_id: str, outcome: Outcome | None, ts_ms: int) -> None:
        self._w(
            "UPDATE markets SET winning_outcome=?, resolved_ms=? WHERE market_id=?",
            (resolution_name(outcome), ts_ms, market_id),
        )

    def winning_outcome(self, market_id: str) -> str:
        """The market's journaled resolution: UP, DOWN, SPLIT, or "" when none."""
        cursor = self.conn.execute("SELECT winning_outcome FROM markets WHERE market_id=?", (market_id,))
        return str((cursor.fetchone() or ("",))[0] or "")

    def save_order(self, o: Order, mode: Mode, ts_ms: int) -> None:
        self._w(
            "INSERT OR REPLACE INTO orders (order_id, session_id, mode, market_id, outcome,"
            " action, order_type, intent, price_micros, size_micros, filled_micros, status,"
            " strategy, edge_micros, created_ms, expires_ms, updated_ms, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                o.order_id,
                self.session_id,
                mode.value,
                o.market_id,
                o.outcome.value,
                o.action.value,
                o.order_type.value,
                o.intent.value,
                o.price,
                o.size,
                o.filled,
                o.status.value,
                o.strategy,
                o.edge,
                o.created_ms,
                o.expires_ms,
                ts_ms,
                o.reason,
            ),
        )

    def has_fill(self, fill_id: str) -> bool:
        sql = "SELECT 1 FROM fills WHERE fill_id=?"
        return self.conn.execute(sql, (fill_id,)).fetchone() is not None

    def add_fill(self, f: Fill, mode: Mode) -> None:
        self._w(
            "INSERT INTO fills (fill_id, order_id, session_id, mode, ts_ms, market_id, outcome,"
            " action, price_micros, shares_micros, fee_micros, liquidity)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                f.fill_id,
                f.order_id,
                self.session_id,
                mode.value,
                f.ts_ms,
                f.market_id,
                f.outcome.value,
                f.action.value,
                f.price,
                f.shares,
                f.fee,
                f.liquidity.value,
            ),
        )

    _POSITION_COLUMNS = (
        "mode, market_id, outcome, status, shares_micros, cost_micros, fees_micros,"
        " bought_micros, bought_cost_micros, sold_micros, sold_value_micros, total_fees_micros,"
        " realized_pnl_micros, entry_edge_micros, strategy, opened_ms, closed_ms, exit_reason,"
        " lifecycle, stop_price_micros, target_price_micros, peak_price_micros, exit_trigger,"
        " exit_threshold, trigger_price_micros, intended_exit_price_micros"
    )

    def save_position(self, p: Position, mode: Mode, status: str, closed_ms: int | None) -> int:
        values = (
            mode.value,
            p.market_id,
            p.outcome.value,
            status,
            p.shares,
            p.cost,
            p.fees,
            p.bought,
            p.bought_cost,
            p.sold,
            p.sold_value,
            p.total_fees,
            p.realized,
            p.entry_edge,
            p.strategy,
            p.opened_ms,
            closed_ms,
            p.exit_reason,
            p.state,
            p.stop_price,
            p.target_price,
            p.peak,
            p.exit_trigger,
            p.exit_threshold,
            p.trigger_price,
            p.intended_exit_price,
        )
        if p.position_id is None:
            cur = self._w(
                f"INSERT INTO positions ({self._POSITION_COLUMNS}) VALUES ({', '.join('?' * len(values))})",
                values,
            )
            p.position_id = int(cur.lastrowid or 0)
        else:
            self._w(
                f"REPLACE INTO positions (position_id, {self._POSITION_COLUMNS})"
                f" VALUES ({', '.join('?' * (len(values) + 1))})",
                (p.position_id, *values),
            )
        return p.position_id

    def add_cash(self, ts_ms: int, mode: Mode, kind: str, amount: int, ref: str) -> None:
        self._w(
            "INSERT INTO cash (ts_ms, session_id, mode, kind, amount_micros, ref) VALUES (?,?,?,?,?,?)",
            (ts_ms, self.session_id, mode.value, kind, amount, ref),
        )

    def add_activity(self, ts_ms: int, kind: str, market: str, details: str) -> None:
        cur = self._w(
            "INSERT INTO activity (ts_ms, timestamp, session_id, type, market, details) VALUES (?,?,?,?,?,?)",
            (ts_ms, iso(ts_ms), self.session_id, kind, market, details),
        )
        self._activity_id = int(cur.lastrowid or 0)

    def add_signal(self, row: dict[str, Any]) -> None:
        self._w(
            "INSERT INTO signals (ts_ms, session_id, strategy, market_id, outcome, action,"
            " price_micros, edge_micros, score, reason, executed, skip_reason, order_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                row["ts_ms"],
                self.session_id,
                row["strategy"],
                row["market_id"],
                row["outcome"],
                row["action"],
                row["price_micros"],
                row["edge_micros"],
                row["score"],
                row["reason"],
                int(row["executed"]),
                row["skip_reason"],
                row["order_id"],
            ),
        )

    def add_control(self, ts_ms: int, name: str, file: str, result: str, reason: str) -> None:
        self._w(
            "INSERT INTO controls (ts_ms, session_id, name, file, result, reason) VALUES (?,?,?,?,?,?)",
            (ts_ms, self.session_id, name, file, result, reason),
        )

    def set_runtime(self, key: str, value: Any, ts_ms: int, source: str) -> None:
        self._w(
            "INSERT OR REPLACE INTO runtime_controls (key, value, updated_ms, source) VALUES (?,?,?,?)",
            (key, orjson.dumps(value).decode(), ts_ms, source),
        )

    def delete_runtime(self, key: str) -> None:
        self._w("DELETE FROM runtime_controls WHERE key=?", (key,))

    def runtime(self) -> dict[str, Any]:
        return {r["key"]: orjson.loads(r["value"]) for r in self.rows("SELECT * FROM runtime_controls")}

    # -- reads --------------------------------------------------------------------------

    def cash_balance(self, mode: Mode) -> int:
        sql = "SELECT COALESCE(SUM(amount_micros), 0) FROM cash WHERE mode=?"
        return int(self.conn.execute(sql, (mode.value,)).fetchone()[0])

    def has_deposit(self, mode: Mode) -> bool:
        sql = "SELECT 1 FROM cash WHERE mode=? AND kind='DEPOSIT' LIMIT 1"
        return self.conn.execute(sql, (mode.value,)).fetchone() is not None

    def fill_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0])

    def last_session_id(self) -> int:
        """The newest session in the journal (committed or not), 0 when none."""
        return int(self.conn.execute("SELECT COALESCE(MAX(session_id), 0) FROM sessions").fetchone()[0])

    def session_row(self, session_id: int) -> tuple[Any, ...] | None:
        """(version, config, started_ms) of a session."""
        sql = "SELECT version, config, started_ms FROM sessions WHERE session_id=?"
        row = self.conn.execute(sql, (session_id,)).fetchone()
        return None if row is None else tuple(row)

    def recent_activity(self, limit: int | None) -> Iterator[dict[str, Any]]:
        """The newest `limit` activity rows, oldest first."""
        sql = "SELECT * FROM (SELECT * FROM activity ORDER BY activity_id DESC LIMIT ?) ORDER BY activity_id"
        return self.rows(sql, (limit,))

    def recent_errors(self, limit: int = 5) -> Iterator[dict[str, Any]]:
        """The newest `limit` ERROR activity rows, oldest first."""
        sql = (
            "SELECT * FROM (SELECT * FROM activity WHERE type='ERROR'"
            " ORDER BY activity_id DESC LIMIT ?) ORDER BY activity_id"
        )
        return self.rows(sql, (limit,))

    def closed_positions(self, mode: Mode, since_ms: int | None = None) -> Iterator[dict[str, Any]]:
        """The mode's closed positions in closing order (those closed at `since_ms` or later)."""
        sql = "SELECT * FROM positions WHERE mode=? AND status='CLOSED'"
        if since_ms is None:
            return self.rows(sql + " ORDER BY closed_ms, position_id", (mode.value,))
        return self.rows(sql + " AND closed_ms >= ? ORDER BY closed_ms, position_id", (mode.value, since_ms))

    def realized_closed(self, mode: Mode) -> int:
        """Σ realized P&L of the mode's closed positions."""
        sql = "SELECT COALESCE(SUM(realized_pnl_micros), 0) FROM positions WHERE mode=? AND status='CLOSED'"
        return int(self.conn.execute(sql, (mode.value,)).fetchone()[0])

    def signals_in_order(self) -> Iterator[dict[str, Any]]:
        """Every signal in time order: ts_ms, strategy, market_id, executed, skip_reason."""
        return self.rows(
            "SELECT ts_ms, strategy, market_id, executed, skip_reason FROM signals ORDER BY ts_ms, rowid"
        )

    def order_strategies(self) -> dict[str, str]:
        """Order id -> the strategy that placed it ("" when none)."""
        return {
            r["order_id"]: r["strategy"] or "" for r in self.rows("SELECT order_id, strategy FROM orders")
        }

    def skipped_signals(self) -> Iterator[dict[str, Any]]:
        """Signals not executed, counted by strategy and reason: strategy, skip_reason, n."""
        sql = (
            "SELECT strategy, skip_reason, COUNT(*) AS n FROM signals WHERE executed=0"
            " GROUP BY strategy, skip_reason"
        )
        return self.rows(sql)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        for values in cur:
            yield dict(zip(names, values, strict=True))

    def window_entries(self, mode: Mode) -> list[tuple[str, str]]:
        """(market, strategy) of every entry order placed in a window that is still open."""
        rows = self.conn.execute(
            "SELECT o.market_id, o.strategy FROM orders o JOIN markets m ON m.market_id = o.market_id"
            " WHERE o.mode=? AND o.intent='ENTRY' AND m.resolved_ms IS NULL",
            (mode.value,),
        )
        return [(market, strategy or "") for market, strategy in rows]
