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


class QueryError(BotError):
    """A bad filter or an unreadable journal; the message is one line."""


GROUPS = ("day", "strategy", "market", "instrument")


@contextmanager
def connect(home: Path) -> Iterator[sqlite3.Connection]:
    path = home / "state" / "bot.db"
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
