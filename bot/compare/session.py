"""The session's side, read from its journal (read-only): its start, its starting cash, its
positions (those whose first BUY fill belongs to an order the session placed) and the
context a replay cannot reproduce (restarts, carried positions, operator controls).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.compare.model import CompareError, Side, one_line, plural
from bot.layout import PAUSE
from bot.model import ONE, iso

# one mode's positions in opening order; the replay's journal is read the same way
POSITIONS_SQL = "SELECT * FROM positions WHERE mode=? ORDER BY opened_ms, position_id"


def open_journal(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        raise CompareError(f"{db}: no journal here (is this the bot's home?)")
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        conn.execute("SELECT 1 FROM sessions LIMIT 1")
    except sqlite3.Error as exc:
        raise CompareError(f"{db}: cannot read the journal: {one_line(exc)}") from None
    return conn


def market_start_ms(conn: sqlite3.Connection, session: sqlite3.Row) -> int:
    """Market time at the start (sessions.started_ms is the wall clock; BOT_STARTED has market time)."""
    row = conn.execute(
        "SELECT MIN(ts_ms) FROM activity WHERE session_id=? AND type='BOT_STARTED'", (session["session_id"],)
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else int(session["started_ms"])


def starting_cash(conn: sqlite3.Connection, mode: str, session_id: int) -> int:
    """The cash ledger at the session's start: every earlier session's movements, plus the
    starting deposit the session itself booked before its first trade."""
    earlier = conn.execute(
        "SELECT COALESCE(SUM(amount_micros), 0) FROM cash WHERE mode=? AND session_id<?", (mode, session_id)
    ).fetchone()[0]
    first_trade = conn.execute(
        "SELECT MIN(entry_id) FROM cash WHERE mode=? AND session_id=? AND kind!='DEPOSIT'", (mode, session_id)
    ).fetchone()[0]
    deposits = conn.execute(
        "SELECT COALESCE(SUM(amount_micros), 0) FROM cash WHERE mode=? AND session_id=? AND kind='DEPOSIT'"
        " AND entry_id < ?",
        (mode, session_id, first_trade if first_trade is not None else 1 << 62),
    ).fetchone()[0]
    return int(earlier) + int(deposits)


def _first_buy_sessions(conn: sqlite3.Connection, mode: str) -> dict[tuple[str, str, int], int | None]:
    """(market, outcome, opened_ms) -> session of the order behind the position's first BUY fill."""
    first: dict[tuple[str, str, int], int | None] = {}
    for f in conn.execute(
        "SELECT f.market_id, f.outcome, f.ts_ms, o.session_id FROM fills f"
        " LEFT JOIN orders o ON o.order_id = f.order_id"
        " WHERE f.mode=? AND f.action='BUY' ORDER BY f.ts_ms, f.rowid",
        (mode,),
    ):
        first.setdefault((f["market_id"], f["outcome"], f["ts_ms"]), f["session_id"])
    return first


def _closed_by(conn: sqlite3.Connection, r: sqlite3.Row) -> int | None:
    """The session whose settlement or SELL fill closed the position."""
    if r["status"] != "CLOSED" or r["closed_ms"] is None:
        return None
    if r["exit_reason"] in ("WON", "LOST"):
        found = conn.execute(
            "SELECT session_id FROM cash WHERE mode=? AND kind='SETTLEMENT' AND ref=? AND ts_ms=?"
            " ORDER BY entry_id LIMIT 1",
            (r["mode"], r["market_id"], r["closed_ms"]),
        ).fetchone()
    else:
        found = conn.execute(
            "SELECT session_id FROM fills WHERE mode=? AND market_id=? AND outcome=? AND action='SELL'"
            " AND ts_ms=? ORDER BY rowid DESC LIMIT 1",
            (r["mode"], r["market_id"], r["outcome"], r["closed_ms"]),
        ).fetchone()
    return None if found is None else found[0]


def side_from_row(r: sqlite3.Row, closed_by: int | None) -> Side:
    bought, sold = r["bought_micros"] or 0, r["sold_micros"] or 0
    return Side(
        position_id=int(r["position_id"]),
        status=str(r["status"]),
        entry_ms=int(r["opened_ms"]),
        entry_price=(r["bought_cost_micros"] or 0) * ONE // bought if bought else 0,
        shares=bought,
        exit_ms=r["closed_ms"],
        exit_price=(r["sold_value_micros"] or 0) * ONE // sold if sold else 0,
        exit_reason=r["exit_reason"] or "",
        exit_trigger=r["exit_trigger"] or "",
        net_pnl=int(r["realized_pnl_micros"] or 0),
        fees=int(r["total_fees_micros"] or 0),
        closed_by_session=closed_by,
    )


