"""A CSV's bytes and text columns for the pyarrow reader (``formats.csvarrow``): the file in
blocks of whole lines, whether a block is one row per line, and the checks and exact
conversions of a column's texts that pyarrow's own would not make the Python parser's, and a
block's clean rows accepted one by one."""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Iterator
from itertools import repeat
from typing import Any, BinaryIO, Final

from bot.feeds.formats.core import _MarketAcc
from bot.feeds.formats.csvfile import _CsvRows
from bot.model import BookTick

# unix times: digits only, read as integers
DIGITS: Final = b"0123456789"
# prices and sizes: digits and a point, read as Arrow decimals (6 places), which refuse "",
# ".", "1.2.3", more than 6 decimals and 13 whole digits or more (then: the Python parser's)
DECIMAL: Final = b"0123456789."
SHORT: Final = 7  # see short_micros
# how the Python reader's text layer reads a gzip'd file (io.TextIOWrapper: read1 of 8 KiB)
TEXT_CHUNK: Final = 8192
GZIP_ERRORS: Final = (EOFError, zlib.error, gzip.BadGzipFile)


def plain(block: bytes) -> bool:
    """Every row of the block is one line: ASCII, no quote, NUL or lone CR (blank lines:
    `blank_line`, looked for only when a row has no time)."""
    if not block.isascii() or b'"' in block or b"\0" in block:
        return False
    return b"\r" not in block or block.count(b"\r") == block.count(b"\r\n")


def blank_line(block: bytes) -> bool:
    return block.startswith((b"\n", b"\r\n")) or b"\n\n" in block or b"\n\r\n" in block


def text_lengths(np: Any, arr: Any) -> Any:
    """The lengths of a string array's values (from its offsets)."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    return np.diff(offsets)


def only(np: Any, arr: Any, allowed: bytes) -> bool:
    """Every byte of a string array's values is one of `allowed`."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    low, high = int(offsets[0]), int(offsets[-1])
    if high == low:
        return True
    data = bytes(memoryview(arr.buffers()[2])[low:high])
    return data.isdigit() if allowed == DIGITS else not data.translate(None, allowed)


class Shifted:
    """A csv reader whose line numbers start after the lines already read."""

    def __init__(self, reader: Iterator[list[str]], before: int) -> None:
        self.reader = reader
        self.before = before

    @property
    def line_num(self) -> int:
        return self.reader.line_num + self.before  # type: ignore[attr-defined]

    def __next__(self) -> list[str]:
        return next(self.reader)


def short_micros(np: Any, pa: Any, arr: Any) -> Any:
    """The micros of a string array of digits and points whose every text is SHORT
    characters or fewer, or None. Such a text is a decimal N / 10**k with N < 10**7 and
    k <= 6: its double is within 2**-53 of it relatively, times 10**6 within 0.003 of the
    whole number of micros, which rounding gives exactly. Arrow refuses ".", "" and two
    points, as the Python parser does."""
    if len(arr) == 0 or int(text_lengths(np, arr).max()) > SHORT:
        return None
    try:
        doubles = arr.cast(pa.float64()).to_numpy()
    except pa.ArrowException:
        return None
    return np.rint(doubles * 1e6).astype(np.int64)


def blocks(raw: Any, pending: bytes, at_end: bool, size: int) -> Iterator[bytes]:
    """The file's text from `pending` on (then `raw`'s) in blocks of whole lines (the last
    may lack its line end), about `size` bytes each, each byte copied once."""
    cut = 0 if at_end else pending.rfind(b"\n") + 1
    if cut:
        yield pending[:cut]
        pending = pending[cut:]
    while not at_end:
        more = raw.read(size)
        at_end = not more
        cut = more.rfind(b"\n") + 1
        if cut == 0:  # a line longer than a block (or the end): read more
            pending += more
            continue
        yield b"".join((pending, memoryview(more)[:cut]))
        pending = more[cut:]
    if pending and getattr(raw, "failed", None) is None:  # a cut file's last line is cut too
        yield pending


class Gunzipped:
    """A gzip'd file's text, decompressed as the Python reader's text layer does it (read1
    of TEXT_CHUNK bytes at a time), so a truncated or damaged file gives out at the same
    byte; then `failed` is the error, and what was read before it is the data."""

    def __init__(self, raw: BinaryIO) -> None:
        self.gz = gzip.GzipFile(fileobj=raw, mode="rb")
        self.failed: BaseException | None = None

    def read(self, size: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        if self.failed is None:
            try:
                while got < size:
                    chunk = self.gz.read1(TEXT_CHUNK)
                    if not chunk:
                        break
                    parts.append(chunk)
                    got += len(chunk)
            except GZIP_ERRORS as exc:
                self.failed = exc
        return b"".join(parts)


def accept_rows(rows: _CsvRows, got: Any, markets: dict[str, _MarketAcc]) -> None:
    """A block's clean rows (a ``csvarrow.Bulk``: no window_start, strike or per-market
    outcome), accepted one by one."""
    import numpy as np

    n = len(got.ts)
    nothing = [None] * n
    first = got.first_line
    accept = rows.accept
    for i, (t, k, b, bs, a, as_, u, z, e, x) in enumerate(
        zip(
            got.ts.tolist(),
            objects(np, got.keys)[got.key_codes].tolist(),
            got.bid.tolist(),
            got.bid_size.tolist(),
            got.ask.tolist(),
            got.ask_size.tolist(),
            got.under or nothing,
            got.naive or repeat(False, n),
            nothing if got.end is None else got.end.tolist(),
            nothing if got.extras is None else objects(np, got.extras)[got.extra_codes].tolist(),
            strict=True,
        )
    ):
        accept(first + i, (BookTick(t, k, b, bs, a, as_, None, u), z, e, None, None, None, x), markets)


def objects(np: Any, values: list[Any]) -> Any:
    """A numpy array of these Python objects (tuples stay whole)."""
    table = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        table[i] = value
    return table


def combinations(np: Any, parts: list[tuple[list[Any], Any]], n: int) -> tuple[list[tuple[Any, ...]], Any]:
    """The distinct combinations of `parts` (each a column's distinct values and each row's
    code into them) that show in the n rows, in code order, and each row's code into them."""
    code = np.zeros(n, dtype=np.int64)
    for values, codes in parts:
        code = code * len(values) + codes
    if math.prod(len(values) for values, _ in parts) <= 4 * n + 64:
        present = np.bincount(code, minlength=1) > 0  # the combinations that show
        used, inverse = np.flatnonzero(present), (np.cumsum(present) - 1)[code]
    else:
        used, inverse = np.unique(code, return_inverse=True)
    combos = []
    for u in used.tolist():
        combo = []
        for values, _ in reversed(parts):
            u, k = divmod(u, len(values))
            combo.append(values[k])
        combos.append(tuple(reversed(combo)))
    return combos, inverse.reshape(-1)
