"""Backtest input data: load one file into a time-sorted list of market events.

    from bot.feeds.formats import load
    data = load("data/btc-15m.csv")            # the format is detected from the content
    print(data.report.summary())               # what was read, used, skipped, and why
    for event in data.events: ...              # WindowOpened, BookTick, WindowResolved

``load(path, fmt=None, **options)`` returns ``LoadedData(events, report)``. The events are
sorted by time; at equal times a market's open comes before its ticks and its resolution
after them, ticks of one market keep their file order, and markets come in the order they
first appear. Each market gets a ``WindowOpened`` at or before its first tick and,
when its outcome is known, a ``WindowResolved`` at the end. Loading the same file twice gives
identical events. Book rows at or after a market's window end are not used (trading has
stopped); they are counted under ``report.ignored``.

Rows that fail validation are never used and never guessed at: each is counted in
``report.malformed_total`` and the first 100 are listed as ``(line number, reason)`` in
``report.malformed`` (for a price history the number is the point's 1-based position in
the list instead, see ``report.row_unit``). Pass ``strict=True`` to stop at the first one.
A missing file, an unknown format, CSV columns that do not match, a bad option or a file
with no usable rows raise ``DataError`` with a one-line message naming the file and what was
expected.

Times in files and options may be unix seconds, unix milliseconds (told apart by
magnitude; both must be after 2001) or ISO-8601 (``2026-11-22T03:00:00Z``; without a time
zone, UTC is assumed and the report notes it). Prices are decimal probabilities in [0, 1].

Formats (``fmt=``; detected from the content when not given, then from the extension):

``tape`` -- the bot's own recording, ``*.jsonl.gz`` (see ``bot.feeds.tape`` for the lines)
    Used as recorded. Book lines must have integer micro prices in [0, 1_000_000], bid <
    ask and sizes >= 0; time must not go backwards within a market. Book lines of a market
    before its ``open`` line or after its ``resolve`` line are ignored, and so are repeated
    ``open``/``resolve`` lines; one that contradicts the first is malformed. An ``open``
    stamped later than its market's first book line is moved to that line's time. A tape
    cut short by a crash is read up to its last complete line and ``report.truncated`` is
    set. Options: ``strict``.

``polymarket`` -- a Polymarket price history, ``*.json``: ``{"history": [{"t": 1763780000,
"p": 0.535}, ...]}`` (``t`` unix seconds, ``p`` the token's price), as served by the CLOB
``/prices-history`` endpoint for one token (one file per token; a bare list of points is
accepted too). A price history has no order book, so a top of book is synthesized around
each price: bid = price - spread/2 rounded down to the tick, ask = price + spread/2 rounded
up to the tick, both clamped to [tick, 1 - tick] and kept at least one tick apart; both
sides get ``size`` shares. The series of a DOWN token is turned into the UP view first
(up price = 1 - p). Points must have numeric ``t`` and ``p`` with p in [0, 1], in time
order. Settings come from keyword options, else from a sidecar file next to the data,
``<name>.meta.json`` for ``<name>.json`` (a JSON object with the same keys), else defaults:

    token_outcome  "UP" or "DOWN": which token the history is for (required)
    window_end     when the window closes (required); no points are used from then on
    outcome        "UP" or "DOWN" if the market has resolved (gives a WindowResolved)
    market_id      default: the file name without .json
    window_start   default: the first point's time
    tick           price tick, default 0.01
    spread         synthesized spread, default two ticks (bid 0.52 / ask 0.54 around 0.53)
    size           shares on each side of the synthesized book, default 100
    instrument, name, strike, min_size, fee_rate_ppm, fee_exponent
                   Market fields (defaults: "", the market id, none, 5, 0, 1)

``csv`` -- top of book rows, ``*.csv`` (or ``*.csv.gz``), one header line, then one row per
book update of a market's UP token; several markets may be interleaved. Columns (names are
matched without regard to case; rename with ``columns={"market_id": "token_id", ...}``):

    timestamp      time of the row (required)
    market_id      the market (required unless the option market_id= names the one market)
    best_bid       UP token best bid (required)
    best_ask       UP token best ask (required)
    bid_size       shares at the bid (optional; else the option size, default 100)
    ask_size       shares at the ask (optional; as bid_size)
    window_end     when the market's window closes (required unless the option window_end=)
    outcome        UP or DOWN once resolved, may be blank (optional, or the option outcome=)
    window_start   (optional) when the window opened; default the first row's time
    strike         (optional) the market's strike
    underlying     (optional) the underlying's price at the row's time

A row is malformed if it has the wrong number of fields, an unparseable number or time, a
price outside [0, 1] or off the tick (option ``tick``, default 0.01), a crossed book (bid >=
ask), a negative size, a time earlier than the market's previous row, or a window_end,
window_start, strike or outcome that differs from the market's earlier rows (the first value
is kept; a market with contradicting outcomes is left unresolved). Other options:
``delimiter`` (default ","), ``instrument``, ``min_size``, ``fee_rate_ppm``,
``fee_exponent``, ``strict``.
"""

