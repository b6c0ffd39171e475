"""Questions about the journal: sessions, trades and P&L, read-only from `state/bot.db`.

Standard library sqlite3 only (opened `mode=ro`, so it works beside a running bot and can
never write), never the engine, the journal library or a venue. Money stays in integer
micros until it is printed (bot.figures), so every figure adds up to the journal's to the
micro: `SELECT SUM(realized_pnl_micros) FROM positions WHERE status='CLOSED'` is the total
of `bot pnl`.

A trade is a position, from its first buy to its last exit. It belongs to the session that
opened it: the session of its first BUY fill (positions carry no session id). Its P&L is
net of fees and counted once it is closed; times are market time (state/README.md).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.figures import ONE
from bot.layout import Paths


class QueryError(BotError):
    """A bad filter or an unreadable journal; the message is one line."""


GROUPS = ("day", "strategy", "market", "instrument")


@contextmanager
def connect(home: Path) -> Iterator[sqlite3.Connection]:
    path = Paths(home).journal
    if not path.is_file():
        raise QueryError(f"{path} does not exist: no trades yet (the bot writes it at its first start)")
    try:
        conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise QueryError(f"{path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    except sqlite3.Error as exc:
        raise QueryError(f"{path}: {exc}") from None
    finally:
        conn.close()


# The session of a position: the session of its first BUY fill.
_POSITIONS = """
SELECT p.*, m.name AS market_name, m.instrument AS instrument,
       (SELECT f.session_id FROM fills f
         WHERE f.mode = p.mode AND f.market_id = p.market_id AND f.outcome = p.outcome
           AND f.action = 'BUY' AND f.ts_ms >= p.opened_ms
         ORDER BY f.ts_ms, f.rowid LIMIT 1) AS session_id
