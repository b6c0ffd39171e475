"""A CSV or Parquet file in time order, streamed: memory flat with its length (issue 13).

``stream_file(path, fmt, **options)`` (``stream_csv(path, **options)`` for a CSV) gives
the same events, in the same order, and the same ``LoadReport`` as ``load(path, fmt=fmt,
**options)``, without holding the rows:

1. A first pass reads and checks every row exactly as ``load`` does (``formats.csvfile``;
   Parquet: ``formats.parquet``'s row path, a batch of rows at a time, never its whole-table
   columnar path; ``formats.tokens``, ``_Collector``), but keeps of each market (per token:
   each token) only its count of rows and its first and last book; it gives the report,
   the markets (in order), their ``WindowOpened`` and ``WindowResolved``. The rows it
   accepts are written, packed (53 bytes each), to a temporary file, the spill.
2. ``events()`` (``formats.stream_events``) reads the spill (not the file: parsing is the
   cost), pairs and merges the rows into events in ``load``'s order, and records them for
   the readings after it (a backtest's baselines).

The report's ``books_disagree`` (and its note) is known once the events have all been
read: ``events()`` completes the report when it ends.

A file whose accepted rows are not in time order, or that would need rows cut after a
market's window end or resolution, or rows of tokens the metadata does not know, is not
streamed: ``stream_file`` says why (a clause for the summary), ``stream_csv`` gives None;
load it with ``load`` (read whole and sorted), as before.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from bot.errors import BotError
from bot.feeds.formats.columnar import tick_of_prices
from bot.feeds.formats.core import _OPTIONS, _Collector, _MarketAcc
from bot.feeds.formats.csvarrow import Bulk, read_csv_rows
from bot.feeds.formats.csvfile import Settings, _CsvRows, finish_rows, settings
from bot.feeds.formats.stream_events import CHUNK_ROWS, ROW, StreamedCsv
from bot.feeds.formats.tokens import TokenSeen, note_token, pair_tokens
from bot.feeds.tape import DataError
from bot.model import BookTick, MarketEvent, Outcome, WindowOpened, WindowResolved, iso

__all__ = ["CHUNK_ROWS", "STREAMED_FORMATS", "STREAM_MIN_BYTES", "StreamedCsv", "stream_csv", "stream_file"]

# a backtest streams a file this long or longer (a shorter one is read whole: one pass,
# faster); `bot backtest --option stream_min_mb=N` sets it for one run
STREAM_MIN_BYTES = 16 << 20
STREAMED_FORMATS = ("csv", "parquet")
PARQUET_BATCH_ROWS = 1 << 16  # rows of a Parquet file converted at a time while streaming
# a Parquet file's length, for the threshold, is its rows times this: a CSV row of these
# columns (Parquet compresses ~20x, its bytes say little of what loading it takes)
PARQUET_ROW_BYTES = 200


def stream_size(path: Path, fmt: str) -> int:
    """The file's length against STREAM_MIN_BYTES: a CSV's bytes; a Parquet file's rows
    times PARQUET_ROW_BYTES (0 when its footer cannot be read: loading it says why)."""
    if fmt != "parquet":
        return path.stat().st_size
    try:
        import pyarrow.parquet as pq

        from bot.safefile import open_regular  # never blocks on a FIFO

        with open_regular(path) as raw:
            return int(pq.ParquetFile(raw).metadata.num_rows) * PARQUET_ROW_BYTES
    except Exception:  # no pyarrow, not Parquet, not a file: `load` gives the one-line reason
        return 0


_NEVER = 1 << 62  # a time after every row's
_CUT = "some markets' rows must be cut at their window end or resolution, which needs them whole"


class _Fallback(BotError):
    """The file cannot be streamed (see the module doc): load and sort it instead. Raised and
    caught inside this module only (`stream_csv` answers None); in the error tree like every
    exception under bot/, so if one ever escaped, `reaction()` would still answer for it."""


@dataclass(slots=True)
class _Order:
    """The first pass's accepted rows: in time order so far, and spilled to a file."""

    spill: BinaryIO
    last: int = -(1 << 62)  # the time of the last accepted row
    keys: list[str] = field(default_factory=list)  # market (per token: token) ids