from __future__ import annotations

import csv
import gc
import gzip
import io
import math
import os
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, BinaryIO, Final, Protocol

import orjson

from bot.feeds.checks import MAX_FEE_EXPONENT, MAX_FEE_PPM, MAX_SIZE
from bot.feeds.checks import book_ok as _book_ok
from bot.feeds.checks import event_problem as _tape_event_problem
from bot.feeds.tape import DataError, read_tape
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
    to_micros,
)
from bot.safefile import FileRefused, open_regular, printable, read_small

__all__ = [
    "FORMATS",
    "DataError",
    "LoadReport",
    "LoadedData",
    "book_from_price",
    "detect_format",
    "load",
    "parse_time",
]

FORMATS: Final = ("tape", "polymarket", "csv")
MAX_MALFORMED: Final = 100

_GZIP_MAGIC: Final = b"\x1f\x8b"
_SNIFF_BYTES: Final = 1 << 16
MAX_SIDECAR_BYTES: Final = 1 << 20  # a NAME.meta.json of settings is a few hundred bytes
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_S: Final = 1_000_000_000  # 2001-09-09 in seconds
_MAX_S: Final = 100_000_000_000  # year 5138 in seconds, 1973 in milliseconds
_MIN_MS: Final = 1_000_000_000_000
_MAX_MS: Final = 100_000_000_000_000
_MS: Final = timedelta(milliseconds=1)

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
            *_MARKET_OPTIONS,
        }
    ),
}
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
# entry points


def load(path: Path | str, *, fmt: str | None = None, **options: Any) -> LoadedData:
    """Load a tape, a Polymarket price history or a top-of-book CSV; see the module doc."""
    path = Path(path)
    try:
        open_regular(path).close()  # never blocks: a FIFO, device or folder is refused here
    except FileRefused as exc:
        raise DataError(f"{path}: {exc}; expected a tape, a price history or a CSV") from None
    if fmt is None:
        fmt = detect_format(path)
    elif fmt not in FORMATS:
        raise DataError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    unknown = sorted(set(options) - _OPTIONS[fmt])
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS[fmt]))
        raise DataError(f"{path}: unknown option(s) {', '.join(unknown)} for {fmt}; expected {allowed}")
    strict = options.get("strict", False)
    if not isinstance(strict, bool):
        raise DataError(f"{path}: option strict={strict!r}: expected True or False")
    col = _Collector(path, fmt, strict)
    # Millions of small objects and no reference cycles: the cyclic garbage collector would
    # only rescan them over and over (loading is ~1.5x faster without it).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if fmt == "tape":
            markets = _load_tape(path, col)
        elif fmt == "polymarket":
            markets = _load_polymarket(path, col, options)
        else:
            markets = _load_csv(path, col, options)
        return col.finish(markets)
    finally:
        if gc_was_enabled:
            gc.enable()


def detect_format(path: Path | str) -> str:
    """'tape', 'polymarket' or 'csv', from the file's first bytes, else its extension."""
    path = Path(path)
    try:
        with open_regular(path) as f:
            head = f.read(_SNIFF_BYTES)
    except FileRefused as exc:
        raise DataError(f"{path}: {exc}; expected a tape, a price history or a CSV") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); expected a data file") from None
    if not head:
        raise DataError(f"{path}: empty file; expected a tape, a price history or a CSV")
    compressed = head.startswith(_GZIP_MAGIC)
    if compressed:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _SNIFF_BYTES)
        except zlib.error:
            head = b""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    first_line = text.split(b"\n", 1)[0].strip()
    if text.startswith(b"{"):
        try:
            first = orjson.loads(first_line)
        except orjson.JSONDecodeError:
            first = None
        if isinstance(first, dict) and first.get("e") == "tape":
            return "tape"
        return "polymarket"
    if text.startswith(b"["):
        return "polymarket"
    if first_line and any(sep in first_line for sep in (b",", b";", b"\t")):
        return "csv"
    name = path.name.lower()
    for suffix, found in ((".jsonl.gz", "tape"), (".json", "polymarket"), (".csv", "csv")):
        if name.endswith(suffix) or name.endswith(suffix + ".gz"):
            return found
    what = "gzip data" if compressed else repr(first_line[:40].decode("utf-8", "replace"))
    raise DataError(
        f"{path}: unknown format (starts with {what}); expected a tape (.jsonl.gz), a Polymarket"
        f" price history (.json) or a CSV with a header line (.csv), or pass fmt="
    )


