"""A CSV's rows read by pyarrow a block at a time (issue 13: loading is not the bottleneck).

When pyarrow (the optional extra ``data``) is installed, ``read_csv_rows`` (``load`` and the
streaming first pass) reads an uncompressed CSV here: the file is read in blocks of BLOCK_BYTES cut at a
line end (memory stays flat), each block parsed by ``pyarrow.csv`` with every column as
text (the columns read once per distinct text as dictionaries). The values are then checked
and converted by the Python path's own functions (``formats.values``: ``_price``, ``_size``,
``_parse_time``, ...), once per distinct text of a column instead of once per row; unix
times (digits only) as integers, prices and sizes (digits and a point) by Arrow casts that
are exact (``csvblocks.short_micros``; else decimals of 6 places), so a price is the same
number of micros either way. A row with any value that fails (or a crossed book) goes whole
to the Python row parser, which gives its reasons; every row, good or bad, then meets the
checks across rows (``_CsvRows.accept``) in file order. For ``load``, a file of rows per
token whose every block is clean is checked and paired on whole arrays instead
(``columnar.whole_tokens``, Parquet's fast path), or else row by row. The events, the
report, the malformed rows and their line numbers are the Python path's (tests compare them).

A block is read this way only if a row is exactly a line: ASCII text with no quote, NUL,
blank line or lone carriage return, as many rows as lines (pyarrow refuses ragged rows).
From the first block that is not, the rest of the file goes through the Python reader, from
that block's first line, with its line numbers; a header that is not plain, a file under
MIN_BYTES (importing pyarrow costs more than it saves there) or
``TOUCHTRADER_CSV_READER=python`` in the environment use the Python reader throughout. A
gzip'd file is decompressed as the Python reader does it (``csvblocks.Gunzipped``), so a
file cut short gives out at the same byte: the rows before it are used, and the report
says the file ends early (nothing before it: the same one-line error).
"""

from __future__ import annotations

import csv
import importlib
import io
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Any, Final

from bot.feeds.checks import MAX_SIZE
from bot.feeds.formats.columnar import whole_tokens
from bot.feeds.formats.core import _GZIP_MAGIC, _Collector, _MarketAcc
from bot.feeds.formats.csvblocks import (
    DECIMAL,
    DIGITS,
    GZIP_ERRORS,
    Gunzipped,
    Shifted,
    accept_rows,
    blank_line,
    blocks,
    combinations,
    objects,
    only,
    plain,
    short_micros,
    text_lengths,
)
from bot.feeds.formats.csvfile import Settings, _CsvRows, finish_rows, read_rows, settings, start_rows
from bot.feeds.formats.values import (
    _MAX_MS,
    _MAX_S,
    _MIN_MS,
    _MIN_S,
    _float,
    _outcome,
    _parse_time,
    _price,
    _size,
    is_split,
)
from bot.feeds.tape import DataError
from bot.feeds.where import utf8_error
from bot.model import ONE, SPLIT, BookTick
from bot.safefile import FileRefused, open_regular

BLOCK_BYTES: Final = 2 << 20  # 8 MiB: 1.2x the CPU and +85 MB peak (1M-row CSV)
MIN_BYTES: Final = 1 << 20
ENV: Final = "TOUCHTRADER_CSV_READER"  # "python": never this reader (comparisons, a bug)
_BOM: Final = b"\xef\xbb\xbf"
_BAD: Final = object()

# the roles parsed once per distinct text of a block (`_Block.mapped`): read as dictionaries
_CODED: Final = frozenset(
    (
        "market_id",
        "token_id",
        "token_outcome",
        "outcome",
        "window_end",
        "window_start",
        "strike",
        "underlying",
    )
)


@dataclass(slots=True)
class Bulk:
    """A block's rows that all parsed, as arrays (numpy), for a ``BulkAccept``: key (market,
    per token: token) of row i is ``keys[key_codes[i]]``; `end` the window end (None: no
    such column), `extra` per token ``extras[extra_codes[i]]``; no window_start, strike or
    per-market outcome value in any row."""

    first_line: int
    ts: Any
    keys: list[str]
    key_codes: Any
    bid: Any
    bid_size: Any
    ask: Any
    ask_size: Any
    under: list[float | None] | None
    naive: list[bool] | None
    end: Any
    extras: list[Any] | None
    extra_codes: Any


# accepts a block's rows at once as `_CsvRows.accept` would one by one, or answers False
# having changed nothing (then they are accepted one by one)
BulkAccept = Callable[[_CsvRows, Bulk], bool]


