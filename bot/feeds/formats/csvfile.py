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
from bot.feeds.formats.metadata import Metadata, load_metadata
from bot.feeds.formats.tokens import TokenSeen, note_token, pair_tokens, token_columns
from bot.feeds.formats.values import (
    AmbiguousValue,
    _float,
    _Options,
    _outcome,
    _parse_time,
    _price,
    _size,
    is_split,
    tick_of,
)
from bot.feeds.tape import DataError
from bot.feeds.where import at, utf8_error
from bot.model import (
    ONE,
    SPLIT,
    BookTick,
    Micros,
    Outcome,
    iso,
)

# ---------------------------------------------------------------------------
# CSV


@dataclass(slots=True)
class Settings:
    """The options of a table of rows (CSV or Parquet), checked."""

    size_default: Micros
    const_market: str | None
    const_end: int | None
    const_outcome: Outcome | None
    meta: Metadata | None
    names: dict[str, str]  # role -> column name
    delimiter: str


def settings(path: Path, col: _Collector, options: Mapping[str, Any]) -> Settings:
    opts = _Options(path, options)
    col.fields = opts.market_fields()
    size_default = opts.micros("size", 100 * ONE, 0, 10**9 * ONE)
    const_market = opts.text("market_id")
    const_end = opts.time("window_end")
    const_outcome = opts.outcome("outcome")
    meta = load_metadata(path, opts.text("metadata"))
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
    claimed = {name.lower() for name in renames.values()}
    # a column renamed to a role is that role only: {"market_id": "token_id"} reads the
    # token_id column as the market (one market per token), not as rows per token too
    names = {role: renames.get(role, "\0" if role in claimed else role) for role in CSV_COLUMNS}
    return Settings(size_default, const_market, const_end, const_outcome, meta, names, delimiter)


def start_rows(
    path: Path, col: _Collector, header: list[str], setup: Settings, kind: str = "CSV"
) -> _CsvRows:
    """The row reader for a table with these column names (DataError if they do not fit)."""
    names = setup.names
    consts = (setup.const_market, setup.const_end, setup.const_outcome)
    index = _csv_index(path, header, names, *consts, setup.meta, kind)
    if index["bid_size"] is None or index["ask_size"] is None:
        col.report.notes.append(f"no size column(s): used {setup.size_default / ONE:g} shares")
    template = _MarketAcc("", window_end=setup.const_end, outcome=setup.const_outcome)
    tick = col.fields.tick
    return _CsvRows(col, index, names, len(header), tick, setup.size_default, setup.const_market, template)


def finish_rows(
    col: _Collector, rows: _CsvRows | None, markets: dict[str, _MarketAcc], setup: Settings
) -> dict[str, _MarketAcc]:
    """Rows per token paired into markets; markets without a used row dropped."""
    if rows is not None and rows.tokens is not None:
        markets = pair_tokens(
            col, markets, rows.tokens, setup.meta, setup.names["outcome"], setup.const_outcome
        )
    for market_id in [key for key, acc in markets.items() if not acc.ticks]:
        del markets[market_id]
    return markets


def read_rows(
    path: Path, col: _Collector, setup: Settings, markets: dict[str, _MarketAcc]
) -> _CsvRows | None:
    """Read the CSV's rows into ``markets`` (a dict of markets, or the streaming loader's
    first pass); the rows' reader, or None when the file ended before its header's rows."""
    report = col.report
    rows: _CsvRows | None = None
    try:
        with _open_text(path) as f:
            reader = csv.reader(f, delimiter=setup.delimiter, strict=True)
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise DataError(at(path, f"bad CSV header ({exc})", 1)) from None
            if header is None:
                raise DataError(f"{path}: empty file; expected a CSV header line")
            col.positions = {name.strip().lower(): i for i, name in enumerate(header, start=1)}
            rows = start_rows(path, col, header, setup)
            rows.read(reader, markets)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        if not report.rows_read:
            raise DataError(f"{path}: not readable gzip data ({exc}); expected a gzip'd CSV") from None
        report.truncated = True
        report.notes.append(f"compressed CSV ends early ({exc}); rows up to there were used")
    except UnicodeDecodeError:
        raise utf8_error(path, "a CSV file") from None
    return rows