def parse_time(value: str | int | float | Decimal | datetime) -> int:
    """Epoch milliseconds from unix seconds, unix milliseconds or ISO-8601 (UTC if naive).

    Raises ValueError."""
    return _parse_time(value)[0]


def book_from_price(price: Decimal, *, tick: Micros, spread: Micros) -> tuple[Micros, Micros]:
    """(bid, ask) synthesized around ``price`` (in micros, may have a fraction): price minus
    half the spread rounded down to the tick, price plus half the spread rounded up, both
    clamped to [tick, 1 - tick] and at least one tick apart."""
    half = Decimal(spread) / 2
    bid = math.floor((price - half) / tick) * tick
    ask = math.ceil((price + half) / tick) * tick
    top = ONE - tick
    bid = min(max(bid, tick), top)
    ask = min(max(ask, tick), top)
    if ask - bid < tick:
        if bid + tick <= top:
            ask = bid + tick
        else:
            bid = ask - tick
    return bid, ask


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
    outcome_conflict: bool = False
    resolved: WindowResolved | None = None  # a tape's resolve line
    ticks: list[BookTick] = field(default_factory=list)
    last_ts: int | None = None
    extra_rows: int = 0  # non-tick rows used (a tape's open and resolve lines)


@dataclass(slots=True)
class _MarketFields:
    """Market fields that do not come from the rows."""

    instrument: str = ""
    name: str | None = None
    tick: Micros = 10_000
    min_size: Micros = 5 * ONE
    fee_rate_ppm: int = 0
    fee_exponent: int = 1


class _Collector:
    def __init__(self, path: Path, fmt: str, strict: bool) -> None:
        self.path = path
        self.strict = strict
        self.report = LoadReport(path=printable(str(path), 4096), format=fmt)
        self.fields = _MarketFields()
        self.naive_times = 0

    def bad(self, row: int, reason: str) -> None:
        report = self.report
        if self.strict:
            raise DataError(f"{self.path}: {report.row_unit} {row}: {reason} (strict)")
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
            raise DataError(
                f"{self.path}: no usable rows in {report.format} data: {self._tally()};"
                " expected at least one valid book row"
            )
        # Each market's events are in order (open, ticks, resolve), so a stable sort by time
        # alone keeps an open before its ticks and a resolve after them at equal times.
        events.sort(key=attrgetter("ts_ms"))
        report.malformed.sort(key=itemgetter(0))
        report.first_ts = events[0].ts_ms
        report.last_ts = events[-1].ts_ms
        return LoadedData(events, report)

    def _tally(self) -> str:
        report = self.report
        text = f"{report.rows_read} read, {report.malformed_total} malformed"
        if report.malformed:
            line, reason = report.malformed[0]
            text += f" (first: {report.row_unit} {line}: {reason})"
        for reason, count in report.ignored.items():
            text += f", {count} ignored ({reason})"
        return text

    def _assemble(self, acc: _MarketAcc, out: list[MarketEvent]) -> bool:
        """Append the market's events to ``out`` in order; False if it has none."""
        ticks = acc.ticks
        resolution = acc.resolved
        if resolution is None and acc.outcome is not None and not acc.outcome_conflict:
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
        if market is None:
            assert first_ts is not None and acc.window_end is not None
            fields = self.fields
            market = Market(
                market_id=acc.market_id,
                instrument=fields.instrument,
                name=fields.name or acc.market_id,
                window_start_ms=acc.window_start if acc.window_start is not None else first_ts,
                window_end_ms=acc.window_end,
                strike=acc.strike,
                tick=fields.tick,
                min_size=fields.min_size,
                fee_rate_ppm=fields.fee_rate_ppm,
                fee_exponent=fields.fee_exponent,
            )
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


