"""What every format shares: the options each accepts, the load report, and the collector
that turns per-market rows into sorted events (see the package doc).
"""

from __future__ import annotations

import gzip
import io
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, BinaryIO, Final

from bot.feeds.tape import DataError
from bot.feeds.where import at
from bot.model import (
    ONE,
    BookTick,
    Market,
    MarketEvent,
    Micros,
    Outcome,
    WindowOpened,
    WindowResolved,
    iso,
)
from bot.safefile import FileRefused, open_regular, printable

FORMATS: Final = ("tape", "polymarket", "csv", "parquet")
MAX_MALFORMED: Final = 100

_GZIP_MAGIC: Final = b"\x1f\x8b"
_SNIFF_BYTES: Final = 1 << 16
MAX_SIDECAR_BYTES: Final = 1 << 20  # a NAME.meta.json of settings is a few hundred bytes

_MARKET_OPTIONS: Final = ("instrument", "tick", "min_size", "fee_rate_ppm", "fee_exponent")
_OPTIONS: Final[dict[str, frozenset[str]]] = {
    "tape": frozenset({"strict"}),
    "polymarket": frozenset(
        {
            "strict",
            "token_outcome",
            "window_end",
            "outcome",
            "market_id",
            "window_start",
            "spread",
            "size",
            "name",
            "strike",
            *_MARKET_OPTIONS,
        }
    ),
    "csv": frozenset(
        {
            "strict",
            "columns",
            "delimiter",
            "market_id",
            "window_end",
            "outcome",
            "size",
            "metadata",
            *_MARKET_OPTIONS,
        }
    ),
}
_OPTIONS["parquet"] = _OPTIONS["csv"] - {"delimiter"}
CSV_COLUMNS: Final = (
    "timestamp",
    "market_id",
    "best_bid",
    "best_ask",
    "bid_size",
    "ask_size",
    "window_end",
    "outcome",
    "window_start",
    "strike",
    "underlying",
    "token_id",
    "token_outcome",
)


# ---------------------------------------------------------------------------
# results