def wanted(path: Path, setup: Settings) -> bool:
    """This reader can be tried: pyarrow is installed, not turned off, the delimiter plain,
    the file MIN_BYTES or longer (importing pyarrow costs more than a short file's parse)."""
    if os.environ.get(ENV, "").strip().lower() == "python":
        return False
    try:
        if path.stat().st_size < MIN_BYTES:
            return False
    except OSError:
        return False  # the Python reader says what is wrong with it
    if setup.delimiter in '"\r\n\0':
        return False
    try:
        importlib.import_module("pyarrow.csv")
    except ImportError:
        return False
    return True


def load_csv(path: Path, col: _Collector, options: Mapping[str, Any]) -> dict[str, _MarketAcc]:
    """The markets of a CSV (``formats.load``), read by this reader when it can."""
    setup = settings(path, col, options)
    markets: dict[str, _MarketAcc] = {}
    whole: list[Bulk] = []
    rows = read_csv_rows(path, col, setup, markets, whole=whole)
    if whole:  # every row clean, per token: checked and paired on whole arrays if it can be
        assert rows is not None
        combined = whole_tokens(rows, whole, setup)
        if combined is not None:
            return finish_rows(col, None, combined, setup)
        for got in whole:  # else as any other rows
            accept_rows(rows, got, markets)
    return finish_rows(col, rows, markets, setup)


def read_csv_rows(
    path: Path,
    col: _Collector,
    setup: Settings,
    markets: dict[str, _MarketAcc],
    bulk: BulkAccept | None = None,
    whole: list[Bulk] | None = None,
) -> _CsvRows | None:
    """``csvfile.read_rows``, by this reader when it is installed and the file is for it
    (`bulk`: how a block's clean rows may be accepted at once; `whole`: see `read_arrow`)."""
    if wanted(path, setup):
        try:
            read = read_arrow(path, col, setup, markets, bulk, whole)
        except UnicodeDecodeError:  # in the Python reader's part
            raise utf8_error(path, "a CSV file") from None
        if read is not None:
            return read[0]
    return read_rows(path, col, setup, markets)


def read_arrow(
    path: Path,
    col: _Collector,
    setup: Settings,
    markets: dict[str, _MarketAcc],
    bulk: BulkAccept | None = None,
    whole: list[Bulk] | None = None,
) -> tuple[_CsvRows, int | None] | None:
    """The rows read into ``markets``, and the line from which the Python reader read them
    (None: none); None when the file is not for this reader (an odd header, not a regular
    file): nothing was read, and the Python reader reads it all and gives any error.
    `whole` (rows per token, no window_start or strike column): where every block's rows
    are kept, not accepted, while all are clean (if one is not, the ones before it are
    accepted and `whole` is left empty)."""
    try:
        raw = open_regular(path)
    except FileRefused:
        return None
    with raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        source = Gunzipped(raw) if compressed else raw
        first = source.read(BLOCK_BYTES)
        start = len(_BOM) if first.startswith(_BOM) else 0
        end = first.find(b"\n", start)
        line = first[start : end + 1]
        if end < 0 or not plain(line) or not line.strip():
            return None
        header = next(csv.reader(io.StringIO(line.decode(), newline=""), delimiter=setup.delimiter))
        col.positions = {name.strip().lower(): i for i, name in enumerate(header, start=1)}
        rows = start_rows(path, col, header, setup)
        keep = whole is not None and rows.tokens is not None and bulk is None
        keep = keep and rows.index["window_start"] is None and rows.index["strike"] is None
        reader = _Reader(source, rows, setup.delimiter, bulk, whole if keep else None)
        reader.read(first, end + 1, markets)
        failed = getattr(source, "failed", None)
        if failed is not None:  # as the Python reader (csvfile.read_rows) says it
            if not col.report.rows_read:
                raise DataError(f"{path}: not readable gzip data ({failed}); expected a gzip'd CSV")
            col.report.truncated = True
            col.report.notes.append(f"compressed CSV ends early ({failed}); rows up to there were used")
    return rows, reader.python_from