def _csv_index(
    path: Path,
    header: list[str],
    names: dict[str, str],
    const_market: str | None,
    const_end: int | None,
    const_outcome: Outcome | None,
    meta: Metadata | None,
    kind: str = "CSV",
) -> dict[str, int | None]:
    """Column positions by role; raise DataError when required ones are missing."""
    found = [name.strip() for name in header]
    positions: dict[str, int] = {}
    for i, name in enumerate(found):
        key = name.lower()
        if key in positions:
            raise DataError(
                _header_at(path, kind, f"{kind} column {name!r} appears twice; expected unique names", i + 1)
            )
        positions[key] = i
    index = {role: positions.get(names[role].lower()) for role in CSV_COLUMNS}
    per_token = index["token_id"] is not None
    required = ["timestamp", "best_bid", "best_ask"]
    for role, const in (
        ("market_id", const_market),
        ("window_end", const_end),
        ("outcome", const_outcome),
    ):
        if const is None:
            # one row per token: the metadata can say which market a token is in, and when
            # the market ends
            if role != "outcome" and not (per_token and meta is not None):
                required.append(role)
        elif index[role] is not None:
            raise _header_error(
                path,
                kind,
                f"{role} is given both as an option and as column {names[role]!r}; expected one of them",
                index[role],
            )
    if index["token_outcome"] is not None and not per_token and names["token_id"] != "\0":
        # both tokens' books in one market's rows would be read as one book: never guess
        raise _header_error(
            path,
            kind,
            f"column {names['token_outcome']!r} says rows are per token, but no column says which"
            f" token; expected a column {names['token_id']!r} (or columns={{'token_id': ...}})",
            index["token_outcome"],
        )
    if meta is not None and not per_token:
        raise _header_error(
            path,
            kind,
            f"option metadata needs one row per token; expected a column"
            f" {names['token_id']!r} (or columns={{'token_id': ...}})",
        )
    required.sort(key=CSV_COLUMNS.index)
    missing = [names[role] for role in required if index[role] is None]
    if missing:
        hint = ""
        if "market_id" in required and index["market_id"] is None and per_token:
            hint = "; or pass metadata=FILE (a Gamma export) saying which market each token is in"
        expected = ", ".join(names[role] for role in required)
        raise _header_error(
            path,
            kind,
            f"{kind} columns do not match: missing {', '.join(missing)};"
            f" expected {expected} (optional: bid_size, ask_size, outcome, window_start,"
            f" strike, underlying, token_id, token_outcome); found {', '.join(found) or 'nothing'}{hint}",
        )
    if per_token and index["token_outcome"] is None and meta is None:
        raise _header_error(
            path,
            kind,
            f"one row per token ({names['token_id']!r}) but nothing says which token is"
            f" UP: expected a column {names['token_outcome']!r} (Up/Down or Yes/No) or"
            " metadata=FILE (a Gamma export)",
        )
    return index


def _header_error(path: Path, kind: str, reason: str, field: int | None = None) -> DataError:
    """A problem with the column names: line 1 (and the field) of a CSV, the schema of Parquet."""
    return DataError(_header_at(path, kind, reason, None if field is None else field + 1))


def _header_at(path: Path, kind: str, reason: str, field: int | None) -> str:
    if kind == "CSV":
        return at(path, reason, 1, field)
    return at(path, reason)


# the row's tick, had-no-time-zone, window end, window start, strike, outcome (SPLIT: 50/50),
# token columns
_Parsed = tuple[BookTick, bool, int | None, int | None, float | None, Outcome | str | None, Any]


class _LineReader(Protocol):
    @property
    def line_num(self) -> int: ...

    def __next__(self) -> list[str]: ...