def _parse_time(value: object) -> tuple[int, bool]:
    """(epoch ms, had no time zone). Raises ValueError with a short reason."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, datetime):
        naive = value.tzinfo is None
        dt = value.replace(tzinfo=UTC) if naive else value
        return (dt - _EPOCH) // _MS, naive
    if isinstance(value, int | float | Decimal):
        number: int | Decimal = value if isinstance(value, int) else Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            number = int(text)
        else:
            try:
                number = Decimal(text)
            except InvalidOperation:
                try:
                    dt = datetime.fromisoformat(text)
                except ValueError:
                    raise ValueError(f"{value!r} is not a unix time or an ISO-8601 time") from None
                return _parse_time(dt)
    else:
        raise ValueError(f"{value!r} is not a time")
    if isinstance(number, Decimal) and not number.is_finite():
        raise ValueError(f"{value!r} is not a time")
    if _MIN_S <= number < _MAX_S:
        return int(number * 1000), False
    if _MIN_MS <= number < _MAX_MS:
        return int(number), False
    raise ValueError(f"{value!r} is out of range for unix seconds or milliseconds after 2001")


def _micros(text: str) -> Micros:
    """Exact micros from a decimal string; fast for plain "0.53"-style numbers."""
    s = text.strip()
    whole, _, frac = s.partition(".")
    if len(frac) <= 6 and s.isascii() and (whole + frac).isdigit():
        return int(whole or "0") * ONE + int(frac.ljust(6, "0"))
    return to_micros(s)  # signs, exponents, too many decimals; raises ValueError


def _price(text: str, name: str, tick: Micros) -> Micros:
    try:
        value = _micros(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not 0 <= value <= ONE:
        raise ValueError(f"{name} {text.strip()} is outside [0, 1]")
    if value % tick:
        raise ValueError(f"{name} {text.strip()} is not on the tick {tick / ONE:g}")
    return value


def _size(text: str, name: str) -> Micros:
    try:
        value = _micros(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if value < 0:
        raise ValueError(f"{name} {text.strip()} is negative")
    if value > MAX_SIZE:
        raise ValueError(f"{name} {text.strip()} is above {MAX_SIZE // ONE:,} shares")
    return value


def _outcome(value: object) -> Outcome | None:
    if value is None:
        return None
    text = str(value).strip().upper()
    if not text:
        return None
    if text not in ("UP", "DOWN"):
        raise ValueError(f"outcome {value!r} is not UP or DOWN")
    return Outcome(text)


def _float(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} {text!r} is not a finite number")
    return value


class _Options:
    """Keyword options (and a sidecar's keys), parsed; a bad one raises DataError."""

    def __init__(self, path: Path, values: Mapping[str, Any], source: str = "option") -> None:
        self.path = path
        self.values = dict(values)
        self.source = source

    def _fail(self, key: str, why: str) -> DataError:
        value = self.values[key]
        return DataError(f"{self.path}: {self.source} {key}={value!r}: {why}")

    def _get(self, key: str, parse: Callable[[Any], Any], why: str) -> Any:
        if self.values.get(key) is None:
            return None
        value = self.values[key]
        try:
            if isinstance(value, bool):
                raise ValueError
            return parse(value)
        except (ValueError, TypeError, InvalidOperation):
            raise self._fail(key, why) from None

    def micros(self, key: str, default: Micros, lo: Micros, hi: Micros) -> Micros:
        def parse(value: Any) -> Micros:
            micros = _micros(value) if isinstance(value, str) else to_micros(value)
            if not lo <= micros <= hi:
                raise ValueError
            return micros

        got = self._get(key, parse, f"expected a decimal in [{lo / ONE:g}, {hi / ONE:g}]")
        return default if got is None else int(got)

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        def parse(value: Any) -> int:
            if not isinstance(value, int | str) or not lo <= int(value) <= hi:
                raise ValueError
            return int(value)

        got = self._get(key, parse, f"expected an integer from {lo} to {hi}")
        return default if got is None else int(got)

    def text(self, key: str) -> str | None:
        def parse(value: Any) -> str:
            if not isinstance(value, str) or not value.strip():
                raise ValueError
            return value.strip()

        got = self._get(key, parse, "expected a non-empty text")
        return None if got is None else str(got)

    def time(self, key: str) -> int | None:
        got = self._get(key, lambda v: _parse_time(v)[0], "expected unix s/ms or ISO-8601")
        return None if got is None else int(got)

    def outcome(self, key: str) -> Outcome | None:
        got = self._get(key, _outcome, "expected UP or DOWN")
        return None if got is None else Outcome(got)

    def number(self, key: str) -> float | None:
        got = self._get(key, lambda v: _float(str(v), key), "expected a number")
        return None if got is None else float(got)

    def market_fields(self) -> _MarketFields:
        tick = self.micros("tick", 10_000, 1, 100_000)
        if ONE % tick:
            raise self._fail("tick", "expected a tick that divides 1, such as 0.01 or 0.001")
        return _MarketFields(
            instrument=self.text("instrument") or "",
            name=self.text("name"),
            tick=tick,
            min_size=self.micros("min_size", 5 * ONE, 0, 10**9 * ONE),
            fee_rate_ppm=self.integer("fee_rate_ppm", 0, 0, MAX_FEE_PPM),
            fee_exponent=self.integer("fee_exponent", 1, 1, MAX_FEE_EXPONENT),
        )


# ---------------------------------------------------------------------------
# tape


def _load_tape(path: Path, col: _Collector) -> dict[str, _MarketAcc]:
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


# ---------------------------------------------------------------------------
# Polymarket price history


def _sidecar(path: Path) -> Path:
    name = path.name
    for suffix in (".json.gz", ".json"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".meta.json")


def _load_polymarket(path: Path, col: _Collector, options: Mapping[str, Any]) -> dict[str, _MarketAcc]:
    report = col.report
    report.row_unit = "point"
    expected = 'a Polymarket price history {"history": [{"t": unix_s, "p": price}, ...]}'
    settings: dict[str, Any] = {}
    sidecar = _sidecar(path)
    if os.path.lexists(sidecar):  # a dangling link or a folder there is an error, not "no settings"
        try:
            meta = orjson.loads(read_small(sidecar, MAX_SIDECAR_BYTES))
        except FileRefused as exc:
            raise DataError(f"{sidecar}: {exc}; expected a JSON object of settings") from None
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{sidecar}: not valid JSON ({exc}); expected an object") from None
        if not isinstance(meta, dict):
            raise DataError(f"{sidecar}: expected a JSON object of settings")
        allowed = _OPTIONS["polymarket"] - {"strict"}
        unknown = sorted(set(meta) - allowed)
        if unknown:
            raise DataError(
                f"{sidecar}: unknown key(s) {', '.join(unknown)};"
                f" expected some of {', '.join(sorted(allowed))}"
            )
        settings.update(meta)
        report.notes.append(f"settings from {sidecar.name}")
    settings.update({key: value for key, value in options.items() if key != "strict"})
    opts = _Options(path, settings, source="setting")
    col.fields = opts.market_fields()
    tick = col.fields.tick
    token_outcome = opts.outcome("token_outcome")
    window_end = opts.time("window_end")
    for key, value in (("token_outcome", token_outcome), ("window_end", window_end)):
        if value is None:
            raise DataError(f"{path}: {key} is not set; pass {key}=... or put it in {sidecar.name}")
    assert token_outcome is not None and window_end is not None
    spread = opts.micros("spread", 2 * tick, 0, ONE // 2)
    size = opts.micros("size", 100 * ONE, 0, 10**9 * ONE)
    market_id = opts.text("market_id") or _sidecar(path).name[: -len(".meta.json")]
    acc = _MarketAcc(
        market_id,
        window_start=opts.time("window_start"),
        window_end=window_end,
        strike=opts.number("strike"),
        outcome=opts.outcome("outcome"),
    )
    report.notes.append(
        f"{market_id}: {token_outcome.value} token, synthesized book with spread"
        f" {spread / ONE:g}, tick {tick / ONE:g}, size {size / ONE:g}"
    )

    try:
        with _open_text(path) as f:
            raw = f.read()
        data = orjson.loads(raw)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc}); expected {expected}") from None
    except orjson.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); expected {expected}") from None
    history = data.get("history") if isinstance(data, dict) else data
    if not isinstance(history, list):
        raise DataError(f'{path}: no list of points under "history"; expected {expected}')

    down = token_outcome is Outcome.DOWN
    for number, point in enumerate(history, start=1):
        report.rows_read += 1
        try:
            if not isinstance(point, dict):
                raise ValueError(f"{point!r} is not an object with t and p")
            if "t" not in point or "p" not in point:
                raise ValueError(f"missing {'t' if 't' not in point else 'p'}")
            t, p = point["t"], point["p"]
            if isinstance(t, str) or not isinstance(t, int | float):
                raise ValueError(f"t {t!r} is not a number")
            ts = _parse_time(t)[0]
            if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p):
                raise ValueError(f"p {p!r} is not a number")
            price = Decimal(repr(p)) * ONE
            if not 0 <= price <= ONE:
                raise ValueError(f"p {p!r} is outside [0, 1]")
        except ValueError as exc:
            col.bad(number, str(exc))
            continue
        if acc.last_ts is not None and ts < acc.last_ts:
            col.bad(number, f"time goes backwards ({iso(ts)} after {iso(acc.last_ts)})")
            continue
        if ts >= window_end:
            col.ignore("point at or after window end")
            continue
        bid, ask = book_from_price(ONE - price if down else price, tick=tick, spread=spread)
        acc.ticks.append(BookTick(ts, market_id, bid, size, ask, size))
        acc.last_ts = ts
    return {market_id: acc}


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