class _Tail:
    """A market's (or token's) accepted rows in the first pass: counted, not kept."""

    __slots__ = ("count", "first", "key", "last", "order", "silent")

    def __init__(self, order: _Order | None, key: int = 0) -> None:
        self.order = order
        self.key = key
        self.count = 0
        self.first: BookTick | None = None
        self.last: BookTick | None = None
        self.silent = False  # iterating gives nothing (the events come in the second pass)

    def append(self, tick: BookTick) -> None:
        order = self.order
        if order is not None:
            if tick.ts_ms < order.last:
                at, before = iso(tick.ts_ms), iso(order.last)
                raise _Fallback(f"its rows are not in time order (a row at {at} after one at {before})")
            order.last = tick.ts_ms
            under = tick.underlying
            order.spill.write(
                ROW.pack(
                    tick.ts_ms,
                    self.key,
                    tick.bid,
                    tick.bid_size,
                    tick.ask,
                    tick.ask_size,
                    0.0 if under is None else under,
                    under is not None,
                )
            )
        if self.first is None:
            self.first = tick
        self.last = tick
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> BookTick:
        tick = self.first if i == 0 else self.last if i == -1 else None
        if tick is None:
            raise _Fallback(_CUT) if self.count else IndexError(i)
        return tick

    def __iter__(self) -> Iterator[BookTick]:
        if self.silent:
            return iter(())
        raise _Fallback(_CUT)  # the rows themselves are needed (cut at a time): not streamable


class _TailMarkets(dict[str, _MarketAcc]):
    """Markets (per token: tokens) whose rows are counted, not kept."""

    def __init__(self, order: _Order) -> None:
        super().__init__()
        self.order = order

    def __setitem__(self, key: str, acc: _MarketAcc) -> None:
        keys = self.order.keys
        acc.ticks = _Tail(self.order, len(keys))  # type: ignore[assignment]
        keys.append(key)
        super().__setitem__(key, acc)

    def take(self, rows: _CsvRows, got: Bulk) -> bool:  # noqa: C901 - _CsvRows.accept over a block, step by step
        """A block's clean rows accepted at once (a ``csvarrow.BulkAccept``): when they are in
        time order from the last row accepted, of printable keys, each key with one window
        end and token values that agree; else False, nothing changed."""
        import numpy as np

        order = self.order
        ts, codes, n = got.ts, got.key_codes, len(got.ts)
        if ts[0] < order.last or (n > 1 and bool((ts[1:] < ts[:-1]).any())):
            return False  # out of order: row by row, to say where
        keys = got.keys
        present = np.bincount(codes, minlength=len(keys)) > 0
        first_row = np.full(len(keys), n, dtype=np.int64)
        np.minimum.at(first_row, codes, np.arange(n))
        ends: list[int | None] = [rows.template.window_end] * len(keys)
        if got.end is not None:
            low = np.full(len(keys), 1 << 62, dtype=np.int64)
            high = np.zeros(len(keys), dtype=np.int64)
            np.minimum.at(low, codes, got.end)
            np.maximum.at(high, codes, got.end)
            if bool((present & (low != high)).any()):
                return False
            ends = [int(v) for v in low.tolist()]
        used = [k for k in np.argsort(first_row, kind="stable").tolist() if present[k]]
        tokens = rows.tokens
        notes: list[tuple[int, int]] = []  # (key, extra) pairs in the order they first show
        if tokens is not None:
            assert got.extras is not None
            pairs = codes * len(got.extras) + got.extra_codes
            at = np.full(len(keys) * len(got.extras), n, dtype=np.int64)
            np.minimum.at(at, pairs, np.arange(n))  # each pair's first row
            shown = np.flatnonzero(at < n)
            notes = [divmod(p, len(got.extras)) for p in shown[np.argsort(at[shown], kind="stable")].tolist()]
            trial: dict[str, TokenSeen] = {}
            for k, x in notes:
                token = keys[k]
                if token not in trial:
                    seen = tokens.get(token)
                    if seen is None:
                        market, side, verdict = got.extras[x]
                        trial[token] = TokenSeen(market, side, verdict, 0)
                        continue
                    trial[token] = replace(seen)
                if note_token(trial, token, got.extras[x], 0):
                    return False
        for k in used:
            acc = self.get(keys[k])
            if acc is None:
                if not keys[k].isprintable():
                    return False
            elif got.end is not None and acc.window_end is not None and acc.window_end != ends[k]:
                return False
        # every row passes: the same steps as accept, a key at a time
        first_line = got.first_line
        for k, x in notes:
            note_token(tokens, keys[k], got.extras[x], first_line + int(first_row[k]))  # type: ignore[arg-type,index]
        template = rows.template
        end_of = np.full(len(keys), _NEVER, dtype=np.int64)  # a key's window end (or never)
        for k in used:
            key = keys[k]
            acc = self.get(key)
            if acc is None:
                acc = self[key] = _MarketAcc(key, window_end=template.window_end, outcome=template.outcome)
            if got.end is not None:
                acc.window_end = ends[k]
            if acc.window_end is not None:
                end_of[k] = acc.window_end
        cut = ts >= end_of[codes]
        col = rows.col
        if cut.any():
            col.report.ignored["row at or after window end"] = col.report.ignored.get(
                "row at or after window end", 0
            ) + int(cut.sum())
        kept = np.flatnonzero(~cut)
        if got.naive is not None:
            col.naive_times += sum(got.naive[i] for i in kept.tolist())
        if not len(kept):
            return True
        spill_keys = np.array(
            [self[key].ticks.key if present[k] else 0 for k, key in enumerate(keys)],  # type: ignore[attr-defined]
            dtype=np.int32,
        )
        under = got.under
        table = np.zeros(len(kept), dtype=_ROW_DTYPE)
        kc = codes[kept]
        table["ts"] = ts[kept]
        table["key"] = spill_keys[kc]
        table["bid"] = got.bid[kept]
        table["bid_size"] = got.bid_size[kept]
        table["ask"] = got.ask[kept]
        table["ask_size"] = got.ask_size[kept]
        if under is not None:
            values = [under[i] for i in kept.tolist()]
            table["under"] = [0.0 if v is None else v for v in values]
            table["has_under"] = [v is not None for v in values]
        order.spill.write(table.tobytes())
        order.last = int(ts[kept[-1]])
        counts = np.bincount(kc, minlength=len(keys))
        last_row = np.full(len(keys), -1, dtype=np.int64)
        np.maximum.at(last_row, kc, kept)
        first_kept = np.full(len(keys), n, dtype=np.int64)
        np.minimum.at(first_kept, kc, kept)
        fine = np.minimum(tick_of_prices(got.bid[kept], np), tick_of_prices(got.ask[kept], np))
        finest = np.full(len(keys), 10_000, dtype=np.int64)
        np.minimum.at(finest, kc, fine)
        for k in np.flatnonzero(counts).tolist():
            acc = self[keys[k]]
            tail: _Tail = acc.ticks  # type: ignore[assignment]
            if tail.first is None:
                tail.first = _tick(got, int(first_kept[k]), keys[k])
            tail.last = _tick(got, int(last_row[k]), keys[k])
            tail.count += int(counts[k])
            acc.last_ts = tail.last.ts_ms
            acc.tick_seen = min(acc.tick_seen, int(finest[k]))
        return True


