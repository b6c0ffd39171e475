"""Parquet tables of top-of-book rows (``parquet``): the same columns, options and rules as
``csv`` (rows per market or per token, see the package doc), read column by column.

Needs the optional extra ``data`` (``pip install 'touchtrader[data]'``: pyarrow and numpy);
without it, loading a Parquet file is a one-line ``DataError`` naming the extra.

Numeric columns are converted and checked a batch at a time with numpy: times (unix
seconds or milliseconds, or Parquet timestamps; UTC), prices and sizes (floats within a
millionth of a micro are exact: 0.57 is 570000 micros) and the price rules (range, tick,
crossed book, sizes). Text columns (ISO times, decimal strings) go through the same
parsers as a CSV's. Keys, market ids, token sides and outcomes are read once per distinct
value (and per distinct combination), as Parquet stores them, not per row. Rows that fail
are given to the CSV row parser as text, so a bad row's reason is the one a CSV would give,
with every problem in it; ``report.malformed`` numbers rows from 1 (``report.row_unit``
"row"). The checks across rows (time order, window values, pairing tokens) are the CSV's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from bot.feeds.checks import MAX_SIZE
from bot.feeds.formats.columnar import fast_tokens
from bot.feeds.formats.core import _Collector, _MarketAcc
from bot.feeds.formats.csvarrow import Bulk, BulkAccept
from bot.feeds.formats.csvblocks import combinations, objects
from bot.feeds.formats.csvfile import Settings, _CsvRows, finish_rows, settings, start_rows
from bot.feeds.formats.values import (
    _MAX_MS,
    _MAX_S,
    _MIN_MS,
    _MIN_S,
    AmbiguousValue,
    _micros,
    _outcome,
    _parse_time,
)
from bot.feeds.tape import DataError
from bot.model import ONE, BookTick
from bot.safefile import FileRefused, open_regular

BATCH_ROWS: Final = 1 << 18
_KEYS: Final = ("market_id", "token_id", "token_outcome", "outcome")
EXTRA: Final = (
    "parquet input needs the optional extra 'data': pip install 'touchtrader[data]' (pyarrow, numpy)"
)


def _require(path: Path) -> tuple[Any, Any, Any]:
    try:
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
        np = importlib.import_module("numpy")
    except ImportError:
        raise DataError(f"{path}: {EXTRA}") from None
    return pa, pq, np


def _load_parquet(path: Path, col: _Collector, options: Mapping[str, Any]) -> dict[str, _MarketAcc]:
    setup = settings(path, col, options)
    markets: dict[str, _MarketAcc] = {}
    rows, combined = read_parquet_rows(path, col, setup, markets)
    if combined is not None:
        return finish_rows(col, None, combined, setup)
    return finish_rows(col, rows, markets, setup)


def read_parquet_rows(
    path: Path,
    col: _Collector,
    setup: Settings,
    markets: dict[str, _MarketAcc],
    *,
    whole: bool = True,
    batch_rows: int = BATCH_ROWS,
    bulk: BulkAccept | None = None,
) -> tuple[_CsvRows, dict[str, _MarketAcc] | None]:
    """Read the table's rows into ``markets`` (a dict of markets, or the streaming loader's
    first pass), a batch of `batch_rows` at a time; the rows' reader. With `whole`, rows per
    token may instead be read as one table and combined column by column (faster, and all in
    memory): then the markets combined are given too, and ``markets`` stays empty. `bulk`: how
    a batch's good rows may be accepted at once (the streaming first pass)."""
    pa, pq, np = _require(path)
    col.report.row_unit = "row"
    expected = "expected a Parquet table of top-of-book rows"
    try:
        raw = open_regular(path)
    except FileRefused as exc:
        raise DataError(f"{path}: {exc}; {expected}") from None
    with raw:
        try:
            table = pq.ParquetFile(raw)
            header = list(table.schema_arrow.names)
            sizes = [table.metadata.row_group(g).num_rows for g in range(table.metadata.num_row_groups)]
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{path}: not a Parquet file ({exc}); {expected}") from None
        if len(sizes) > 1:  # where a bad row is, for a message (core._Collector.located)
            col.row_groups = [sum(sizes[: g + 1]) for g in range(len(sizes) - 1)]
        rows = start_rows(path, col, header, setup, "Parquet")
        used = sorted({header[i] for i in rows.index.values() if i is not None}, key=header.index)
        offset = 0
        # text keys read as Parquet stores them, dictionary-encoded: no string per row
        keys = [header[i] for r in _KEYS if (i := rows.index[r]) is not None]
        schema = table.schema_arrow
        keys = [k for k in keys if pa.types.is_string(schema.field(k).type)]
        if whole and rows.tokens is not None and table.metadata.num_rows:
            try:
                raw.seek(0)
                read = pq.read_table(raw, columns=used, read_dictionary=keys)
                read = read.combine_chunks().to_batches()[0]
            except (pa.ArrowException, OSError):
                read = None  # the batches below say how far the file can be read
            if read is not None:
                fast = fast_tokens(rows, _Batch(rows, header, read, 0, np, pa), setup)
                if fast is not None:
                    col.report.rows_read += read.num_rows
                    return rows, fast
        try:
            raw.seek(0)
            # a row group's columns are read as its batches are asked for (its pages, not the
            # whole file); the keys as dictionaries, as above
            table = pq.ParquetFile(raw, read_dictionary=keys, buffer_size=1 << 20)
            for batch in table.iter_batches(batch_size=batch_rows, columns=used, use_threads=False):
                _Batch(rows, header, batch, offset, np, pa, bulk).load(markets)
                offset += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            col.report.truncated = True
            col.report.notes.append(
                f"Parquet file unreadable after row {offset} ({exc}); rows up to there were used"
            )
    return rows, None


