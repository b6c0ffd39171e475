"""Live vs backtest: replay a session's own tape and set its positions beside the replay's.

Every PAPER session records the market events it saw to `logs/tapes/session-<id>.jsonl.gz`.
`compare_session` rebuilds the session's settings from the journal, replays that tape
through the same engine in BACKTEST mode (bot.backtest.run_backtest) with the cash the
session started with, and pairs the two sets of positions by (market, side, strategy):

    SAME             every compared field is identical (money and prices exactly, in micros)
    DIFFERENT        paired, but some of entry time, entry price, shares, exit price,
                     exit reason, net P&L or fees differ (the row lists which)
    ONLY_IN_SESSION  the session held it and the replay did not
    ONLY_IN_REPLAY   the replay held it and the session did not

A session's positions are those whose first BUY fill belongs to an order the session
placed (`orders.session_id`). What a replay cannot reproduce is listed in the notes:
operator controls (PAUSE, FLATTEN, ADJUST_RISK, ...) from the `controls` table, the
catch-up of a resumed session (markets booked without trading), positions and limits
carried over from earlier sessions, a tape cut short by a crash.

`render` gives the side-by-side table a trader reads in a terminal; `write` leaves
`compare.json` and `compare.csv` in the replay folder. The journal is only read.
"""

from __future__ import annotations

import csv
import enum
import io
import itertools
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bot.config import Config, ConfigError, load_config
from bot.errors import BotError
from bot.model import ONE, Mode, iso, to_decimal, to_float
from bot.strategies import build_strategies

SCHEMA_VERSION = 1


class CompareError(BotError):
    """The comparison cannot be made; the one-line message says why."""


class Match(enum.StrEnum):
    SAME = "SAME"
    DIFFERENT = "DIFFERENT"
    ONLY_IN_SESSION = "ONLY_IN_SESSION"
    ONLY_IN_REPLAY = "ONLY_IN_REPLAY"


# the compared fields, in the order they are listed, with the words render uses
FIELDS: dict[str, str] = {
    "entry_time": "entry time",
    "entry_price": "entry price",
    "shares": "shares",
    "exit_price": "exit price",
    "exit_reason": "exit reason",
    "net_pnl": "net P&L",
    "fees": "fees",
}
ENTRY_FIELDS = ("entry_time", "entry_price", "shares")


@dataclass(frozen=True)
class Side:
    """One position as one side saw it. Money, prices and shares in micros."""

    position_id: int
    status: str  # OPEN or CLOSED
    entry_ms: int
    entry_price: int  # average price paid
    shares: int  # all shares bought
    exit_ms: int | None
    exit_price: int  # average price received (sells and settlement); 0 before any exit
    exit_reason: str  # WON, LOST, STOP_TRIGGERED, FLATTEN, ...; "" while open
    exit_trigger: str
    net_pnl: int  # realized P&L, net of fees
    fees: int
    closed_by_session: int | None = None  # the session whose fill or settlement closed it

    def value(self, name: str) -> int | str:
        values: dict[str, int | str] = {
            "entry_time": self.entry_ms,
            "entry_price": self.entry_price,
            "shares": self.shares,
            "exit_price": self.exit_price,
            "exit_reason": self.exit_reason,
            "net_pnl": self.net_pnl,
            "fees": self.fees,
        }
        return values[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "position_id": self.position_id,
            "status": self.status,
            "entry_time": iso(self.entry_ms),
            "entry_price": to_float(self.entry_price),
            "shares": to_float(self.shares),
            "exit_time": None if self.exit_ms is None else iso(self.exit_ms),
            "exit_price": to_float(self.exit_price) if self.exit_reason else None,
            "exit_reason": self.exit_reason or None,
            "exit_trigger": self.exit_trigger or None,
            "net_pnl": to_float(self.net_pnl),
            "fees": to_float(self.fees),
        }