class _Reader:
    def __init__(
        self, raw: Any, rows: _CsvRows, delimiter: str, bulk: BulkAccept | None, whole: list[Bulk] | None
    ) -> None:
        self.raw = raw
        self.bulk = bulk
        # the clean blocks read so far, kept whole while every block is (see `load_csv`)
        self.whole = whole
        self.rows = rows
        self.delimiter = delimiter
        self.pa = importlib.import_module("pyarrow")
        self.pacsv = importlib.import_module("pyarrow.csv")
        self.np = importlib.import_module("numpy")
        self.python_from: int | None = None  # the line the Python reader took over at
        used = sorted({i for i in rows.index.values() if i is not None})
        names = [f"c{i}" for i in range(rows.width)]
        pacsv, pa = self.pacsv, self.pa
        # the columns read once per distinct text (`_Block.mapped`) come as dictionaries:
        # no string per row, no encoding after
        coded = {i for role, i in rows.index.items() if i is not None and role in _CODED}
        coded -= {i for role, i in rows.index.items() if i is not None and role not in _CODED}
        dictionary = pa.dictionary(pa.int32(), pa.string())
        self.options = (
            pacsv.ReadOptions(column_names=names, use_threads=False, block_size=BLOCK_BYTES + (1 << 20)),
            pacsv.ParseOptions(delimiter=delimiter, quote_char=False, ignore_empty_lines=False),
            pacsv.ConvertOptions(
                include_columns=[names[i] for i in used],
                column_types={names[i]: dictionary if i in coded else pa.string() for i in used},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    def flush(self, markets: dict[str, _MarketAcc]) -> None:
        """The blocks kept whole, accepted row by row: a block (or the rest of the file) is
        not clean, so neither is the whole file."""
        if self.whole is not None:
            for got in self.whole:
                accept_rows(self.rows, got, markets)
            self.whole.clear()
            self.whole = None

    def read(self, first: bytes, offset: int, markets: dict[str, _MarketAcc]) -> None:
        """Blocks from byte `offset` of `first` (the file's first read) to the end of the file."""
        raw = self.raw
        lines = 1  # the header's
        # read, not memory-mapped: a mapped file cut short by another process while it is
        # read kills the process (SIGBUS) where a read just ends (the mapping saved ~5 % CPU)
        parts = ((b, plain(b)) for b in blocks(raw, first[offset:], len(first) < BLOCK_BYTES, BLOCK_BYTES))
        for block, is_plain in parts:
            table = self.parse(block) if is_plain else None
            if table is None:  # not plain: the Python reader from this block on
                self.flush(markets)
                self.python_from = lines + 1
                stream = raw.gz if isinstance(raw, Gunzipped) else raw
                stream.seek(offset)
                text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
                reader = csv.reader(text, delimiter=self.delimiter, strict=True)
                try:
                    self.rows.read(Shifted(reader, lines), markets)
                except GZIP_ERRORS as exc:
                    if not isinstance(raw, Gunzipped):
                        raise
                    raw.failed = exc  # the file gives out here: said when it is read
                text.detach()
                return
            _Block(self, table, lines + 1).load(markets)
            lines += table.num_rows
            offset += len(block)

    def parse(self, block: Any) -> Any:
        """The block's table (a plain block, bytes or a view of them), a row per line
        (pyarrow's rows are its lines when it is plain: every line ends at a LF or CRLF, and
        a line of other than as many fields as the header is refused), or None."""
        pa = self.pa
        try:
            table = self.pacsv.read_csv(pa.BufferReader(block), *self.options)
        except pa.ArrowException:
            return None
        # pyarrow reads a blank line as a row of empty values, where the Python reader skips it
        times = table.column(f"c{self.rows.index['timestamp']}")
        empty = any(bool((text_lengths(self.np, chunk) == 0).any()) for chunk in times.chunks)
        if empty and blank_line(bytes(block)):
            return None
        return table


class _Block:
    """One block's rows: each column's values converted, the rows that fail re-parsed."""

    def __init__(self, reader: _Reader, table: Any, first_line: int) -> None:
        self.reader = reader
        self.rows = reader.rows
        self.np = reader.np
        self.table = table
        self.first_line = first_line
        self.n = table.num_rows
        self.slow = self.np.zeros(self.n, dtype=bool)

    def column(self, role: str) -> Any:
        i = self.rows.index[role]
        if i is None:
            return None
        column = self.table.column(f"c{i}")
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()

    def mapped(self, role: str, parse: Callable[[str], Any]) -> tuple[list[Any], Any]:
        """The column's distinct texts parsed once each, and each row's code into them; a
        text that fails (_BAD) flags its rows for the row parser."""
        np = self.np
        encoded = self.column(role)
        if not self.reader.pa.types.is_dictionary(encoded.type):
            encoded = encoded.dictionary_encode()
        values = []
        for text in encoded.dictionary.to_pylist():
            try:
                values.append(parse(text))
            except ValueError:  # AmbiguousValue too: the row parser raises it at its line
                values.append(_BAD)
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        bad = np.array([v is _BAD for v in values], dtype=bool)
        if bad.any():
            self.slow |= bad[codes]
        return values, codes

    def objects(self, role: str, parse: Callable[[str], Any]) -> list[Any]:
        values, codes = self.mapped(role, parse)
        return objects(self.np, values)[codes].tolist()  # type: ignore[no-any-return,unused-ignore]

    def amounts(self, role: str, parse: Callable[[str], int], high: int, tick: int = 1) -> Any:
        """Micros: a block's column made only of digits and points read as Arrow decimals of 6
        places, whose unscaled integers are the micros (Arrow refuses what the decimals cannot
        hold exactly); otherwise each distinct text through `parse`. Above `high` or off `tick`:
        the row parser's. Texts of at most SHORT characters are read faster through doubles,
        exactly all the same (see `short_micros`)."""
        np, pa = self.np, self.reader.pa
        arr = self.column(role)
        if arr.null_count == 0 and only(np, arr, DECIMAL):
            micros = short_micros(np, pa, arr)
            if micros is not None:
                return self.flag(micros, high, tick)
            try:
                exact = arr.cast(pa.decimal128(18, 6))
            except pa.ArrowException:  # "1.2.3", more than 6 decimals, 13 digits or more
                exact = None
            if exact is not None and exact.null_count == 0:
                start = exact.offset * 2
                micros = np.frombuffer(exact.buffers()[1], dtype=np.int64)[start : start + 2 * self.n : 2]
                return self.flag(micros, high, tick)
        return self.integers(role, parse)

    def short_amounts(self) -> list[Any] | None:
        """The prices and sizes (bid, ask, bid size, ask size) read by one cast when all four
        columns are there and every text is short digits and points (see `amounts`), or None."""
        np, pa = self.np, self.reader.pa
        roles = ("best_bid", "best_ask", "bid_size", "ask_size")
        if any(self.rows.index[role] is None for role in roles):
            return None
        arrays = [self.column(role) for role in roles]
        if any(arr.null_count for arr in arrays):
            return None
        joined = pa.concat_arrays(arrays)
        if not only(np, joined, DECIMAL):
            return None
        micros = short_micros(np, pa, joined)
        if micros is None:
            return None
        n, tick = self.n, self.rows.tick or 100
        parts = [micros[i * n : (i + 1) * n] for i in range(4)]
        for i, part in enumerate(parts):
            self.flag(part, ONE if i < 2 else MAX_SIZE, tick if i < 2 else 1)
        return parts

    def flag(self, micros: Any, high: int, tick: int) -> Any:
        """The rows above `high` or off `tick` flagged for the row parser; `micros`."""
        if int(micros.max(initial=0)) > high:
            self.slow |= micros > high
        if tick != 1:
            self.slow |= micros % tick != 0
        return micros

    def integers(self, role: str, parse: Callable[[str], int]) -> Any:
        """Each distinct text through `parse` (int64; 0 where it fails: the row is flagged)."""
        values, codes = self.mapped(role, parse)
        return self.np.array([0 if v is _BAD else v for v in values], dtype=self.np.int64)[codes]

    def times(self) -> tuple[Any, list[bool] | None]:
        """The rows' times (epoch ms, int64) and had-no-time-zone (None: all False)."""
        np = self.np
        arr = self.column("timestamp")
        lengths = text_lengths(np, arr)
        if arr.null_count == 0 and lengths.min() >= 1 and lengths.max() <= 17 and only(np, arr, DIGITS):
            v = arr.cast(self.reader.pa.int64()).to_numpy()
            low, high = int(v.min()), int(v.max())
            if low >= _MIN_MS and high < _MAX_MS:  # all milliseconds (or all seconds): one step
                return v, None
            if low >= _MIN_S and high < _MAX_S:
                return v * 1000, None
            seconds = (v >= _MIN_S) & (v < _MAX_S)
            self.slow |= ~(seconds | ((v >= _MIN_MS) & (v < _MAX_MS)))
            return np.where(seconds, v * 1000, v), None
        values, codes = self.mapped("timestamp", _parse_time)
        got = [(0, False) if v is _BAD else v for v in values]
        ms = np.array([t for t, _ in got], dtype=np.int64)
        naive = np.array([z for _, z in got], dtype=bool)
        return ms[codes], naive[codes].tolist()

    def optional(self, role: str, parse: Callable[[str], Any]) -> list[Any] | None:
        return None if self.rows.index[role] is None else self.objects(role, parse)

    def load(self, markets: dict[str, _MarketAcc]) -> None:
        rows = self.rows
        np = self.np
        n = self.n
        rows.col.report.rows_read += n
        tick = rows.tick
        ts, naive = self.times()
        together = self.short_amounts()
        if together is not None:
            bid, ask, *sizes = together
        else:
            bid = self.amounts("best_bid", partial(_price, name="best_bid", tick=tick), ONE, tick or 100)
            ask = self.amounts("best_ask", partial(_price, name="best_ask", tick=tick), ONE, tick or 100)
            sizes = [
                np.full(n, rows.size_default, dtype=np.int64)
                if rows.index[role] is None
                else self.amounts(role, partial(_size, name=role), MAX_SIZE)
                for role in ("bid_size", "ask_size")
            ]
        self.slow |= bid >= ask
        key = "token_id" if rows.tokens is not None else "market_id"
        if rows.index[key] is None:
            assert rows.const_market is not None
            key_values, key_codes = [rows.const_market], np.zeros(n, dtype=np.int64)
        else:
            key_values, key_codes = self.mapped(key, _key)
        under = self.optional("underlying", lambda t: _float(t, "underlying") if t.strip() else None)
        end = None
        if rows.index["window_end"] is not None:
            end = self.integers("window_end", _end)
        start = self.optional("window_start", lambda t: _parse_time(t)[0] if t.strip() else None)
        strike = self.optional("strike", lambda t: _float(t, "strike") if t.strip() else None)
        outcome: list[Any] | None = None
        extras: tuple[list[Any], Any] | None = None
        if rows.tokens is not None:
            extras = self.token_columns()
        elif rows.index["outcome"] is not None:
            name = rows.names["outcome"]
            outcome = self.optional("outcome", lambda t: SPLIT if is_split(t) else _outcome(t, name))
        reader = self.reader
        if (
            (reader.bulk is not None or reader.whole is not None)
            and not self.slow.any()
            and all(v is None or v.count(None) == n for v in (start, strike, outcome))
        ):
            books = (bid, sizes[0], ask, sizes[1])
            got = Bulk(self.first_line, ts, key_values, key_codes, *books, under, naive, end, None, None)
            if extras is not None:
                got.extras, got.extra_codes = extras
            if reader.whole is not None and naive is None:
                reader.whole.append(got)  # accepted when the file is read (see `load_csv`)
                return
            if reader.bulk is not None and reader.bulk(rows, got):
                return
        reader.flush(markets)
        nothing = [None] * n
        slow = self.slow.tolist()
        first = self.first_line
        accept = rows.accept
        for i, (t, k, b, bs, a, as_, u, z, e, s, st, o, x) in enumerate(
            zip(
                ts.tolist(),
                objects(np, key_values)[key_codes].tolist(),
                bid.tolist(),
                sizes[0].tolist(),
                ask.tolist(),
                sizes[1].tolist(),
                under or nothing,
                naive or repeat(False, n),
                nothing if end is None else end.tolist(),
                start or nothing,
                strike or nothing,
                outcome or nothing,
                nothing if extras is None else objects(np, extras[0])[extras[1]].tolist(),
                strict=True,
            )
        ):
            if slow[i]:
                self.reparse(i, markets)
            else:
                accept(first + i, (BookTick(t, k, b, bs, a, as_, None, u), z, e, s, st, o, x), markets)

    def token_columns(self) -> tuple[list[Any], Any]:
        """(market key, token side, outcome text), as ``tokens.token_columns``: each distinct
        combination once, and each row's code into them."""
        np = self.np
        parsers: dict[str, Callable[[str], Any]] = {
            "market_id": lambda t: t.strip() or None,
            "token_outcome": partial(_outcome, column=self.rows.names["token_outcome"]),
            "outcome": str.strip,
        }
        parts: list[tuple[list[Any], Any]] = []
        for role, parse in parsers.items():
            if self.rows.index[role] is None:
                parts.append(([None if role != "outcome" else ""], np.zeros(self.n, dtype=np.int64)))
            else:
                parts.append(self.mapped(role, parse))
        return combinations(np, parts, self.n)

    def reparse(self, i: int, markets: dict[str, _MarketAcc]) -> None:
        """Row i through the Python row parser: its reasons, or its values."""
        rows = self.rows
        text = [""] * rows.width
        for position in rows.index.values():
            if position is not None:
                text[position] = self.table.column(f"c{position}")[i].as_py()
        rows.parse_line(self.first_line + i, text, markets)


def _key(text: str) -> str:
    key = text.strip()
    if not key:
        raise ValueError
    return key


def _end(text: str) -> int:
    if not text.strip():
        raise ValueError
    return _parse_time(text)[0]