_ROW_DTYPE = [
    ("ts", "<i8"),
    ("key", "<i4"),
    ("bid", "<i8"),
    ("bid_size", "<i8"),
    ("ask", "<i8"),
    ("ask_size", "<i8"),
    ("under", "<f8"),
    ("has_under", "?"),
]  # ROW's layout (struct "<qiqqqqd?": packed, little-endian)


def _tick(got: Bulk, i: int, key: str) -> BookTick:
    under = None if got.under is None else got.under[i]
    return BookTick(
        int(got.ts[i]),
        key,
        int(got.bid[i]),
        int(got.bid_size[i]),
        int(got.ask[i]),
        int(got.ask_size[i]),
        None,
        under,
    )


def _count_combine(col: _Collector, acc: _MarketAcc, up: _MarketAcc | None, down: _MarketAcc | None) -> None:
    """The first pass's stand-in for ``tokens._combine``: the market's rows, counted."""
    tail = _Tail(None)
    for token_acc in (up, down):
        if token_acc is None or not token_acc.ticks:
            continue
        part: _Tail = token_acc.ticks  # type: ignore[assignment]
        assert part.first is not None
        assert part.last is not None
        tail.count += part.count
        if tail.first is None or part.first.ts_ms < tail.first.ts_ms:
            tail.first = part.first
        if tail.last is None or part.last.ts_ms > tail.last.ts_ms:
            tail.last = part.last
    acc.ticks = tail  # type: ignore[assignment]


def stream_csv(path: Path | str, **options: Any) -> StreamedCsv | None:
    """The first pass over a CSV (see the module doc); None if it must be loaded whole.
    DataError as ``load`` raises it."""
    streamed = stream_file(path, "csv", **options)
    return streamed if isinstance(streamed, StreamedCsv) else None


def stream_file(path: Path | str, fmt: str, **options: Any) -> StreamedCsv | str:
    """The first pass over a CSV or Parquet file (see the module doc); if it must be loaded
    whole instead, why (a clause: "its rows are not in time order ..."). DataError as
    ``load`` raises it."""
    path = Path(path)
    unknown = sorted(set(options) - _OPTIONS[fmt])
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS[fmt]))
        raise DataError(f"{path}: unknown option(s) {', '.join(unknown)} for {fmt}; expected {allowed}")
    strict = options.get("strict", False)
    if not isinstance(strict, bool):
        raise DataError(f"{path}: option strict={strict!r}: expected True or False")
    spill = tempfile.TemporaryFile()  # noqa: SIM115 - kept open by the StreamedCsv, closed with it
    try:
        return _first_pass(path, fmt, options, spill)
    except BaseException as exc:
        spill.close()  # not streamed: its rows on disk are let go now
        if isinstance(exc, _Fallback):
            return str(exc)
        raise