FROM positions p LEFT JOIN markets m ON m.market_id = p.market_id
"""


MODES = ("PAPER", "DRY_RUN", "LIVE", "BACKTEST")


def mode_name(text: str) -> str:
    """`paper`, `dry-run`, `live` as the journal spells them; QueryError for anything else."""
    name = text.strip().upper().replace("-", "_")
    if name not in MODES:
        raise QueryError(f"--mode {text!r}: expected paper, dry-run, live or backtest")
    return name


def parse_since(text: str, now: datetime | None = None) -> int:
    """`2026-11-22`, `2026-11-22T03:00:00Z` or a span back from now: `90m`, `12h`, `7d`."""
    text = text.strip()
    span = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", text)
    if span:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[span.group(2)]
        start = (now or datetime.now(UTC)) - timedelta(**{unit: float(span.group(1))})
        return int(start.timestamp() * 1000)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"--since {text!r}: expected a date (2026-11-22), a UTC time (2026-11-22T03:00:00Z)"
            " or a span back from now (90m, 12h, 7d)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def iso(ts_ms: int | None) -> str | None:
    if ts_ms is None:
        return None
    seconds, millis = divmod(int(ts_ms), 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


def _trade(r: sqlite3.Row) -> dict[str, Any]:
    bought, sold = r["bought_micros"], r["sold_micros"]
    closed = r["status"] == "CLOSED"
    gross = r["sold_value_micros"] - r["bought_cost_micros"] if closed else None
    return {
        "position_id": r["position_id"],
        "session_id": r["session_id"],
        "mode": r["mode"],
        "market_id": r["market_id"],
        "market": r["market_name"] or r["market_id"],
        "side": r["outcome"],
        "strategy": r["strategy"] or "",
        "status": r["status"],
        "entry_time": iso(r["opened_ms"]),
        "exit_time": iso(r["closed_ms"]),
        "shares_micros": bought,
        "entry_price_micros": r["bought_cost_micros"] * ONE // bought if bought else None,
        "exit_price_micros": r["sold_value_micros"] * ONE // sold if sold else None,
        "fees_micros": r["total_fees_micros"],
        "gross_pnl_micros": gross,
        "pnl_micros": r["realized_pnl_micros"] if closed else None,
        "exit_reason": r["exit_reason"] or None,
    }


def trades(
    home: Path,
    *,
    limit: int | None = 20,
    since_ms: int | None = None,
    session: int | None = None,
    strategy: str | None = None,
    mode: str | None = None,
) -> list[dict[str, Any]]:
    """Trades newest first (by exit, else entry time), filtered; limit None or 0: all."""
    where: list[str] = []
    params: list[Any] = []
    if since_ms is not None:
        where.append("opened_ms >= ?")
        params.append(since_ms)
    if session is not None:
        where.append("session_id = ?")
        params.append(session)
    if strategy:
        where.append("strategy = ?")
        params.append(strategy)
    if mode:
        where.append("mode = ?")
        params.append(mode_name(mode))
    sql = f"SELECT * FROM ({_POSITIONS})"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY COALESCE(closed_ms, opened_ms) DESC, position_id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    with connect(home) as conn:
        return [_trade(r) for r in conn.execute(sql, params)]


def sessions(home: Path, mode: str | None = None) -> list[dict[str, Any]]:
    """Every run of the bot, oldest first, with the trades it opened and their P&L."""
    sql = f"""
    SELECT s.session_id, s.mode, s.version, s.pid, s.started_at, s.stopped_at, s.exit_reason,
           COUNT(t.position_id) AS trades,
           COALESCE(SUM(t.status = 'OPEN'), 0) AS open_trades,
           COALESCE(SUM(t.status = 'CLOSED' AND t.realized_pnl_micros > 0), 0) AS wins,
           COALESCE(SUM(CASE WHEN t.status = 'CLOSED' THEN t.realized_pnl_micros END), 0) AS pnl_micros,
           COALESCE(SUM(CASE WHEN t.status = 'CLOSED' THEN t.total_fees_micros END), 0) AS fees_micros
    FROM sessions s LEFT JOIN ({_POSITIONS}) t ON t.session_id = s.session_id
    {"WHERE s.mode = ?" if mode else ""}
    GROUP BY s.session_id ORDER BY s.session_id
    """
    params = [mode_name(mode)] if mode else []
    with connect(home) as conn:
        rows = [dict(r) for r in conn.execute(sql, params)]
    for row in rows:
        row["closed_trades"] = row["trades"] - row["open_trades"]
        if row["stopped_at"] is None:
            row["exit_reason"] = None  # still running, or killed without a word (bot status says)
    return rows


def pnl(home: Path, by: str, mode: str | None = None, since_ms: int | None = None) -> list[dict[str, Any]]:
    """Closed trades grouped by day (UTC day of the exit, market time), strategy, market or instrument."""
    if by not in GROUPS:
        raise QueryError(f"--by {by!r}: expected one of {', '.join(GROUPS)}")
    key = {
        "day": "strftime('%Y-%m-%d', closed_ms / 1000, 'unixepoch')",
        "strategy": "COALESCE(NULLIF(strategy, ''), '(none)')",
        "market": "COALESCE(market_name, market_id)",
        "instrument": "COALESCE(instrument, market_name, market_id)",
    }[by]
    where: list[str] = ["status = 'CLOSED'"]
    params: list[Any] = []
    if mode:
        where.append("mode = ?")
        params.append(mode_name(mode))
    if since_ms is not None:
        where.append("closed_ms >= ?")
        params.append(since_ms)
    sql = f"""
    SELECT {key} AS key, mode, COUNT(*) AS trades,
           SUM(realized_pnl_micros > 0) AS wins, SUM(realized_pnl_micros <= 0) AS losses,
           SUM(sold_value_micros - bought_cost_micros) AS gross_pnl_micros,
           SUM(total_fees_micros) AS fees_micros, SUM(realized_pnl_micros) AS pnl_micros
    FROM ({_POSITIONS}) WHERE {" AND ".join(where)}
    GROUP BY mode, key ORDER BY mode, key
    """
    with connect(home) as conn:
        return [dict(r) for r in conn.execute(sql, params)]


def totals(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per mode: the sums of `pnl` rows (never mixed across modes: paper money is not money)."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        t = out.setdefault(r["mode"], dict.fromkeys(("trades", "wins", "losses"), 0))
        for name in ("trades", "wins", "losses", "gross_pnl_micros", "fees_micros", "pnl_micros"):
            t[name] = t.get(name, 0) + r[name]
    return out


# -- the journal read over one connection: compare, the control acknowledgements, doctor ---


def open_readonly(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """`path` opened read-only (rows by name); sqlite3.Error when it cannot be."""
    conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=timeout)
    conn.row_factory = sqlite3.Row
    return conn


def has_sessions_table(conn: sqlite3.Connection) -> None:
    """sqlite3.Error unless the file is a journal (it has the sessions table)."""
    conn.execute("SELECT 1 FROM sessions LIMIT 1")


def session(conn: sqlite3.Connection, session_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM sessions WHERE session_id=?", (session_id,)).fetchone()


def last_session_id(conn: sqlite3.Connection) -> int | None:
    last = conn.execute("SELECT MAX(session_id) FROM sessions").fetchone()[0]
    return None if last is None else int(last)


def previous_session_id(conn: sqlite3.Connection, mode: str, session_id: int) -> int | None:
    """The mode's newest session before `session_id`."""
    sql = "SELECT MAX(session_id) FROM sessions WHERE mode=? AND session_id<?"
    earlier = conn.execute(sql, (mode, session_id)).fetchone()[0]
    return None if earlier is None else int(earlier)


