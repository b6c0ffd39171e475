"""The underlying's price series beside recorded books: load it, and price every book tick.

A series is (timestamp, value) points of the price the markets settle on: the Chainlink
feed or Binance candles. Accepted files:

    CSV (``.csv``, ``.csv.gz``)  a header with a time column (timestamp, ts, time, t,
                                 close_time, open_time, date) and a value column (value,
                                 price, close, answer, p); or Binance klines without a
                                 header (12 numeric columns: the close at the close time)
    JSON (``.json``)             a list of ``[t, v]``, of objects with those names, or of
                                 Binance klines; or ``{"history"|"prices"|"data": [...]}``
    Parquet (``.parquet``)       the same columns as CSV (needs the ``data`` extra)

A candle's close is stamped with its close time, never its open time (that would show the
strategy a price a whole candle early). Points must be in time order with a positive,
finite value; a point that fails is never used, and every reason it fails is reported
(``Series.malformed``). A file with no usable point is an error naming the file.

`priced(events, series, ...)` feeds the shared fair-value model (``bot.fairvalue``) with
every price up to each event's time: the strike of each window is the first price at or
after its start (or the market's own strike when the data gives one), and each book tick
gets ``fair_forecast`` = P(UP) and ``underlying`` = the last price. Nothing from the future
is used: a tick sees the prices stamped at or before it.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bot.fairvalue import FairValue, Window
from bot.feeds.formats.values import parse_time
from bot.feeds.tape import DataError
from bot.feeds.where import at, json_error, utf8_error
from bot.model import ONE, BookTick, MarketEvent, WindowOpened, WindowResolved
from bot.safefile import printable

TIME_NAMES = ("close_time", "timestamp", "ts", "time", "t", "date", "datetime", "open_time")
VALUE_NAMES = ("value", "price", "close", "answer", "p", "c")
SUFFIXES = (".csv", ".csv.gz", ".json", ".parquet")
# beside a data file DATA.csv: DATA.underlying.csv (or .json/.parquet), else underlying.*
BESIDE = ("underlying",)
# BTC's volatility is about 0.5 a year: 0.5 / sqrt(365 * 86400) per square-root second
DEFAULT_SIGMA = 0.00009
MAX_MALFORMED = 20


@dataclass
class Series:
    """The points of one underlying, in time order."""

    path: Path
    name: str
    ts: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    rows_read: int = 0
    malformed_total: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)
    time_column: str = ""
    unit: str = "line"  # what malformed rows are numbered by: a CSV's lines, JSON points, Parquet rows
    value_column: str = ""

    def bad(self, row: int, reasons: list[str]) -> None:
        self.malformed_total += 1
        if len(self.malformed) < MAX_MALFORMED:
            self.malformed.append((row, "; ".join(reasons)))

    def add(self, row: int, t: Any, v: Any) -> None:
        self.rows_read += 1
        reasons = []
        ts = value = None
        try:
            ts = parse_time(t if not isinstance(t, float) else int(t))
        except (ValueError, TypeError, OverflowError) as exc:
            reasons.append(f"{self.time_column or 'time'} {str(t)[:40]!r}: {exc}")
        try:
            value = float(v)
            if not math.isfinite(value) or value <= 0:
                reasons.append(f"{self.value_column or 'value'} {str(v)[:40]!r}: not a positive number")
        except (ValueError, TypeError):
            reasons.append(f"{self.value_column or 'value'} {str(v)[:40]!r}: not a number")
        if ts is not None and self.ts and ts < self.ts[-1]:
            reasons.append(f"time goes backwards ({ts} after {self.ts[-1]})")
        if reasons or ts is None or value is None:
            self.bad(row, reasons)
            return
        self.ts.append(ts)
        self.values.append(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "name": self.name,
            "points": len(self.ts),
            "rows_read": self.rows_read,
            "malformed_total": self.malformed_total,
            "malformed_first": [list(x) for x in self.malformed],
            "first": self.ts[0] if self.ts else None,
            "last": self.ts[-1] if self.ts else None,
            "columns": [self.time_column, self.value_column],
        }


def find_beside(data: Path) -> Path | None:
    """The series next to DATA (or in the folder DATA), if there is one."""
    folder = data if data.is_dir() else data.parent
    stem = data.name.split(".")[0]
    names = [] if data.is_dir() else [f"{stem}.underlying{s}" for s in SUFFIXES]
    names += [f"{b}{s}" for b in BESIDE for s in SUFFIXES]
    for name in names:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def load_series(path: Path, name: str | None = None) -> Series:
    """Read a price series; DataError with a one-line reason when nothing usable is in it."""
    series = Series(path, name or path.name.split(".")[0])
    try:
        lower = path.name.lower().removesuffix(".gz")
        if lower.endswith(".parquet"):
            _parquet(path, series)
        elif lower.endswith(".json"):
            _json(path, series)
        else:
            _csv(path, series)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the underlying's series: {exc.strerror or exc}") from None
    if not series.ts:
        tally = f"{series.rows_read} rows read, {series.malformed_total} malformed"
        if not series.malformed:
            raise DataError(f"{path}: no usable price in the underlying's series ({tally})")
        row, reason = series.malformed[0]
        where = at(path, reason, row) if series.unit == "line" else f"{path}: {series.unit} {row}: {reason}"
        raise DataError(f"{where} (no usable price in the underlying's series: {tally})")
    return series


def _pick(header: list[str], names: tuple[str, ...], what: str, path: Path) -> int:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    shown = printable(", ".join(header), 200)
    reason = (
        f"no {what} column in the underlying's series (columns {shown}); expected one of {', '.join(names)}"
    )
    raise DataError(
        at(path, reason, 1) if path.name.lower().endswith((".csv", ".csv.gz")) else at(path, reason)
    )


def _bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip data."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc})") from None
    return raw


def _csv(path: Path, series: Series) -> None:
    raw = _bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise utf8_error(path, "a price series (timestamp, value)") from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        raise DataError(f"{path}: empty file; expected a price series (timestamp, value)")
    if _is_kline(header):
        series.time_column, series.value_column = "close_time (column 7)", "close (column 5)"
        series.add(1, _kline_time(header), header[4])
        start, ti, vi = 2, -1, 4
    else:
        ti, vi = _pick(header, TIME_NAMES, "time", path), _pick(header, VALUE_NAMES, "value", path)
        series.time_column, series.value_column = header[ti].strip(), header[vi].strip()
        start = 2
    for line, row in enumerate(rows, start=start):
        if not row:
            continue
        if ti == -1:
            if len(row) < 7:
                series.rows_read += 1
                series.bad(line, [f"{len(row)} fields; a Binance kline has 12"])
                continue
            series.add(line, _kline_time(row), row[4])
        elif max(ti, vi) >= len(row):
            series.rows_read += 1
            series.bad(line, [f"{len(row)} fields; expected {len(header)}"])
        else:
            series.add(line, row[ti], row[vi])


def _is_kline(row: list[Any]) -> bool:
    if len(row) < 7:
        return False
    try:
        return all(math.isfinite(float(x)) for x in row[:7])
    except (TypeError, ValueError):
        return False


def _kline_time(row: list[Any]) -> Any:
    # close_time is the candle's last millisecond: its close is known one ms later
    try:
        return int(row[6]) + 1
    except (TypeError, ValueError):
        return row[6]


def _json(path: Path, series: Series) -> None:
    try:
        body = orjson.loads(_bytes(path))
    except orjson.JSONDecodeError as exc:
        raise json_error(path, exc, "a price series") from None
    series.unit = "point"
    if isinstance(body, dict):
        for key in ("history", "prices", "data", "points"):
            if isinstance(body.get(key), list):
                body = body[key]
                break
    if not isinstance(body, list):
        raise DataError(f"{path}: expected a list of [time, value] points (or {{'history': [...]}})")
    for i, point in enumerate(body, start=1):
        if isinstance(point, list) and _is_kline(point):
            series.time_column, series.value_column = "close_time", "close"
            series.add(i, _kline_time(point), point[4])
        elif isinstance(point, list) and len(point) == 2:
            series.add(i, point[0], point[1])
        elif isinstance(point, dict):
            t = next((point[k] for k in TIME_NAMES if k in point), None)
            v = next((point[k] for k in VALUE_NAMES if k in point), None)
            series.add(i, t, v)
        else:
            series.rows_read += 1
            series.bad(i, [f"point {str(point)[:40]!r}: expected [time, value] or {{'t': .., 'p': ..}}"])


def _parquet(path: Path, series: Series) -> None:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"{path}: reading Parquet needs the optional extra: pip install 'touchtrader[data]'"
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
    series.unit = "row"
    header = table.column_names
    ti, vi = _pick(header, TIME_NAMES, "time", path), _pick(header, VALUE_NAMES, "value", path)
    series.time_column, series.value_column = header[ti], header[vi]
    times = table.column(ti).to_pylist()
    values = table.column(vi).to_pylist()
    for i, (t, v) in enumerate(zip(times, values, strict=True), start=1):
        if hasattr(t, "tzinfo"):  # a timestamp column
            t = t.isoformat()
        series.add(i, t, v)


@dataclass
class PricingStats:
    """What pricing the ticks found: how many got a fair value, and why the others did not."""

    ticks: int = 0
    priced: int = 0
    no_strike: int = 0
    no_price: int = 0
    instruments: set[str] = field(default_factory=set)  # of the markets priced

    def to_dict(self) -> dict[str, Any]:
        return {
            "ticks": self.ticks,
            "priced": self.priced,
            "no_strike": self.no_strike,
            "no_price": self.no_price,
            "instruments": sorted(self.instruments),
        }


def priced(
    events: Iterable[MarketEvent],
    series: Series,
    stats: PricingStats,
    *,
    sigma: float = DEFAULT_SIGMA,
    half_life_s: float = 300.0,
) -> Iterator[MarketEvent]:
    """The events, each book tick with P(UP) from the series (see the module doc)."""
    model = FairValue(sigma, half_life_s)
    name = series.name
    times, values = series.ts, series.values
    n, i = len(times), 0
    last: float | None = None
    for event in events:
        now = event.ts_ms
        while i < n and times[i] <= now:
            last = values[i]
            model.on_price(name, times[i], last)
            i += 1
        kind = type(event)
        if kind is BookTick:
            tick: BookTick = event  # type: ignore[assignment]
            stats.ticks += 1
            p = model.p_up(tick.market_id, now)
            if p is None:
                if last is None:
                    stats.no_price += 1
                else:
                    stats.no_strike += 1
                yield tick
                continue
            stats.priced += 1
            yield BookTick(
                now, tick.market_id, tick.bid, tick.bid_size, tick.ask, tick.ask_size, round(p * ONE), last
            )
        elif kind is WindowOpened:
            market = event.market  # type: ignore[union-attr]
            start, end = market.window_start_ms, market.window_end_ms
            strike = market.strike
            if strike is None:
                # the first price at or after the start, if it is already known now
                j = bisect.bisect_left(times, start)
                if j < n and times[j] < end and times[j] <= now:
                    strike = values[j]
            model.watch(Window(market.market_id, name, start, end), strike)
            stats.instruments.add(market.instrument)
            yield event
        else:
            if kind is WindowResolved:
                model.forget(event.market_id)  # type: ignore[union-attr]
            yield event