@dataclass(slots=True)
class _CsvRows:
    col: _Collector
    index: dict[str, int | None]
    names: dict[str, str]
    width: int
    tick: Micros | None  # None: any tick down to 0.0001, the market's is inferred
    size_default: Micros
    const_market: str | None
    template: _MarketAcc  # window_end and outcome given as options
    # one row per token: rows are grouped by token first (see formats.tokens)
    tokens: dict[str, TokenSeen] | None = None

    def __post_init__(self) -> None:
        if self.index["token_id"] is not None:
            self.tokens = {}

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
            self.parse_line(line, row, markets)

    def parse_line(self, line: int, row: list[str], markets: dict[str, _MarketAcc]) -> None:
        """A row of the right width at `line`: parsed, then accepted or counted malformed."""
        try:
            parsed = self._parse(row)
        except AmbiguousValue as exc:
            raise DataError(self.col.located(line, str(exc), self.names["outcome"])) from None
        except ValueError as exc:
            self.col.bad(line, str(exc))
            return
        self.accept(line, parsed, markets)

    def accept(self, line: int, parsed: _Parsed, markets: dict[str, _MarketAcc]) -> None:
        """Add a parsed row to its market (per token: its token) after the checks across rows."""
        col = self.col
        tick, naive, end, start, strike, outcome, extra = parsed
        market_id = tick.market_id
        acc = markets.get(market_id)
        if acc is None:
            if not market_id.isprintable():  # checked once per market: NUL or control bytes
                key = "token_id" if self.tokens is not None else "market_id"
                col.bad(line, f"{key} {market_id!r} has a control character; expected text")
                return
            template = self.template
            acc = markets[market_id] = _MarketAcc(
                market_id, window_end=template.window_end, outcome=template.outcome
            )
        ts = tick.ts_ms
        if acc.last_ts is not None and ts < acc.last_ts:
            col.bad(line, f"time goes backwards for {market_id} ({iso(ts)} after {iso(acc.last_ts)})")
            return
        # the market's values count even from a row after the window end: that is where
        # the outcome usually shows up
        if end != acc.window_end or start is not None or strike is not None or outcome is not None:
            problem = _merge_market_values(acc, end, start, strike, outcome)
            if problem:
                col.bad(line, problem)
                return
        if self.tokens is not None:
            problem = note_token(self.tokens, market_id, extra, line)
            if problem:
                col.bad(line, problem)
                return
        if acc.window_end is not None and ts >= acc.window_end:
            col.ignore("row at or after window end")
            return
        if naive:
            col.naive_times += 1
        acc.ticks.append(tick)
        acc.last_ts = ts
        if tick.bid % 10_000 or tick.ask % 10_000:
            seen = min(tick_of(tick.bid), tick_of(tick.ask))
            if seen < acc.tick_seen:
                acc.tick_seen = seen

    def _parse(self, row: list[str]) -> _Parsed:  # noqa: C901 - the per-row hot path: every check inline, measured faster than helpers
        """The row's tick, had-no-time-zone, window end, window start, strike, outcome and,
        one row per token, (market key, token side, outcome text). Every problem of the row
        is in the ValueError, not only the first."""
        index = self.index
        tick = self.tick
        problems: list[str] = []
        i_ts, i_bid, i_ask = index["timestamp"], index["best_bid"], index["best_ask"]
        assert i_ts is not None
        assert i_bid is not None
        assert i_ask is not None
        ts = naive = None
        try:
            ts, naive = _parse_time(row[i_ts])
        except ValueError as exc:
            problems.append(f"timestamp: {exc}")
        key = "token_id" if self.tokens is not None else "market_id"
        i = index[key]
        if i is not None:
            market_id = row[i].strip()
            if not market_id:
                problems.append(f"{key} is empty")
        else:
            assert self.const_market is not None
            market_id = self.const_market
        bid = ask = None
        try:
            bid = _price(row[i_bid], "best_bid", tick)
        except ValueError as exc:
            problems.append(str(exc))
        try:
            ask = _price(row[i_ask], "best_ask", tick)
        except ValueError as exc:
            problems.append(str(exc))
        if bid is not None and ask is not None and bid >= ask:
            problems.append(f"crossed book: best_bid {bid / ONE:g} >= best_ask {ask / ONE:g}")
        bid_size = ask_size = self.size_default
        try:
            i = index["bid_size"]
            if i is not None:
                bid_size = _size(row[i], "bid_size")
        except ValueError as exc:
            problems.append(str(exc))
        try:
            i = index["ask_size"]
            if i is not None:
                ask_size = _size(row[i], "ask_size")
        except ValueError as exc:
            problems.append(str(exc))
        under = end = start = strike = None
        outcome = extra = None
        try:
            i = index["underlying"]
            if i is not None and row[i].strip():
                under = _float(row[i], "underlying")
        except ValueError as exc:
            problems.append(str(exc))
        i = index["window_end"]
        if i is not None:
            if not row[i].strip():
                problems.append("window_end is empty")
            else:
                try:
                    end = _parse_time(row[i])[0]
                except ValueError as exc:
                    problems.append(f"window_end: {exc}")
        i = index["window_start"]
        if i is not None and row[i].strip():
            try:
                start = _parse_time(row[i])[0]
            except ValueError as exc:
                problems.append(f"window_start: {exc}")
        i = index["strike"]
        if i is not None and row[i].strip():
            try:
                strike = _float(row[i], "strike")
            except ValueError as exc:
                problems.append(str(exc))
        i = index["outcome"]
        if self.tokens is not None:
            try:
                extra = token_columns(row, index, self.names)
            except ValueError as exc:
                problems.append(str(exc))
        elif i is not None:
            try:
                outcome = SPLIT if is_split(row[i]) else _outcome(row[i], self.names["outcome"])
            except AmbiguousValue:
                raise
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        assert ts is not None
        assert naive is not None
        assert bid is not None
        assert ask is not None
        book = BookTick(ts, market_id, bid, bid_size, ask, ask_size, None, under)
        return book, naive, end, start, strike, outcome, extra


def _merge_market_values(
    acc: _MarketAcc,
    end: int | None,
    start: int | None,
    strike: float | None,
    outcome: Outcome | str | None,
) -> str:
    """Record a row's per-market values; a reason if they contradict earlier rows (`outcome`
    SPLIT: the market resolved 50/50)."""
    for name, new_time, old_time in (
        ("window_end", end, acc.window_end),
        ("window_start", start, acc.window_start),
    ):
        if new_time is not None and old_time is not None and new_time != old_time:
            return f"{name} {iso(new_time)} differs from {iso(old_time)} in earlier rows of {acc.market_id}"
    if strike is not None and acc.strike is not None and strike != acc.strike:
        return f"strike {strike:g} differs from {acc.strike:g} in earlier rows of {acc.market_id}"
    before = SPLIT if acc.split else acc.outcome
    if outcome is not None and before is not None and outcome != before:
        acc.outcome_conflict = True
        return f"outcome {outcome} contradicts {before} in earlier rows"
    if end is not None:
        acc.window_end = end
    if start is not None:
        acc.window_start = start
    if strike is not None:
        acc.strike = strike
    if outcome == SPLIT:
        acc.split = True
    elif isinstance(outcome, Outcome):
        acc.outcome = outcome
    return ""
