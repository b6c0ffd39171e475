"""The session's side, read from its journal (read-only): its start, its starting cash, its
positions (those whose first BUY fill belongs to an order the session placed) and the
context a replay cannot reproduce (restarts, carried positions, operator controls).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot import queries
from bot.compare.model import CompareError, Side, one_line, plural
from bot.layout import PAUSE
from bot.model import ONE, iso


def open_journal(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        raise CompareError(f"{db}: no journal here (is this the bot's home?)")
    try:
        conn = queries.open_readonly(db)
        queries.has_sessions_table(conn)
    except sqlite3.Error as exc:
        raise CompareError(f"{db}: cannot read the journal: {one_line(exc)}") from None
    return conn


def market_start_ms(conn: sqlite3.Connection, session: sqlite3.Row) -> int:
    """Market time at the start (sessions.started_ms is the wall clock; BOT_STARTED has market time)."""
    started = queries.activity_ms(conn, int(session["session_id"]), "BOT_STARTED")
    return started if started is not None else int(session["started_ms"])


def starting_cash(conn: sqlite3.Connection, mode: str, session_id: int) -> int:
    """The cash ledger at the session's start: every earlier session's movements, plus the
    starting deposit the session itself booked before its first trade."""
    return queries.cash_before_session(conn, mode, session_id) + queries.deposits_before_first_trade(
        conn, mode, session_id
    )


def _first_buy_sessions(conn: sqlite3.Connection, mode: str) -> dict[tuple[str, str, int], int | None]:
    """(market, outcome, opened_ms) -> session of the order behind the position's first BUY fill."""
    first: dict[tuple[str, str, int], int | None] = {}
    for f in queries.buy_fills(conn, mode):
        first.setdefault((f["market_id"], f["outcome"], f["ts_ms"]), f["session_id"])
    return first


def _closed_by(conn: sqlite3.Connection, r: sqlite3.Row) -> int | None:
    """The session whose settlement or SELL fill closed the position."""
    if r["status"] != "CLOSED" or r["closed_ms"] is None:
        return None
    if r["exit_reason"] in ("WON", "LOST", "SPLIT"):
        return queries.settled_by(conn, r["mode"], r["market_id"], r["closed_ms"])
    return queries.sold_by(conn, r["mode"], r["market_id"], r["outcome"], r["closed_ms"])


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
    for r in queries.positions_in_order(conn, mode):
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
    stopped = queries.activity_ms(conn, session_id, "BOT_STOPPED", last=True)
    if session["stopped_ms"] is None:
        notes.append(
            f"session {session_id} has no stop recorded: it is still running or was killed;"
            " its tape ends at its last flush, so its last positions may be missing from the replay"
        )
    earlier = queries.previous_session_id(conn, mode, session_id)
    live_from: int | None = None
    if earlier is not None:
        live_from = started_ms
        notes.append(f"session {session_id} resumed after a restart, from session {earlier}'s state")
        if ours.carried:
            notes.append(
                f"it carried {plural(ours.carried, 'open position')} from earlier sessions; the replay"
                " starts with none (they are not compared, but their cash and risk limits shaped the session)"
            )
        adjusted = queries.limits_adjusted_before(conn, mode, session_id)
        if adjusted:
            notes.append(
                "ADJUST_RISK/RESET applied in earlier sessions carry over at a restart (runtime_controls);"
                " the replay uses the configured limits"
            )
        notes.append(
            "session limits (daily loss, consecutive losses), per-window entry counts and the scorecard"
            " counted earlier trades in the session; the replay starts from zero"
        )
    controls = queries.applied_controls(conn, session_id)
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
        stopped_ms=stopped,
        live_from_ms=live_from,
        controls=controls,
        notes=notes,
    )
