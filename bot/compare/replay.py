"""`compare_session`: the session's side from its journal, its tape replayed in BACKTEST
mode into a fresh folder, the replay's positions read back and the two paired.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from bot import queries
from bot.compare.model import CompareError, Comparison, Side, one_line, plural
from bot.compare.pairing import pair_positions
from bot.compare.session import (
    SessionContext,
    market_start_ms,
    open_journal,
    session_context,
    session_positions,
    side_from_row,
    starting_cash,
)
from bot.compare.settings import config_notes, rebuild_config, stored_config
from bot.errors import BotError
from bot.layout import Paths
from bot.model import Mode, iso


def compare_session(home: Path, session_id: int, out: Path | None = None) -> Comparison:
    """Replay session `session_id` of the bot in `home` from its tape and compare positions.

    The replay goes into `out` (default HOME/backtests/compare-session-<id>); if that
    exists, into `<out>-2`, `<out>-3`, ... Raises CompareError with a one-line message.
    """
    from bot.backtest import run_backtest

    db = Paths(home).journal
    conn = open_journal(db)
    try:
        session = queries.session(conn, session_id)
        if session is None:
            last = queries.last_session_id(conn)
            known = f"sessions 1 to {last}" if last else "no sessions yet"
            raise CompareError(f"session {session_id}: no such session in {db} ({known})")
        mode = str(session["mode"])
        if mode == Mode.BACKTEST.value:
            raise CompareError(
                f"session {session_id} is a BACKTEST: only a session that traded a market"
                " (PAPER) has a tape to replay and compare with"
            )
        tape = Paths(home).tape(session_id)
        if not tape.is_file():
            raise CompareError(f"session {session_id}: its tape {tape} is missing, so it cannot be replayed")
        stored = stored_config(session["config"], session_id)
        started_ms = market_start_ms(conn, session)
        balance = starting_cash(conn, mode, session_id)
        config = rebuild_config(stored, balance, session_id)
        notes = config_notes(stored, config)
        ours = session_positions(conn, mode, session_id)
        context = session_context(conn, session, mode, started_ms, ours)
    finally:
        conn.close()

    target = _free_folder(out or Paths(home).backtests / f"compare-session-{session_id}")
    try:
        result = run_backtest(tape, config, target, fmt="tape")
    except (BotError, OSError, EOFError) as exc:
        raise CompareError(f"session {session_id}: the replay of {tape} failed: {one_line(exc)}") from None
    replay: dict[tuple[str, str, str], list[Side]] = {}
    rconn = open_journal(Paths(target).journal)
    try:
        first_ms = int(queries.first_start_market_ms(rconn) or 0)
        for r in queries.positions_in_order(rconn, Mode.BACKTEST.value):
            replay.setdefault((r["market_id"], r["outcome"], r["strategy"] or ""), []).append(
                side_from_row(r, None)
            )
    finally:
        rconn.close()
    if context.live_from_ms is not None:
        at = next(i for i, note in enumerate(context.notes) if "resumed after a restart" in note) + 1
        context.notes[at:at] = _catch_up(context, first_ms, replay)
    rows = pair_positions(ours, replay, session_id, context)
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


def _free_folder(base: Path) -> Path:
    if not base.exists():
        return base
    for n in itertools.count(2):
        candidate = base.with_name(f"{base.name}-{n}")
        if not candidate.exists():
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def _catch_up(
    context: SessionContext, first_ms: int, replay: dict[tuple[str, str, str], list[Side]]
) -> list[str]:
    """A resumed session books the market time it was down without trading; the replay trades it."""
    live_from = context.live_from_ms
    if live_from is None or first_ms >= live_from:
        context.live_from_ms = None
        return []
    traded = sum(1 for sides in replay.values() for r in sides if r.entry_ms < live_from)
    return [
        f"the tape starts at {iso(first_ms)} with the market time the bot was down: the session caught"
        f" it up without trading until {iso(live_from)}, the replay traded it"
        f" ({plural(traded, 'position')}, marked 'catch-up')"
    ]


def _data_notes(data: dict[str, Any]) -> list[str]:
    notes = []
    if data.get("truncated"):
        notes.append("the tape ends in the middle of a write (the session was killed): replayed up to there")
    if data.get("malformed_total"):
        notes.append(f"{plural(data['malformed_total'], 'malformed line')} in the tape skipped")
    if data.get("events_dropped"):
        notes.append(
            f"{plural(data['events_dropped'], 'tape event')} dropped by the replay (see summary.json)"
        )
    return notes