@dataclass(slots=True)
class LoadReport:
    """What ``load`` read from a file, what it used, and what it left out and why."""

    path: str
    format: str
    rows_read: int = 0  # data rows / lines / points seen (headers and blank lines excluded)
    rows_used: int = 0  # of those, the ones that became events
    malformed: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_MALFORMED
    malformed_total: int = 0
    row_unit: str = "line"  # what the numbers in `malformed` count: "line" or "point"
    ignored: dict[str, int] = field(default_factory=dict)  # valid but unusable, by reason
    markets: list[str] = field(default_factory=list)  # market ids, in order of appearance
    first_ts: int | None = None  # time of the first and last event
    last_ts: int | None = None
    truncated: bool = False  # the file ended early (a tape whose writer was killed)
    notes: list[str] = field(default_factory=list)
    # "0.07 x (p(1-p))^1, SOURCE" -> markets charged so; "0.01" -> markets on that tick
    fees: dict[str, int] = field(default_factory=dict)
    ticks: dict[str, int] = field(default_factory=dict)
    books_disagree: int = 0  # per-token rows whose two books crossed (see formats.tokens)

    def summary(self) -> str:
        """One line for a log."""
        parts = [
            f"{self.path}: {self.format}",
            f"{len(self.markets)} market(s)",
            f"{self.rows_read} rows read",
            f"{self.rows_used} used",
        ]
        if self.malformed_total:
            line, reason = self.malformed[0]
            parts.append(f"{self.malformed_total} malformed (first: {self.row_unit} {line}: {reason})")
        parts.extend(f"{count} ignored: {reason}" for reason, count in self.ignored.items())
        if self.first_ts is not None and self.last_ts is not None:
            parts.append(f"{iso(self.first_ts)} .. {iso(self.last_ts)}")
        if self.truncated:
            parts.append("TRUNCATED")
        parts.extend(f"fees {rate} ({count} market(s))" for rate, count in self.fees.items())
        parts.extend(self.notes)
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, ready for orjson."""
        return asdict(self)


@dataclass(slots=True)
class LoadedData:
    events: list[MarketEvent]
    report: LoadReport


# ---------------------------------------------------------------------------
# shared machinery


@dataclass(slots=True)
class _MarketAcc:
    """What is known about one market while its file is read."""

    market_id: str
    market: Market | None = None  # given by a tape's open line
    opened_ts: int | None = None
    window_start: int | None = None
    window_end: int | None = None
    strike: float | None = None
    outcome: Outcome | None = None
    split: bool = False  # resolved 50/50 (then `outcome` is None)
    outcome_conflict: bool = False
    resolved: WindowResolved | None = None  # a tape's resolve line
    ticks: list[BookTick] = field(default_factory=list)
    last_ts: int | None = None
    extra_rows: int = 0  # non-tick rows used (a tape's open and resolve lines)
    fields: _MarketFields | None = None  # this market's own (metadata); else the file's
    tick_seen: Micros = 10_000  # the finest tick its prices need (see values.tick_of)


@dataclass(slots=True)
class _MarketFields:
    """Market fields that do not come from the rows."""

    instrument: str = ""
    name: str | None = None
    tick: Micros | None = 10_000  # None: inferred per market from its prices
    min_size: Micros = 5 * ONE
    fee_rate_ppm: int = 0
    fee_exponent: int = 1
    fee_source: str = "option"
    token_ids: tuple[str, str] | None = None  # (UP, DOWN) when the data names the tokens


class _Collector:
    def __init__(self, path: Path, fmt: str, strict: bool) -> None:
        self.path = path
        self.strict = strict
        self.report = LoadReport(path=printable(str(path), 4096), format=fmt)
        self.fields = _MarketFields()
        self.naive_times = 0
        self.positions: dict[str, int] = {}  # a CSV's column names (lower case) -> 1-based field
        self.row_groups: list[int] = []  # a Parquet file's rows before each row group after the first

    def located(self, row: int, reason: str, column: str | None = None) -> str:
        """The one-line message for ``reason`` at a row (bot.feeds.where): ``FILE:LINE:COL``
        for a text file (COL: the column's field); ``FILE: row R, column NAME`` for Parquet,
        with ``(row group G)`` (from 0) when the file has more than one."""
        unit = self.report.row_unit
        if unit == "line":
            return at(self.path, reason, row, self.positions.get(column.lower()) if column else None)
        place = f"{unit} {row}"
        if len(self.row_groups) > 0:
            place += f" (row group {bisect_right(self.row_groups, row - 1)})"
        place += f", column {column}" if column else ""
        return f"{self.path}: {place}: {reason}"

    def bad(self, row: int, reason: str) -> None:
        report = self.report
        if self.strict:
            raise DataError(self.located(row, f"{reason} (strict)"))
        report.malformed_total += 1
        if len(report.malformed) < MAX_MALFORMED:
            report.malformed.append((row, reason))

    def ignore(self, reason: str) -> None:
        self.report.ignored[reason] = self.report.ignored.get(reason, 0) + 1

    def finish(self, markets: Mapping[str, _MarketAcc]) -> LoadedData:
        report = self.report
        if self.naive_times:
            report.notes.append(f"{self.naive_times} time(s) without a time zone read as UTC")
        events: list[MarketEvent] = []
        for acc in markets.values():
            if self._assemble(acc, events):
                report.markets.append(acc.market_id)
        if not any(type(event) is BookTick for event in events):
            raise DataError(self._nothing_usable())
        # Each market's events are in order (open, ticks, resolve), so a stable sort by time
        # alone keeps an open before its ticks and a resolve after them at equal times.
        events.sort(key=attrgetter("ts_ms"))
        report.malformed.sort(key=itemgetter(0))
        report.first_ts = events[0].ts_ms
        report.last_ts = events[-1].ts_ms
        return LoadedData(events, report)

    def _nothing_usable(self) -> str:
        """Why a file gave no book row: the first malformed row at its place, else a tally."""
        report = self.report
        if not report.rows_read and not report.truncated:
            what = {"csv": "only a header line", "parquet": "a table without rows"}.get(
                report.format, "no rows"
            )
            return f"{self.path}: {what}; expected at least one book row"
        text = f"{report.rows_read} read, {report.malformed_total} malformed"
        for reason, count in report.ignored.items():
            text += f", {count} ignored ({reason})"
        if report.truncated:
            text += ", the file ends early"
        expected = "expected at least one valid book row"
        if report.malformed:
            line, reason = min(report.malformed)
            return self.located(line, f"{reason} (no usable rows in the file: {text}); {expected}")
        return f"{self.path}: no usable rows in {report.format} data: {text}; {expected}"

    def _assemble(self, acc: _MarketAcc, out: list[MarketEvent]) -> bool:
        """Append the market's events to ``out`` in order; False if it has none."""
        ticks = acc.ticks
        resolution = acc.resolved
        if resolution is None and (acc.outcome is not None or acc.split) and not acc.outcome_conflict:
            assert acc.window_end is not None
            resolution = WindowResolved(acc.window_end, acc.market_id, acc.outcome)
        if resolution is not None and ticks and ticks[-1].ts_ms > resolution.ts_ms:
            kept = [tick for tick in ticks if tick.ts_ms <= resolution.ts_ms]
            for _ in range(len(ticks) - len(kept)):
                self.ignore("book after the resolution time")
            ticks = kept
        if acc.outcome_conflict:
            self.report.notes.append(f"{acc.market_id}: contradicting outcomes, left unresolved")
        if not ticks and acc.market is None:
            return False
        first_ts = ticks[0].ts_ms if ticks else None
        market = acc.market
        fee_source = "as recorded"
        if market is None:
            assert first_ts is not None
            assert acc.window_end is not None
            fields = acc.fields or self.fields
            tick = acc.tick_seen if fields.tick is None else fields.tick
            if acc.fields is not None and acc.tick_seen < tick:
                tick = acc.tick_seen  # the tick went finer near the edges after the export
            fee_source = fields.fee_source
            market = Market(
                market_id=acc.market_id,
                instrument=fields.instrument,
                name=fields.name or acc.market_id,
                window_start_ms=acc.window_start if acc.window_start is not None else first_ts,
                window_end_ms=acc.window_end,
                strike=acc.strike,
                tick=tick,
                min_size=fields.min_size,
                fee_rate_ppm=fields.fee_rate_ppm,
                fee_exponent=fields.fee_exponent,
                token_ids=fields.token_ids,
            )
        report = self.report
        fee = fee_text(market.fee_rate_ppm, market.fee_exponent, fee_source)
        report.fees[fee] = report.fees.get(fee, 0) + 1
        tick_key = f"{market.tick / ONE:g}"
        report.ticks[tick_key] = report.ticks.get(tick_key, 0) + 1
        # a tape's open as recorded, else the window start; never after the first tick
        opened = acc.opened_ts if acc.opened_ts is not None else market.window_start_ms
        if first_ts is not None:
            opened = min(opened, first_ts)
        out.append(WindowOpened(opened, market))
        out.extend(ticks)
        if resolution is not None:
            out.append(resolution)
        self.report.rows_used += len(ticks) + acc.extra_rows
        return True


def fee_text(rate_ppm: int, exponent: int, source: str) -> str:
    """How a market's taker fee is charged, and where that came from, in one phrase."""
    if rate_ppm == 0:
        return f"none ({source})"
    return f"{rate_ppm / ONE:g} x shares x (p(1-p))^{exponent} ({source})"


def _open_text(path: Path) -> io.TextIOWrapper:
    """The file as text, gunzipped if it is gzip data; a BOM is dropped. Opened once, as a
    regular file (bot.safefile), so nothing swapped in under the name can block it."""
    try:
        raw = open_regular(path)
    except FileRefused as exc:
        raise DataError(f"{path}: {exc}; expected a tape, a price history or a CSV") from None
    compressed = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    if compressed:
        return io.TextIOWrapper(_OwnedGzip(raw), encoding="utf-8-sig", newline="")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


class _OwnedGzip(gzip.GzipFile):
    """A GzipFile that closes the file it was given (gzip leaves a passed-in file open)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()