class _Batch:
    """One record batch: columns converted with numpy, bad rows found, good rows added."""

    def __init__(
        self,
        rows: _CsvRows,
        header: list[str],
        batch: Any,
        offset: int,
        np: Any,
        pa: Any,
        bulk: BulkAccept | None = None,
    ) -> None:
        self.rows = rows
        self.bulk = bulk
        self.header = header
        self.batch = batch
        self.offset = offset
        self.np = np
        self.pa = pa
        self.n = batch.num_rows
        self.bad = np.zeros(self.n, dtype=bool)
        self.naive = [False] * self.n

    def column(self, role: str) -> Any:
        i = self.rows.index[role]
        return None if i is None else self.batch.column(self.header[i])

    def load(self, markets: dict[str, _MarketAcc]) -> None:
        rows = self.rows
        np = self.np
        rows.col.report.rows_read += self.n
        ts, bid, bid_size, ask, ask_size = self.books()
        sizes = [bid_size, ask_size]
        key_role = "token_id" if rows.tokens is not None else "market_id"
        coded = self.texts_coded(self.column(key_role))
        if coded is None:
            assert rows.const_market is not None
            key_values, key_codes = [rows.const_market], np.zeros(self.n, dtype=np.int64)
        else:
            key_values, key_codes = _unique(np, *coded)
            empty = np.array([not k for k in key_values], dtype=bool)
            self.bad |= empty[key_codes]
        end = self.optional_arrays("window_end", required=True)
        start = self.optional_arrays("window_start", required=False)
        strike = self.floats("strike")
        under = self.floats("underlying")
        outcome: list[Any] = [None] * self.n
        extras: tuple[list[Any], Any] | None = None
        if rows.tokens is not None:
            extras = self.token_columns()
        elif self.column("outcome") is not None:
            outcome = self.mapped("outcome", lambda v: _outcome(v, rows.names["outcome"]))
        bulk = self.bulk
        if (
            bulk is not None
            and not self.bad.any()
            and (start is None or bool(start[1].all()))
            and all(v.count(None) == self.n for v in (strike, outcome))
        ):
            got = self.bulked(ts, key_values, key_codes, bid, sizes, ask, under, end, extras)
            if got is not None and bulk(rows, got):
                return
        bad = self.bad.tolist()
        first = self.offset + 1
        nothing = [None] * self.n
        ends, starts = _listed(end, nothing), _listed(start, nothing)
        extra = nothing if extras is None else objects(np, extras[0])[extras[1]].tolist()
        for i, (t, b, bs, a, as_, k) in enumerate(
            zip(
                ts.tolist(),
                bid.tolist(),
                sizes[0].tolist(),
                ask.tolist(),
                sizes[1].tolist(),
                objects(np, key_values)[key_codes].tolist(),
                strict=True,
            )
        ):
            if bad[i]:
                self.reject(i)
                continue
            parsed = (
                BookTick(t, k, b, bs, a, as_, None, under[i]),
                self.naive[i],
                ends[i],
                starts[i],
                strike[i],
            )
            rows.accept(first + i, (*parsed, outcome[i], extra[i]), markets)

    def bulked(
        self,
        ts: Any,
        key_values: list[str],
        key_codes: Any,
        bid: Any,
        sizes: list[Any],
        ask: Any,
        under: list[Any],
        end: tuple[Any, Any] | None,
        extras: tuple[list[Any], Any] | None,
    ) -> Bulk | None:
        """The batch's rows, all good, for a ``csvarrow.BulkAccept``; None if a window end is missing."""
        ends = None
        if end is not None:
            values, nulls = end
            if bool(nulls.any()):
                if not bool(nulls.all()):
                    return None
            else:
                ends = values
        got = Bulk(
            self.offset + 1,
            ts,
            key_values,
            key_codes,
            bid,
            sizes[0],
            ask,
            sizes[1],
            None if under.count(None) == self.n else under,
            None if not any(self.naive) else self.naive,
            ends,
            None,
            None,
        )
        if extras is not None:
            got.extras, got.extra_codes = extras
        return got

    def books(self) -> tuple[Any, Any, Any, Any, Any]:
        """(time ms, bid, bid size, ask, ask size) arrays, the price and size rules checked."""
        np = self.np
        ts = self.times(self.column("timestamp"), required=True)
        tick = self.rows.tick or 100
        bid = self.amounts(self.column("best_bid"))
        ask = self.amounts(self.column("best_ask"))
        for prices in (bid, ask):
            self.bad |= (prices < 0) | (prices > ONE) | (prices % tick != 0)
        self.bad |= bid >= ask
        sizes = []
        for role in ("bid_size", "ask_size"):
            arr = self.column(role)
            if arr is None:
                sizes.append(np.full(self.n, self.rows.size_default, dtype=np.int64))
            else:
                size = self.amounts(arr)
                self.bad |= (size < 0) | (size > MAX_SIZE)
                sizes.append(size)
        return ts, bid, sizes[0], ask, sizes[1]

    # -- columns -------------------------------------------------------------------------

    def times(self, arr: Any, required: bool) -> Any:
        """Epoch ms (int64); null or bad entries flagged in self.bad when required."""
        np, pa = self.np, self.pa
        kind = arr.type
        if pa.types.is_timestamp(kind):
            nulls = np.asarray(arr.is_null())
            ms = arr.cast(pa.timestamp("ms")).cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
            if required:
                self.bad |= nulls
            return ms
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            nulls = np.asarray(arr.is_null())
            v = arr.cast(pa.float64()).fill_null(0).to_numpy(zero_copy_only=False)
            seconds = (v >= _MIN_S) & (v < _MAX_S)
            millis = (v >= _MIN_MS) & (v < _MAX_MS)
            if required:
                self.bad |= nulls | ~(seconds | millis)
            if pa.types.is_integer(kind):
                whole = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
                return np.where(seconds, whole * 1000, whole)
            with np.errstate(invalid="ignore", over="ignore"):  # inf, nan: flagged above, not warned
                return np.where(seconds, np.trunc(v * 1000), np.trunc(v)).astype(np.int64)
        out = np.zeros(self.n, dtype=np.int64)
        for i, value in enumerate(arr.to_pylist()):
            try:
                out[i], self.naive[i] = _parse_time(value if value is not None else "")
            except ValueError:
                if required:
                    self.bad[i] = True
        return out

    def optional_arrays(self, role: str, required: bool) -> tuple[Any, Any] | None:
        """The column's times (epoch ms, int64) and where it is null; None: no such column."""
        arr = self.column(role)
        if arr is None:
            return None
        nulls = self.np.asarray(arr.is_null())
        if required:
            self.bad |= nulls
        saved = self.naive
        self.naive = [False] * self.n  # only the row's own timestamp counts
        values = self.times(arr, required)
        self.naive = saved
        return values, nulls

    def amounts(self, arr: Any) -> Any:
        """Exact micros (int64); nulls, non-numbers and more than six decimals flagged."""
        np, pa = self.np, self.pa
        kind = arr.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            v = arr.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
            with np.errstate(invalid="ignore", over="ignore"):  # inf, nan, 1e300: flagged, not warned
                scaled = v * ONE
                whole = np.rint(scaled)
                ok = np.isfinite(v) & (np.abs(scaled - whole) <= 1e-3)
                self.bad |= ~ok
                return np.where(ok, whole, 0).astype(np.int64)
        out = np.zeros(self.n, dtype=np.int64)
        for i, value in enumerate(arr.to_pylist()):
            try:
                out[i] = _micros(str(value)) if value is not None else 0
                if value is None:
                    self.bad[i] = True
            except ValueError:
                self.bad[i] = True
        return out

    def values(self, arr: Any) -> list[Any]:
        """The column as Python values (a dictionary's: each distinct value made once)."""
        if self.pa.types.is_dictionary(arr.type):
            values = arr.dictionary.to_pylist()
            return [None if i is None else values[i] for i in arr.indices.to_pylist()]
        return arr.to_pylist()

    def floats(self, role: str) -> list[float | None]:
        arr = self.column(role)
        if arr is None:
            return [None] * self.n
        return self.mapped(role, lambda v: _finite(float(v)))

    def mapped(self, role: str, parse: Callable[[Any], Any]) -> list[Any]:
        """Each value parsed once per distinct value; a bad one flags its rows."""
        cache: dict[Any, Any] = {}
        out: list[Any] = []
        for i, value in enumerate(self.values(self.column(role))):
            if value is None or (isinstance(value, str) and not value.strip()):
                out.append(None)
                continue
            if value not in cache:
                try:
                    cache[value] = parse(value)
                except AmbiguousValue:
                    col = self.rows.col
                    raise DataError(col.located(self.offset + i + 1, _why(parse, value))) from None
                except (ValueError, TypeError):
                    cache[value] = _BAD
            got = cache[value]
            if got is _BAD:
                self.bad[i] = True
                got = None
            out.append(got)
        return out

    def coded(self, role: str, parse: Callable[[Any], Any]) -> tuple[list[Any], Any]:
        """``mapped`` on each distinct value once: (values, each row's code into them)."""
        np = self.np
        raw, codes = _codes(self.pa, np, self.column(role))
        values: list[Any] = []
        failed = np.zeros(len(raw), dtype=bool)
        ambiguous = np.zeros(len(raw), dtype=bool)
        for j, value in enumerate(raw):
            got = None
            if value is not None and not (isinstance(value, str) and not value.strip()):
                try:
                    got = parse(value)
                except AmbiguousValue:
                    ambiguous[j] = True
                except (ValueError, TypeError):
                    failed[j] = True
            values.append(got)
        if ambiguous.any():  # the first such row, as `mapped` finds it
            i = int(np.flatnonzero(ambiguous[codes])[0])
            value = raw[int(codes[i])]
            raise DataError(self.rows.col.located(self.offset + i + 1, _why(parse, value)))
        if failed.any():
            self.bad |= failed[codes]
        return values, codes

    def texts_coded(self, arr: Any) -> tuple[list[str], Any] | None:
        """``texts`` on each distinct value once: (texts, each row's code into them)."""
        if arr is None:
            return None
        raw, codes = _codes(self.pa, self.np, arr)
        return ["" if v is None else str(v).strip() for v in raw], codes

    def token_columns(self) -> tuple[list[Any], Any]:
        """(market key, token side, outcome text) of each distinct combination, once, and
        each row's code into them (as ``texts`` and ``mapped`` give them row by row)."""
        np = self.np
        rows = self.rows
        zero = np.zeros(self.n, dtype=np.int64)
        market = self.texts_coded(self.column("market_id")) or ([""], zero)
        if self.column("token_outcome") is not None:
            side = self.coded("token_outcome", lambda v: _outcome(v, rows.names["token_outcome"]))
        else:
            side = ([None], zero)
        verdict = self.texts_coded(self.column("outcome")) or ([""], zero)
        parts = [([m or None for m in market[0]], market[1]), side, verdict]
        return _unique(np, *combinations(np, parts, self.n))

    def reject(self, i: int) -> None:
        """Count row i as malformed with the reason the CSV parser gives for its text."""
        rows = self.rows
        text = [""] * rows.width
        for position in rows.index.values():
            if position is not None:
                value = self.batch.column(self.header[position])[i].as_py()
                text[position] = (
                    "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
                )
        try:
            rows._parse(text)
            reason = "a value is missing or not exact to six decimals"
        except ValueError as exc:
            reason = str(exc)
        rows.col.bad(self.offset + i + 1, reason)


