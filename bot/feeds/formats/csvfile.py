"""Top-of-book CSV (``csv``); see the package doc."""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.feeds.formats.core import CSV_COLUMNS, _Collector, _MarketAcc, _open_text
from bot.feeds.formats.values import _float, _Options, _outcome, _parse_time, _price, _size
from bot.feeds.tape import DataError
from bot.model import (
    ONE,
    BookTick,
    Micros,
    Outcome,
    iso,
)

# ---------------------------------------------------------------------------
# CSV


def _load_csv(path: Path, col: _Collector, options: Mapping[str, Any]) -> dict[str, _MarketAcc]:
    report = col.report
    opts = _Options(path, options)
    col.fields = opts.market_fields()
    tick = col.fields.tick
    size_default = opts.micros("size", 100 * ONE, 0, 10**9 * ONE)
    const_market = opts.text("market_id")
    const_end = opts.time("window_end")
    const_outcome = opts.outcome("outcome")
    delimiter = options.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise DataError(f"{path}: option delimiter={delimiter!r}: expected one character")
    renames = options.get("columns") or {}
    if not isinstance(renames, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in renames.items()
    ):
        raise DataError(f"{path}: option columns={renames!r}: expected a dict of names")
    unknown = sorted(set(renames) - set(CSV_COLUMNS))
    if unknown:
        raise DataError(
            f"{path}: option columns: unknown column role(s) {', '.join(unknown)};"
            f" expected some of {', '.join(CSV_COLUMNS)}"
        )
    names = {role: renames.get(role, role) for role in CSV_COLUMNS}

    markets: dict[str, _MarketAcc] = {}
    try:
        with _open_text(path) as f:
            reader = csv.reader(f, delimiter=delimiter, strict=True)
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise DataError(f"{path}: bad CSV header ({exc})") from None
            if header is None:
                raise DataError(f"{path}: empty file; expected a CSV header line")
            index = _csv_index(path, header, names, const_market, const_end, const_outcome)
            if index["bid_size"] is None or index["ask_size"] is None:
                report.notes.append(f"no size column(s): used {size_default / ONE:g} shares")
            template = _MarketAcc("", window_end=const_end, outcome=const_outcome)
            rows = _CsvRows(col, index, len(header), tick, size_default, const_market, template)
            rows.read(reader, markets)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        report.truncated = True
        report.notes.append(f"compressed CSV ends early ({exc}); rows up to there were used")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc}); expected a CSV file") from None
    for market_id in [key for key, acc in markets.items() if not acc.ticks]:
        del markets[market_id]
    return markets


def _csv_index(
    path: Path,
    header: list[str],
    names: dict[str, str],
    const_market: str | None,
    const_end: int | None,
    const_outcome: Outcome | None,
) -> dict[str, int | None]:
    """Column positions by role; raise DataError when required ones are missing."""
    found = [name.strip() for name in header]
    positions: dict[str, int] = {}
    for i, name in enumerate(found):
        key = name.lower()
        if key in positions:
            raise DataError(f"{path}: CSV column {name!r} appears twice; expected unique names")
        positions[key] = i
    index = {role: positions.get(names[role].lower()) for role in CSV_COLUMNS}
    required = ["timestamp", "best_bid", "best_ask"]
    for role, const in (
        ("market_id", const_market),
        ("window_end", const_end),
        ("outcome", const_outcome),
    ):
        if const is None:
            if role != "outcome":
                required.append(role)
        elif index[role] is not None:
            raise DataError(
                f"{path}: {role} is given both as an option and as column"
                f" {names[role]!r}; expected one of them"
            )
    required.sort(key=CSV_COLUMNS.index)
    missing = [names[role] for role in required if index[role] is None]
    if missing:
        hint = ""
        if "market_id" in required and index["market_id"] is None and "token_id" in positions:
            hint = "; to use the token_id column pass columns={'market_id': 'token_id'}"
        expected = ", ".join(names[role] for role in required)
        raise DataError(
            f"{path}: CSV columns do not match: missing {', '.join(missing)};"
            f" expected {expected} (optional: bid_size, ask_size, outcome, window_start,"
            f" strike, underlying); found {', '.join(found) or 'nothing'}{hint}"
        )
    return index


class _LineReader(Protocol):
    line_num: int

    def __next__(self) -> list[str]: ...