def _first_pass(path: Path, fmt: str, options: Mapping[str, Any], spill: BinaryIO) -> StreamedCsv:
    strict = options.get("strict", False)
    col = _Collector(path, fmt, bool(strict))
    report = col.report
    setup = settings(path, col, options)
    order = _Order(spill)
    markets = _TailMarkets(order)
    rows: _CsvRows | None
    if fmt == "parquet":
        from bot.feeds.formats.parquet import read_parquet_rows

        rows, _ = read_parquet_rows(
            path, col, setup, markets, whole=False, batch_rows=PARQUET_BATCH_ROWS, bulk=markets.take
        )
    else:
        rows = read_csv_rows(path, col, setup, markets, markets.take)
    token_of = None
    if rows is not None and rows.tokens is not None:
        token_of = _token_sides(rows.tokens, setup)
    paired = _pair(col, rows, markets, setup)
    note_at = len(report.notes)
    spill.flush()
    return _plan(path, options, col, paired, token_of, note_at, order)


def _pair(
    col: _Collector, rows: _CsvRows | None, markets: dict[str, _MarketAcc], setup: Settings
) -> dict[str, _MarketAcc]:
    if rows is not None and rows.tokens is not None:
        by_token = markets
        markets = pair_tokens(
            col,
            by_token,
            rows.tokens,
            setup.meta,
            setup.names["outcome"],
            setup.const_outcome,
            _count_combine,
        )
        rows.tokens = None  # paired: finish_rows only drops the markets without rows
    return finish_rows(col, rows, markets, setup)


def _token_sides(tokens: dict[str, TokenSeen], setup: Settings) -> dict[str, tuple[str, bool]]:
    """token -> (market id, is UP), as ``tokens.pair_tokens`` pairs them."""
    out = {}
    meta = setup.meta
    for token, seen in tokens.items():
        info = meta.tokens.get(token) if meta is not None else None
        market = info.market_id if info is not None else seen.market
        side = info.side if info is not None else seen.side
        if market is not None and side is not None:
            out[token] = (market, side is Outcome.UP)
    return out


def _plan(
    path: Path,
    options: Mapping[str, Any],
    col: _Collector,
    markets: dict[str, _MarketAcc],
    token_sides: dict[str, tuple[str, bool]] | None,
    note_at: int,
    spilled: _Order,
) -> StreamedCsv:
    """``_Collector.finish`` without the rows: the report, the opens and the resolutions."""
    report = col.report
    if col.naive_times:
        report.notes.append(f"{col.naive_times} time(s) without a time zone read as UTC")
    opens: list[tuple[int, int, MarketEvent]] = []
    resolves: list[tuple[int, int, MarketEvent]] = []
    order: dict[str, int] = {}
    last_ts: int | None = None
    for acc in markets.values():
        tail: _Tail = acc.ticks  # type: ignore[assignment]
        resolution = acc.resolved
        if resolution is None and (acc.outcome is not None or acc.split) and not acc.outcome_conflict:
            assert acc.window_end is not None
            resolution = WindowResolved(acc.window_end, acc.market_id, acc.outcome)
        if resolution is not None and tail.count and tail[-1].ts_ms > resolution.ts_ms:
            raise _Fallback(_CUT)  # rows after the resolution would be cut
        tail.silent = True
        out: list[MarketEvent] = []
        if not col._assemble(acc, out):
            continue
        report.markets.append(acc.market_id)
        index = order[acc.market_id] = len(order)
        opened = out[0]
        assert isinstance(opened, WindowOpened)
        opens.append((opened.ts_ms, index, opened))
        end = tail[-1].ts_ms if tail.count else opened.ts_ms
        if len(out) > 1:
            resolves.append((out[-1].ts_ms, index, out[-1]))
            end = max(end, out[-1].ts_ms)
        last_ts = end if last_ts is None else max(last_ts, end)
    if not any(len(acc.ticks) for acc in markets.values() if acc.market_id in order):
        raise DataError(col._nothing_usable())
    report.malformed.sort(key=itemgetter(0))
    opens.sort(key=itemgetter(0, 1))
    resolves.sort(key=itemgetter(0, 1))
    report.first_ts = opens[0][0]
    report.last_ts = last_ts
    token_of = None
    if token_sides is not None:
        token_of = {
            token: (order[market], up) for token, (market, up) in token_sides.items() if market in order
        }
    return StreamedCsv(
        path, dict(options), report, opens, resolves, order, token_of, note_at, spilled.spill, spilled.keys
    )