def first_start_market_ms(conn: sqlite3.Connection) -> int | None:
    """Market time of the journal's first start (its first BOT_STARTED; sessions.started_ms
    is the wall clock)."""
    first = conn.execute("SELECT MIN(ts_ms) FROM activity WHERE type='BOT_STARTED'").fetchone()[0]
    return None if first is None else int(first)


def last_wall_ms(conn: sqlite3.Connection) -> int | None:
    """The latest start or stop of any session, wall clock."""
    sql = "SELECT MAX(MAX(started_ms), MAX(COALESCE(stopped_ms, 0))) FROM sessions"
    value = conn.execute(sql).fetchone()[0]
    return None if value is None else int(value)


def activity_ms(conn: sqlite3.Connection, session_id: int, kind: str, last: bool = False) -> int | None:
    """Market time of the session's first (or last) activity row of type `kind`."""
    sql = f"SELECT {'MAX' if last else 'MIN'}(ts_ms) FROM activity WHERE session_id=? AND type=?"
    row = conn.execute(sql, (session_id, kind)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def cash_before_session(conn: sqlite3.Connection, mode: str, session_id: int) -> int:
    """Σ every cash movement of the mode's sessions before `session_id`."""
    sql = "SELECT COALESCE(SUM(amount_micros), 0) FROM cash WHERE mode=? AND session_id<?"
    return int(conn.execute(sql, (mode, session_id)).fetchone()[0])


def deposits_before_first_trade(conn: sqlite3.Connection, mode: str, session_id: int) -> int:
    """Σ the deposits a session booked before its first other cash movement."""
    sql = "SELECT MIN(entry_id) FROM cash WHERE mode=? AND session_id=? AND kind!='DEPOSIT'"
    first_trade = conn.execute(sql, (mode, session_id)).fetchone()[0]
    sql = (
        "SELECT COALESCE(SUM(amount_micros), 0) FROM cash WHERE mode=? AND session_id=? AND kind='DEPOSIT'"
        " AND entry_id < ?"
    )
    params = (mode, session_id, first_trade if first_trade is not None else 1 << 62)
    return int(conn.execute(sql, params).fetchone()[0])


def buy_fills(conn: sqlite3.Connection, mode: str) -> Iterator[sqlite3.Row]:
    """The mode's BUY fills in time order: market_id, outcome, ts_ms, session_id (of the order)."""
    return conn.execute(
        "SELECT f.market_id, f.outcome, f.ts_ms, o.session_id FROM fills f"
        " LEFT JOIN orders o ON o.order_id = f.order_id"
        " WHERE f.mode=? AND f.action='BUY' ORDER BY f.ts_ms, f.rowid",
        (mode,),
    )


def settled_by(conn: sqlite3.Connection, mode: str, market_id: str, ts_ms: int) -> int | None:
    """The session that booked the market's settlement at `ts_ms`."""
    found = conn.execute(
        "SELECT session_id FROM cash WHERE mode=? AND kind='SETTLEMENT' AND ref=? AND ts_ms=?"
        " ORDER BY entry_id LIMIT 1",
        (mode, market_id, ts_ms),
    ).fetchone()
    return None if found is None else found[0]


def sold_by(conn: sqlite3.Connection, mode: str, market_id: str, outcome: str, ts_ms: int) -> int | None:
    """The session of the last SELL fill of the side at `ts_ms`."""
    found = conn.execute(
        "SELECT session_id FROM fills WHERE mode=? AND market_id=? AND outcome=? AND action='SELL'"
        " AND ts_ms=? ORDER BY rowid DESC LIMIT 1",
        (mode, market_id, outcome, ts_ms),
    ).fetchone()
    return None if found is None else found[0]


def positions_in_order(conn: sqlite3.Connection, mode: str) -> Iterator[sqlite3.Row]:
    """One mode's positions in opening order (a session's and its replay's alike)."""
    return conn.execute("SELECT * FROM positions WHERE mode=? ORDER BY opened_ms, position_id", (mode,))


def limits_adjusted_before(conn: sqlite3.Connection, mode: str, session_id: int) -> int:
    """ADJUST_RISK and RESET controls applied in the mode's sessions before `session_id`."""
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM controls c JOIN sessions s ON s.session_id = c.session_id"
            " WHERE s.mode=? AND c.session_id<? AND c.result='APPLIED'"
            " AND c.name IN ('ADJUST_RISK', 'RESET')",
            (mode, session_id),
        ).fetchone()[0]
    )