@dataclass(frozen=True)
class Row:
    market_id: str
    outcome: str  # UP or DOWN
    strategy: str
    status: Match
    session: Side | None
    replay: Side | None
    differences: tuple[str, ...] = ()  # keys of FIELDS, when DIFFERENT
    note: str = ""

    @property
    def entry_ms(self) -> int:
        return min(s.entry_ms for s in (self.session, self.replay) if s is not None)


@dataclass
class Comparison:
    session_id: int
    mode: str
    home: Path
    tape: Path
    replay: Path  # the replay's folder (its own state/, logs/, summary.json, ...)
    started_ms: int  # market time the session started
    stopped_ms: int | None  # market time it stopped; None if it has no stop (running or killed)
    starting_balance: int  # cash the replay started with: the session's cash at its start
    events: int  # market events replayed
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {m.value: 0 for m in Match}
        for row in self.rows:
            counts[row.status.value] += 1
        return counts

    @property
    def session_pnl(self) -> int:
        """Σ realized net P&L of the session's positions."""
        return sum(r.session.net_pnl for r in self.rows if r.session is not None)

    @property
    def replay_pnl(self) -> int:
        return sum(r.replay.net_pnl for r in self.rows if r.replay is not None)

    @property
    def identical(self) -> bool:
        return all(r.status is Match.SAME for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "session_id": self.session_id,
            "mode": self.mode,
            "home": str(self.home),
            "tape": str(self.tape),
            "replay": str(self.replay),
            "session_started": iso(self.started_ms),
            "session_stopped": None if self.stopped_ms is None else iso(self.stopped_ms),
            "starting_balance": to_float(self.starting_balance),
            "events_replayed": self.events,
            "counts": self.counts,
            "totals": {
                "session_net_pnl": to_float(self.session_pnl),
                "replay_net_pnl": to_float(self.replay_pnl),
                "difference": to_float(self.replay_pnl - self.session_pnl),
            },
            "identical": self.identical,
            "notes": self.notes,
            "rows": [
                {
                    "market_id": r.market_id,
                    "side": r.outcome,
                    "strategy": r.strategy,
                    "status": r.status.value,
                    "differences": list(r.differences),
                    "note": r.note or None,
                    "session": None if r.session is None else r.session.to_dict(),
                    "replay": None if r.replay is None else r.replay.to_dict(),
                }
                for r in self.rows
            ],
        }


# -- the comparison -----------------------------------------------------------------------


def compare_session(home: Path, session_id: int, out: Path | None = None) -> Comparison:
    """Replay session `session_id` of the bot in `home` from its tape and compare positions.

    The replay goes into `out` (default HOME/backtests/compare-session-<id>); if that
    exists, into `<out>-2`, `<out>-3`, ... Raises CompareError with a one-line message.
    """
    from bot.app import tape_path
    from bot.backtest import run_backtest
    from bot.engine import Paths

    db = home / "state" / "bot.db"
    conn = _open(db)
    try:
        session = conn.execute("SELECT * FROM sessions WHERE session_id=?", (session_id,)).fetchone()
        if session is None:
            last = conn.execute("SELECT MAX(session_id) FROM sessions").fetchone()[0]
            known = f"sessions 1 to {last}" if last else "no sessions yet"
            raise CompareError(f"session {session_id}: no such session in {db} ({known})")
        mode = str(session["mode"])
        if mode == Mode.BACKTEST.value:
            raise CompareError(
                f"session {session_id} is a BACKTEST: only a session that traded a market"
                " (PAPER) has a tape to replay and compare with"
            )
        tape = tape_path(Paths(home), session_id)
        if not tape.is_file():
            raise CompareError(f"session {session_id}: its tape {tape} is missing, so it cannot be replayed")
        stored = _stored_config(session["config"], session_id)
        started_ms = _started_ms(conn, session)
        balance = _starting_cash(conn, mode, session_id)
        config = _rebuild_config(stored, balance, session_id)
        notes = _config_notes(stored, config)
        ours = _session_positions(conn, mode, session_id)
        context = _context(conn, session, mode, started_ms, ours)
    finally:
        conn.close()

    target = _free_folder(out or home / "backtests" / f"compare-session-{session_id}")
    try:
        result = run_backtest(tape, config, target, fmt="tape")
    except (BotError, OSError, EOFError) as exc:
        raise CompareError(f"session {session_id}: the replay of {tape} failed: {_one_line(exc)}") from None
    replay: dict[tuple[str, str, str], list[Side]] = {}
    rconn = _open(target / "state" / "bot.db")
    try:
        first_ms = int(rconn.execute("SELECT MIN(started_ms) FROM sessions").fetchone()[0])
        for r in rconn.execute(_POSITIONS, (Mode.BACKTEST.value,)):
            replay.setdefault((r["market_id"], r["outcome"], r["strategy"] or ""), []).append(_side(r, None))
    finally:
        rconn.close()
    if context.live_from_ms is not None:
        at = next(i for i, note in enumerate(context.notes) if "resumed after a restart" in note) + 1
        context.notes[at:at] = _catch_up(context, first_ms, replay)
    rows = _pair(ours, replay, session_id, context)
    notes = context.notes + notes + _data_notes(result.summary.get("data", {}))
    return Comparison(
        session_id=session_id,
        mode=mode,
        home=home,
        tape=tape,
        replay=target,
        started_ms=started_ms,
        stopped_ms=context.stopped_ms,
        starting_balance=balance,
        events=result.events,
        rows=rows,
        notes=notes,
    )


