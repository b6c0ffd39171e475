"""The bot's own recording (``tape``), as a loadable format; see the package doc."""

from __future__ import annotations

from pathlib import Path

from bot.feeds.checks import book_ok as _book_ok
from bot.feeds.checks import event_problem as _tape_event_problem
from bot.feeds.formats.core import _Collector, _MarketAcc
from bot.feeds.tape import read_tape
from bot.model import (
    BookTick,
    WindowOpened,
    WindowResolved,
)

# ---------------------------------------------------------------------------
# tape


def _load_tape(path: Path, col: _Collector) -> dict[str, _MarketAcc]:  # noqa: C901 - one reader of the tape layout, step by step
    reader = read_tape(path)
    markets: dict[str, _MarketAcc] = {}
    for event in reader:
        if type(event) is BookTick and _book_ok(event):
            acc = markets.get(event.market_id)
            if acc is not None and acc.resolved is None:
                ts = event.ts_ms
                if (acc.last_ts is None or ts >= acc.last_ts) and ts < acc.window_end:  # type: ignore[operator]
                    acc.ticks.append(event)
                    acc.last_ts = ts
                    continue
        line = reader.line_no
        problem = _tape_event_problem(event)
        if problem:
            col.bad(line, problem)
            continue
        if type(event) is BookTick:
            acc = markets.get(event.market_id)
            if acc is None:
                col.ignore("book before its market's open")
            elif acc.resolved is not None:
                col.ignore("book after its market's resolve")
            elif acc.window_end is not None and event.ts_ms >= acc.window_end:
                col.ignore("book at or after window end")
            elif acc.last_ts is not None and event.ts_ms < acc.last_ts:
                col.bad(line, f"time goes backwards for {event.market_id}")
            else:
                acc.ticks.append(event)
                acc.last_ts = event.ts_ms
        elif isinstance(event, WindowOpened):
            market = event.market
            acc = markets.get(market.market_id)
            if acc is None:
                markets[market.market_id] = _MarketAcc(
                    market.market_id,
                    market=market,
                    opened_ts=event.ts_ms,
                    window_end=market.window_end_ms,
                    extra_rows=1,
                )
            elif acc.market == market:
                col.ignore("repeated open")
            else:
                col.bad(line, f"open for {market.market_id} differs from its first open")
        elif isinstance(event, WindowResolved):
            acc = markets.get(event.market_id)
            if acc is None:
                col.ignore("resolve of a market never opened")
            elif acc.resolved is None:
                acc.resolved = event
                acc.extra_rows += 1
            elif acc.resolved.outcome == event.outcome:
                col.ignore("repeated resolve")
            else:
                col.bad(line, f"resolve of {event.market_id} contradicts its first resolve")
    col.report.rows_read = reader.lines - len(reader.headers)
    for line, reason in reader.malformed:
        col.bad(line, reason)
    col.report.malformed_total += reader.malformed_total - len(reader.malformed)
    if reader.truncated:
        col.report.truncated = True
        col.report.notes.append(f"tape truncated after line {reader.lines}: {reader.problem}")
    return markets