def applied_controls(conn: sqlite3.Connection, session_id: int) -> list[tuple[int, str, str]]:
    """(ts_ms, control, reason) of the controls applied in the session, in time order."""
    rows = conn.execute(
        "SELECT ts_ms, name, reason FROM controls WHERE session_id=? AND result='APPLIED'"
        " ORDER BY ts_ms, rowid",
        (session_id,),
    )
    return [(int(c["ts_ms"]), str(c["name"]), str(c["reason"] or "")) for c in rows]


def last_control_id(conn: sqlite3.Connection) -> int:
    """The newest row of the controls table (0 when none)."""
    return int(conn.execute("SELECT COALESCE(MAX(control_id), 0) FROM controls").fetchone()[0])


def control_answer(conn: sqlite3.Connection, after_id: int, name: str) -> tuple[str, str, str] | None:
    """(result, reason, file) of the first `name` control recorded after row `after_id`."""
    row = conn.execute(
        "SELECT result, reason, file FROM controls WHERE control_id > ? AND name = ?"
        " ORDER BY control_id LIMIT 1",
        (after_id, name),
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def runtime_controls(conn: sqlite3.Connection) -> list[tuple[str, str, int | None, str | None]]:
    """(key, JSON value, updated_ms, source) of each persisted ADJUST_RISK value, in key order."""
    rows = conn.execute("SELECT key, value, updated_ms, source FROM runtime_controls ORDER BY key")
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def quick_check(conn: sqlite3.Connection) -> str:
    """SQLite's `quick_check` of the file: "ok" or the first problem."""
    return str(conn.execute("PRAGMA quick_check").fetchone()[0])


def journal_schema(conn: sqlite3.Connection) -> str | None:
    """meta.schema_version: how far the journal's migrations have come."""
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return None if row is None else str(row[0])
