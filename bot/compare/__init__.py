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

The package, by job: `model` (Side, Row, Match, Comparison, CompareError), `settings` (the
session's stored config rebuilt), `session` (the session's side from its journal),
`pairing` (rows from the two sides), `replay` (`compare_session`: runs the replay and pairs)
and `output` (`render`, `write`). Imports go one way: model ← settings, session ← pairing ←
replay; model ← output.
"""

from bot.compare.model import (
    ENTRY_FIELDS,
    FIELDS,
    SCHEMA_VERSION,
    CompareError,
    Comparison,
    Match,
    Row,
    Side,
)
from bot.compare.output import CSV_COLUMNS, render, summary_line, write
from bot.compare.replay import compare_session

__all__ = [
    "CSV_COLUMNS",
    "ENTRY_FIELDS",
    "FIELDS",
    "SCHEMA_VERSION",
    "CompareError",
    "Comparison",
    "Match",
    "Row",
    "Side",
    "compare_session",
    "render",
    "summary_line",
    "write",
]