_BAD: Final = object()


def _codes(pa: Any, np: Any, arr: Any) -> tuple[list[Any], Any]:
    """The distinct values the column's rows have (None for null; a dictionary may hold its
    row group's every value) and each row's code into them (int64)."""
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    size = len(arr.dictionary)
    codes = arr.indices.fill_null(size).to_numpy(zero_copy_only=False).astype(np.int64)
    present = np.bincount(codes, minlength=size + 1) > 0
    if present[:size].all():
        values = arr.dictionary.to_pylist()
    else:
        values = arr.dictionary.take(pa.array(np.flatnonzero(present[:size]))).to_pylist()
    if present[size]:
        values.append(None)
    if len(values) < size + 1:
        codes = (np.cumsum(present) - 1)[codes]
    return values, codes


def _unique(np: Any, values: list[Any], codes: Any) -> tuple[list[Any], Any]:
    """Equal values made one (their codes too): each value once in the list."""
    first: dict[Any, int] = {}
    remap = np.array([first.setdefault(v, len(first)) for v in values], dtype=np.int64)
    if len(first) == len(values):
        return values, codes
    return list(first), remap[codes]


def _listed(pair: tuple[Any, Any] | None, nothing: list[Any]) -> list[Any]:
    """(values, nulls) as a list of values, None where null; `nothing` when no column."""
    if pair is None:
        return nothing
    values, nulls = pair
    return [None if null else v for v, null in zip(values.tolist(), nulls.tolist(), strict=True)]


def _finite(value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError
    return value


def _why(parse: Callable[[Any], Any], value: Any) -> str:
    try:
        parse(value)
    except ValueError as exc:
        return str(exc)
    return ""