@dataclass
class Positions:
    """The session's positions by (market, side, strategy), and the earlier ones it carried."""

    by_key: dict[tuple[str, str, str], list[Side]]
    carried: int  # positions from earlier sessions still open when this one started
    unattributed: int  # positions whose first BUY fill could not be found


def session_positions(conn: sqlite3.Connection, mode: str, session_id: int) -> Positions:
    first = _first_buy_sessions(conn, mode)
    by_key: dict[tuple[str, str, str], list[Side]] = {}
    carried_rows: list[sqlite3.Row] = []
    unattributed = 0
    for r in conn.execute(POSITIONS_SQL, (mode,)):
        key = (r["market_id"], r["outcome"], r["opened_ms"])
        if key not in first:
            unattributed += 1
            continue
        owner = first[key]
        if owner == session_id:
            side = side_from_row(r, _closed_by(conn, r))
            by_key.setdefault((r["market_id"], r["outcome"], r["strategy"] or ""), []).append(side)
        elif owner is not None and owner < session_id:
            carried_rows.append(r)
    carried = 0
    for r in carried_rows:  # still open at the start: closed by this session or later, or open now
        closer = _closed_by(conn, r)
        if r["status"] == "OPEN" or (closer is not None and closer >= session_id):
            carried += 1
    return Positions(by_key, carried, unattributed)


@dataclass
class SessionContext:
    stopped_ms: int | None
    live_from_ms: int | None  # a resumed session only traded events from here on
    controls: list[tuple[int, str, str]]  # (ts_ms, control, reason) applied during the session
    notes: list[str]

    def paused_at(self, ts_ms: int) -> bool:
        """Was the session PAUSEd at market time `ts_ms`?"""
        paused = False
        for at, name, reason in self.controls:
            if at > ts_ms:
                break
            if name == PAUSE:
                paused = not reason.startswith(f"{PAUSE} removed")
        return paused


def session_context(
    conn: sqlite3.Connection, session: sqlite3.Row, mode: str, started_ms: int, ours: Positions
) -> SessionContext:
    session_id = int(session["session_id"])
    notes: list[str] = []
    stopped = conn.execute(
        "SELECT MAX(ts_ms) FROM activity WHERE session_id=? AND type='BOT_STOPPED'", (session_id,)
    ).fetchone()[0]
    if session["stopped_ms"] is None:
        notes.append(
            f"session {session_id} has no stop recorded: it is still running or was killed;"
            " its tape ends at its last flush, so its last positions may be missing from the replay"
        )
    earlier = conn.execute(
        "SELECT MAX(session_id) FROM sessions WHERE mode=? AND session_id<?", (mode, session_id)
    ).fetchone()[0]
    live_from: int | None = None
    if earlier is not None:
        live_from = started_ms
        notes.append(f"session {session_id} resumed after a restart, from session {earlier}'s state")
        if ours.carried:
            notes.append(
                f"it carried {plural(ours.carried, 'open position')} from earlier sessions; the replay"
                " starts with none (they are not compared, but their cash and risk limits shaped the session)"
            )
        adjusted = conn.execute(
            "SELECT COUNT(*) FROM controls c JOIN sessions s ON s.session_id = c.session_id"
            " WHERE s.mode=? AND c.session_id<? AND c.result='APPLIED'"
            " AND c.name IN ('ADJUST_RISK', 'RESET')",
            (mode, session_id),
        ).fetchone()[0]
        if adjusted:
            notes.append(
                "ADJUST_RISK/RESET applied in earlier sessions carry over at a restart (runtime_controls);"
                " the replay uses the configured limits"
            )
        notes.append(
            "session limits (daily loss, consecutive losses), per-window entry counts and the scorecard"
            " counted earlier trades in the session; the replay starts from zero"
        )
    controls = [
        (int(c["ts_ms"]), str(c["name"]), str(c["reason"] or ""))
        for c in conn.execute(
            "SELECT ts_ms, name, reason FROM controls WHERE session_id=? AND result='APPLIED'"
            " ORDER BY ts_ms, rowid",
            (session_id,),
        )
    ]
    if controls:
        shown = ", ".join(f"{name} at {iso(ts)}" for ts, name, _ in controls[:6])
        more = f" and {len(controls) - 6} more" if len(controls) > 6 else ""
        notes.append(
            f"operator controls applied in the session are not replayed: {shown}{more};"
            " positions they touched (and entries they blocked) differ"
        )
    if ours.unattributed:
        notes.append(f"{plural(ours.unattributed, 'position')} in the journal without a BUY fill left out")
    return SessionContext(
        stopped_ms=None if stopped is None else int(stopped),
        live_from_ms=live_from,
        controls=controls,
        notes=notes,
    )
