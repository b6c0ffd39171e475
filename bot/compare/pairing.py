"""Pairing the session's positions with the replay's by (market, side, strategy) into rows:
SAME, DIFFERENT (naming the fields), ONLY_IN_SESSION or ONLY_IN_REPLAY, with notes.
"""

from __future__ import annotations

import itertools

from bot.compare.model import ENTRY_FIELDS, FIELDS, Match, Row, Side
from bot.compare.session import Positions, SessionContext
from bot.layout import EMERGENCY_STOP, FLATTEN


def pair_positions(
    ours: Positions, replay: dict[tuple[str, str, str], list[Side]], session_id: int, context: SessionContext
) -> list[Row]:
    rows: list[Row] = []
    for key in set(ours.by_key) | set(replay):
        mine, theirs = ours.by_key.get(key, []), replay.get(key, [])
        for s, r in itertools.zip_longest(mine, theirs):
            rows.append(_row(key, s, r, session_id, context))
    rows.sort(key=lambda r: (r.entry_ms, r.market_id, r.outcome, r.strategy))
    return rows


def _row(
    key: tuple[str, str, str], s: Side | None, r: Side | None, session_id: int, context: SessionContext
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


_CONTROL_EXITS = (FLATTEN, EMERGENCY_STOP)