_POSITIONS = "SELECT * FROM positions WHERE mode=? ORDER BY opened_ms, position_id"


def _open(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        raise CompareError(f"{db}: no journal here (is this the bot's home?)")
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        conn.execute("SELECT 1 FROM sessions LIMIT 1")
    except sqlite3.Error as exc:
        raise CompareError(f"{db}: cannot read the journal: {_one_line(exc)}") from None
    return conn


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _free_folder(base: Path) -> Path:
    if not base.exists():
        return base
    for n in itertools.count(2):
        candidate = base.with_name(f"{base.name}-{n}")
        if not candidate.exists():
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


# -- settings -------------------------------------------------------------------------------


def _stored_config(text: str | None, session_id: int) -> dict[str, Any]:
    try:
        stored = orjson.loads(text or "")
    except orjson.JSONDecodeError:
        stored = None
    if not isinstance(stored, dict):
        raise CompareError(f"session {session_id}: its stored config is not a JSON object")
    return stored


def _rebuild_config(stored: dict[str, Any], balance: int, session_id: int) -> Config:
    """The session's settings, with the cash it started with as the replay's balance."""
    data = _without_nulls(stored)
    paper = data.get("paper")
    data["paper"] = {**(paper if isinstance(paper, dict) else {}), "starting_balance": to_float(balance)}
    try:
        config = load_config(None, data)
        build_strategies(config.strategies.enabled, config.strategies.params)  # unknown names, params
        return config
    except ConfigError as exc:
        raise CompareError(
            f"session {session_id}: its stored config does not load in this version: {_one_line(exc)}"
        ) from None


def _without_nulls(value: Any) -> Any:
    # Config.to_dict writes an unset optional as null; TOML (and load_config) has none: absent
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _config_notes(stored: dict[str, Any], config: Config) -> list[str]:
    new = sorted(set(_flat(config.to_dict())) - set(_flat(stored)))
    if not new:
        return []
    shown = ", ".join(new[:8]) + (f" and {len(new) - 8} more" if len(new) > 8 else "")
    return [f"settings added since the session ran take their defaults in the replay: {shown}"]


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and f"{prefix}{key}" not in ("strategies.params", "strategies.exits"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# -- the session's side -----------------------------------------------------------------------


def _started_ms(conn: sqlite3.Connection, session: sqlite3.Row) -> int:
    """Market time at the start (sessions.started_ms is the wall clock; BOT_STARTED has market time)."""
    row = conn.execute(
        "SELECT MIN(ts_ms) FROM activity WHERE session_id=? AND type='BOT_STARTED'", (session["session_id"],)
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else int(session["started_ms"])


def _starting_cash(conn: sqlite3.Connection, mode: str, session_id: int) -> int:
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


def _side(r: sqlite3.Row, closed_by: int | None) -> Side:
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
class _Positions:
    """The session's positions by (market, side, strategy), and the earlier ones it carried."""

    by_key: dict[tuple[str, str, str], list[Side]]
    carried: int  # positions from earlier sessions still open when this one started
    unattributed: int  # positions whose first BUY fill could not be found


def _session_positions(conn: sqlite3.Connection, mode: str, session_id: int) -> _Positions:
    first = _first_buy_sessions(conn, mode)
    by_key: dict[tuple[str, str, str], list[Side]] = {}
    carried_rows: list[sqlite3.Row] = []
    unattributed = 0
    for r in conn.execute(_POSITIONS, (mode,)):
        key = (r["market_id"], r["outcome"], r["opened_ms"])
        if key not in first:
            unattributed += 1
            continue
        owner = first[key]
        if owner == session_id:
            side = _side(r, _closed_by(conn, r))
            by_key.setdefault((r["market_id"], r["outcome"], r["strategy"] or ""), []).append(side)
        elif owner is not None and owner < session_id:
            carried_rows.append(r)
    carried = 0
    for r in carried_rows:  # still open at the start: closed by this session or later, or open now
        closer = _closed_by(conn, r)
        if r["status"] == "OPEN" or (closer is not None and closer >= session_id):
            carried += 1
    return _Positions(by_key, carried, unattributed)


@dataclass
class _Context:
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
            if name == "PAUSE":
                paused = not reason.startswith("PAUSE removed")
        return paused


def _context(
    conn: sqlite3.Connection, session: sqlite3.Row, mode: str, started_ms: int, ours: _Positions
) -> _Context:
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
                f"it carried {_plural(ours.carried, 'open position')} from earlier sessions; the replay"
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
        notes.append(f"{_plural(ours.unattributed, 'position')} in the journal without a BUY fill left out")
    return _Context(
        stopped_ms=None if stopped is None else int(stopped),
        live_from_ms=live_from,
        controls=controls,
        notes=notes,
    )


def _catch_up(context: _Context, first_ms: int, replay: dict[tuple[str, str, str], list[Side]]) -> list[str]:
    """A resumed session books the market time it was down without trading; the replay trades it."""
    live_from = context.live_from_ms
    if live_from is None or first_ms >= live_from:
        context.live_from_ms = None
        return []
    traded = sum(1 for sides in replay.values() for r in sides if r.entry_ms < live_from)
    return [
        f"the tape starts at {iso(first_ms)} with the market time the bot was down: the session caught"
        f" it up without trading until {iso(live_from)}, the replay traded it"
        f" ({_plural(traded, 'position')}, marked 'catch-up')"
    ]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _data_notes(data: dict[str, Any]) -> list[str]:
    notes = []
    if data.get("truncated"):
        notes.append("the tape ends in the middle of a write (the session was killed): replayed up to there")
    if data.get("malformed_total"):
        notes.append(f"{_plural(data['malformed_total'], 'malformed line')} in the tape skipped")
    if data.get("events_dropped"):
        notes.append(
            f"{_plural(data['events_dropped'], 'tape event')} dropped by the replay (see summary.json)"
        )
    return notes


# -- pairing ----------------------------------------------------------------------------------


def _pair(
    ours: _Positions, replay: dict[tuple[str, str, str], list[Side]], session_id: int, context: _Context
) -> list[Row]:
    rows: list[Row] = []
    for key in set(ours.by_key) | set(replay):
        mine, theirs = ours.by_key.get(key, []), replay.get(key, [])
        for s, r in itertools.zip_longest(mine, theirs):
            rows.append(_row(key, s, r, session_id, context))
    rows.sort(key=lambda r: (r.entry_ms, r.market_id, r.outcome, r.strategy))
    return rows


def _row(
    key: tuple[str, str, str], s: Side | None, r: Side | None, session_id: int, context: _Context
) -> Row:
    market_id, outcome, strategy = key
    notes = []
    if s is not None and s.exit_reason in _CONTROL_EXITS:
        notes.append(f"exited by {s.exit_reason}, an operator control the replay does not have")
    if r is not None and context.live_from_ms is not None and r.entry_ms < context.live_from_ms:
        notes.append("catch-up: the replay entered while the session was catching up")
    if r is not None and s is None and context.paused_at(r.entry_ms):
        notes.append("the session was PAUSEd then")
    later = s is not None and s.closed_by_session is not None and s.closed_by_session != session_id
    if later and s is not None:
        notes.append(f"closed by session {s.closed_by_session}: exit not compared")
    if s is None or r is None:
        status = Match.ONLY_IN_SESSION if r is None else Match.ONLY_IN_REPLAY
        return Row(market_id, outcome, strategy, status, s, r, (), "; ".join(notes))
    names = ENTRY_FIELDS if later else tuple(FIELDS)
    differences = tuple(n for n in names if s.value(n) != r.value(n))
    status = Match.DIFFERENT if differences else Match.SAME
    return Row(market_id, outcome, strategy, status, s, r, differences, "; ".join(notes))


_CONTROL_EXITS = ("FLATTEN", "EMERGENCY_STOP")


# -- output -----------------------------------------------------------------------------------


def render(c: Comparison) -> str:
    """The side-by-side table: one line per position, then the notes and a summary line."""
    stopped = "no stop recorded" if c.stopped_ms is None else iso(c.stopped_ms)
    lines = [
        f"session {c.session_id} ({c.mode}, {iso(c.started_ms)} to {stopped}) vs its replay in {c.replay}",
        f"tape {c.tape}: {c.events:,} events; the replay started with {_money(c.starting_balance)} USDC",
        "",
    ]
    if c.rows:
        lines += _table(c.rows)
    else:
        lines.append("no positions on either side")
    if c.notes:
        lines += ["", "notes:"]
        lines += [f"  - {note}" for note in c.notes]
    lines += ["", summary_line(c)]
    return "\n".join(lines)


def summary_line(c: Comparison) -> str:
    counts = c.counts
    parts = ", ".join(f"{counts[m.value]} {m.value}" for m in Match)
    diff = c.replay_pnl - c.session_pnl
    verdict = "the replay matches the session" if c.identical else "the replay differs from the session"
    return (
        f"{len(c.rows)} positions: {parts}; net P&L session {_signed(c.session_pnl)}"
        f" vs replay {_signed(c.replay_pnl)} (replay − session {_signed(diff)}): {verdict}"
    )


def _table(rows: list[Row]) -> list[str]:
    left = [[r.market_id, r.outcome, r.strategy] for r in rows]
    places = _places(x.net_pnl for r in rows for x in (r.session, r.replay) if x is not None)
    mine = [_cells(r.session, places) for r in rows]
    theirs = [_cells(r.replay, places) for r in rows]
    results = [_result(r) for r in rows]
    left_w = [max(len(x[i]) for x in [*left, ["MARKET", "SIDE", "STRATEGY"]]) for i in range(3)]
    cell_w = [max(len(x[i]) for x in mine + theirs) for i in range(5)]
    side_w = len(_join(["", "", "", "", ""], cell_w))
    head = "  ".join(h.ljust(w) for h, w in zip(["MARKET", "SIDE", "STRATEGY"], left_w, strict=True))
    sub = "shares @ entry → exit reason P&L"
    side_w = max(side_w, len(sub), len("SESSION"))
    out = [
        f"{head} | {'SESSION'.ljust(side_w)} | {'REPLAY'.ljust(side_w)} | RESULT",
        f"{' ' * len(head)} | {sub.ljust(side_w)} | {sub.ljust(side_w)} |",
    ]
    for lft, a, b, res in zip(left, mine, theirs, results, strict=True):
        name = "  ".join(x.ljust(w) for x, w in zip(lft, left_w, strict=True))
        a_text = _join(a, cell_w).ljust(side_w) if any(a) else "-".center(side_w)
        b_text = _join(b, cell_w).ljust(side_w) if any(b) else "-".center(side_w)
        out.append(f"{name} | {a_text} | {b_text} | {res}".rstrip())
    return out


def _cells(s: Side | None, places: int) -> list[str]:
    if s is None:
        return ["", "", "", "", ""]
    if s.exit_reason:
        exit_price, reason = _price(s.exit_price), s.exit_reason
    else:
        exit_price, reason = "open", ""
    pnl = _signed(s.net_pnl, places) if s.exit_reason or s.net_pnl else "-"
    return [_qty(s.shares), _price(s.entry_price), exit_price, reason, pnl]


def _join(cells: list[str], widths: list[int]) -> str:
    shares, entry, exit_price, reason, pnl = cells
    w = widths
    return (
        f"{shares.rjust(w[0])} @ {entry.ljust(w[1])} → {exit_price.ljust(w[2])}"
        f" {reason.ljust(w[3])} {pnl.rjust(w[4])}"
    )


def _result(r: Row) -> str:
    text = r.status.value
    if r.differences:
        shown = []
        for name in r.differences:
            label = FIELDS[name]
            if name == "entry_time" and r.session and r.replay:
                label += f" {_clock(r.session.entry_ms)}/{_clock(r.replay.entry_ms)}"
            elif name == "fees" and r.session and r.replay:
                label += f" {_money(r.session.fees)}/{_money(r.replay.fees)}"
            shown.append(label)
        text += ": " + ", ".join(shown)
    if r.note:
        text += f"; {r.note}"
    return text


def _clock(ts_ms: int) -> str:
    return iso(ts_ms)[11:23]


def _price(micros: int) -> str:
    """An exact decimal: 0.52, 0.4437, 1, 0."""
    text = f"{to_decimal(micros):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _qty(micros: int) -> str:
    return _price(micros)


def _places(values: Iterable[int]) -> int:
    """The fewest decimals, at least 2, that show every one of `values` exactly."""
    return max([2, *(len(f"{abs(v) % ONE:06d}".rstrip("0")) for v in values)])


def _money(micros: int, places: int | None = None) -> str:
    """Exact, with `places` decimals (default: two, or every decimal there is): 12.50, -0.7952."""
    return f"{to_decimal(micros):.{_places([micros]) if places is None else places}f}"


def _signed(micros: int, places: int | None = None) -> str:
    text = _money(micros, places)
    return text if micros < 0 else f"+{text}"


CSV_COLUMNS = [
    "market_id",
    "side",
    "strategy",
    "status",
    "differences",
    "note",
    *(
        f"{who}_{name}"
        for who in ("session", "replay")
        for name in (
            "position_id",
            "entry_time",
            "entry_price",
            "shares",
            "exit_time",
            "exit_price",
            "exit_reason",
            "net_pnl",
            "fees",
        )
    ),
]


def _csv_side(s: Side | None) -> list[str]:
    if s is None:
        return [""] * 9
    return [
        str(s.position_id),
        iso(s.entry_ms),
        _price(s.entry_price),
        _qty(s.shares),
        "" if s.exit_ms is None else iso(s.exit_ms),
        _price(s.exit_price) if s.exit_reason else "",
        s.exit_reason,
        _price(s.net_pnl),
        _price(s.fees),
    ]


def write(c: Comparison, out: Path | None = None) -> dict[str, Path]:
    """`compare.json` and `compare.csv` in `out` (default: the replay folder)."""
    folder = out or c.replay
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in c.rows:
        writer.writerow(
            [
                r.market_id,
                r.outcome,
                r.strategy,
                r.status.value,
                ";".join(r.differences),
                r.note,
                *_csv_side(r.session),
                *_csv_side(r.replay),
            ]
        )
    paths = {"json": folder / "compare.json", "csv": folder / "compare.csv"}
    paths["json"].write_bytes(
        orjson.dumps(c.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    )
    paths["csv"].write_text(buf.getvalue())
    return paths