@dataclass(slots=True)
class _CsvRows:
    col: _Collector
    index: dict[str, int | None]
    width: int
    tick: Micros
    size_default: Micros
    const_market: str | None
    template: _MarketAcc  # window_end and outcome given as options

    def read(self, reader: _LineReader, markets: dict[str, _MarketAcc]) -> None:
        col = self.col
        report = col.report
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                report.rows_read += 1
                col.bad(reader.line_num, f"bad CSV ({exc})")
                continue
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            report.rows_read += 1
            if len(row) != self.width:
                col.bad(line, f"expected {self.width} fields, found {len(row)}")
                continue
            try:
                parsed = self._parse(row)
            except ValueError as exc:
                col.bad(line, str(exc))
                continue
            tick, naive, end, start, strike, outcome = parsed
            market_id = tick.market_id
            acc = markets.get(market_id)
            if acc is None:
                template = self.template
                acc = markets[market_id] = _MarketAcc(
                    market_id, window_end=template.window_end, outcome=template.outcome
                )
            ts = tick.ts_ms
            if acc.last_ts is not None and ts < acc.last_ts:
                col.bad(line, f"time goes backwards for {market_id} ({iso(ts)} after {iso(acc.last_ts)})")
                continue
            # the market's values count even from a row after the window end: that is where
            # the outcome usually shows up
            problem = _merge_market_values(acc, end, start, strike, outcome)
            if problem:
                col.bad(line, problem)
                continue
            if acc.window_end is not None and ts >= acc.window_end:
                col.ignore("row at or after window end")
                continue
            if naive:
                col.naive_times += 1
            acc.ticks.append(tick)
            acc.last_ts = ts

    def _parse(
        self, row: list[str]
    ) -> tuple[BookTick, bool, int | None, int | None, float | None, Outcome | None]:
        """The row's tick, had-no-time-zone, window end, window start, strike, outcome."""
        index = self.index
        tick = self.tick
        i_ts, i_bid, i_ask = index["timestamp"], index["best_bid"], index["best_ask"]
        assert i_ts is not None and i_bid is not None and i_ask is not None
        ts, naive = _parse_time(row[i_ts])
        i = index["market_id"]
        if i is not None:
            market_id = row[i].strip()
            if not market_id:
                raise ValueError("market_id is empty")
        else:
            assert self.const_market is not None
            market_id = self.const_market
        bid = _price(row[i_bid], "best_bid", tick)
        ask = _price(row[i_ask], "best_ask", tick)
        if bid >= ask:
            raise ValueError(f"crossed book: best_bid {bid / ONE:g} >= best_ask {ask / ONE:g}")
        i = index["bid_size"]
        bid_size = _size(row[i], "bid_size") if i is not None else self.size_default
        i = index["ask_size"]
        ask_size = _size(row[i], "ask_size") if i is not None else self.size_default
        i = index["underlying"]
        under = _float(row[i], "underlying") if i is not None and row[i].strip() else None
        end = start = None
        strike = None
        i = index["window_end"]
        if i is not None:
            if not row[i].strip():
                raise ValueError("window_end is empty")
            end = _parse_time(row[i])[0]
        i = index["window_start"]
        if i is not None and row[i].strip():
            start = _parse_time(row[i])[0]
        i = index["strike"]
        if i is not None and row[i].strip():
            strike = _float(row[i], "strike")
        i = index["outcome"]
        outcome = _outcome(row[i]) if i is not None else None
        book = BookTick(ts, market_id, bid, bid_size, ask, ask_size, None, under)
        return book, naive, end, start, strike, outcome


def _merge_market_values(
    acc: _MarketAcc,
    end: int | None,
    start: int | None,
    strike: float | None,
    outcome: Outcome | None,
) -> str:
    """Record a row's per-market values; a reason if they contradict earlier rows."""
    for name, new_time, old_time in (
        ("window_end", end, acc.window_end),
        ("window_start", start, acc.window_start),
    ):
        if new_time is not None and old_time is not None and new_time != old_time:
            return f"{name} {iso(new_time)} differs from {iso(old_time)} in earlier rows of {acc.market_id}"
    if strike is not None and acc.strike is not None and strike != acc.strike:
        return f"strike {strike:g} differs from {acc.strike:g} in earlier rows of {acc.market_id}"
    if outcome is not None and acc.outcome is not None and outcome is not acc.outcome:
        acc.outcome_conflict = True
        return f"outcome {outcome.value} contradicts {acc.outcome.value} in earlier rows"
    if end is not None:
        acc.window_end = end
    if start is not None:
        acc.window_start = start
    if strike is not None:
        acc.strike = strike
    if outcome is not None:
        acc.outcome = outcome
    return ""
