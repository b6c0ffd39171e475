"""A CSV in time order, streamed: memory flat with the file's length (issue 13).

``stream_csv(path, **options)`` gives the same events, in the same order, and the same
``LoadReport`` as ``load(path, fmt="csv", **options)``, without holding the rows:

1. A first pass reads and checks every row exactly as ``load`` does (``formats.csvfile``,
   ``formats.tokens``, ``_Collector``), but keeps of each market (per token: each token)
   only its count of rows and its first and last book; it gives the report, the markets
   (in order), their ``WindowOpened`` and ``WindowResolved``. The rows it accepts are
   written, packed (53 bytes each), to a temporary file, the spill.
2. ``events()`` reads the spill (not the CSV: parsing is the cost) and yields the events as
   the rows come, paired per market as ``formats.tokens`` does (both tokens' rows at one
   time give one tick), merged with the opens and resolutions by time, then market order,
   then open/tick/resolution: the order ``load``'s stable sort gives. Only a chunk of rows
   and the rows of the current time are held. It may be called again (a backtest's
   baselines replay the same events).

The report's ``books_disagree`` (and its note) is known once the events have all been
read: ``events()`` completes the report when it ends.

A file whose accepted rows are not in time order, or that would need rows cut after a
market's window end or resolution, or rows of tokens the metadata does not know, gives
None: load it with ``load`` (read whole and sorted), as before.
"""

from __future__ import annotations

import heapq
import os
import struct
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from bot.errors import BotError
from bot.feeds.formats.core import _OPTIONS, LoadReport, _Collector, _MarketAcc
from bot.feeds.formats.csvfile import Settings, _CsvRows, finish_rows, read_rows, settings
from bot.feeds.formats.tokens import TokenSeen, _best, _up_view, pair_tokens
from bot.feeds.tape import DataError
from bot.model import BookTick, MarketEvent, Outcome, WindowOpened, WindowResolved

CHUNK_ROWS = 4096  # rows read between two hand-overs of events
# a backtest streams a CSV this long or longer (a shorter one is read whole: one pass, faster)
STREAM_MIN_BYTES = 16 << 20


class _Fallback(BotError):
    """The file cannot be streamed (see the module doc): load and sort it instead. Raised and
    caught inside this module only (`stream_csv` answers None); in the error tree like every
    exception under bot/, so if one ever escaped, `reaction()` would still answer for it."""


# an accepted row on the spill: time, key (market or token), bid, bid size, ask, ask size,
# underlying, has-underlying
_ROW = struct.Struct("<qiqqqqd?")
# an event as handed over: open/tick/resolution (0/1/2), time, market order, then a tick's
# bid, bid size, ask, ask size, underlying, has-underlying
_EVENT = struct.Struct("<bqiqqqqd?")


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
                raise _Fallback
            order.last = tick.ts_ms
            under = tick.underlying
            order.spill.write(
                _ROW.pack(
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
            raise _Fallback if self.count else IndexError(i)
        return tick

    def __iter__(self) -> Iterator[BookTick]:
        if self.silent:
            return iter(())
        raise _Fallback  # the rows themselves are needed (cut at a time): not streamable


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


@dataclass(slots=True)
class _Pairing:
    """A market's two tokens' rows merged as they come (as ``tokens._combine``)."""

    market_id: str
    index: int
    last: dict[bool, BookTick] = field(default_factory=dict)
    group_ts: int | None = None
    group: list[tuple[BookTick, bool]] = field(default_factory=list)


@dataclass(slots=True)
class StreamedCsv:
    """A CSV's report (complete once `events()` has ended) and its events, read again."""

    path: Path
    options: Mapping[str, Any]
    report: LoadReport
    opens: list[tuple[int, int, MarketEvent]]  # (time, market order, event), sorted
    resolves: list[tuple[int, int, MarketEvent]]
    order: dict[str, int]  # market id -> its order
    token_of: dict[str, tuple[int, bool]] | None  # rows per token: token -> (market, is UP)
    note_at: int  # where the note on books that disagree goes in report.notes
    spill: BinaryIO  # the accepted rows, as the first pass found them (a temporary file)
    keys: list[str]  # a spilled row's key -> market (per token: token) id
    peak_buffered: int = 0  # the most rows held at once by `events()` (a test's check)
    complete: bool = False  # `events()` has ended once: the report is complete
    recorded: BinaryIO | None = None  # the events of the first complete reading, packed
    disagree: int = 0  # rows whose two tokens' books disagree (known once read)

    def events(self, done: Callable[[LoadReport], None] | None = None) -> Iterator[MarketEvent]:
        """The events in ``load``'s order; `done(report)` once the report is complete."""
        if self.recorded is not None:
            yield from self._replay(self.recorded)
        else:
            yield from self._merged()
        report = self.report
        if not self.complete and self.disagree:
            report.notes.insert(
                self.note_at,
                f"{self.disagree} row(s) where the two tokens' books disagree (crossed"
                " complements: UP ask + DOWN ask < 1 or UP bid + DOWN bid > 1); the row's own book was used",
            )
        report.books_disagree = self.disagree
        self.complete = True
        if done is not None:
            done(report)

    def _merged(self) -> Iterator[MarketEvent]:
        """The events from the spilled rows, paired and merged; recorded as they go."""
        merge = _Merge(self)
        keys = self.keys
        spill = self.spill.fileno()
        offset = 0
        record = tempfile.TemporaryFile()  # noqa: SIM115 - kept by the StreamedCsv once complete
        size = _ROW.size * CHUNK_ROWS
        done = False
        while not done:
            # pread: a forked baseline shares the file's offset with its parent and siblings
            block = os.pread(spill, size, offset)
            offset += len(block)
            accepted = [
                (
                    keys[key],
                    BookTick(ts, keys[key], bid, bid_size, ask, ask_size, None, under if has else None),
                )
                for ts, key, bid, bid_size, ask, ask_size, under, has in _ROW.iter_unpack(block)
            ]
            now = merge.take(accepted)
            done = len(block) < size
            if now is None and not done:
                continue
            for ts, index, kind, _, event in merge.release(None if done else now):
                if kind == 1:
                    tick: BookTick = event  # type: ignore[assignment]
                    under = tick.underlying
                    has = under is not None
                    packed = (tick.bid, tick.bid_size, tick.ask, tick.ask_size, under if has else 0.0, has)
                    record.write(_EVENT.pack(kind, ts, index, *packed))
                else:
                    record.write(_EVENT.pack(kind, ts, index, 0, 0, 0, 0, 0.0, False))
                yield event
        record.flush()
        self.disagree = merge.disagree
        self.recorded = record

    def _replay(self, record: BinaryIO) -> Iterator[MarketEvent]:
        """The events again, from the record of a first complete reading."""
        names = list(self.order)
        opens = {index: event for _, index, event in self.opens}
        resolves = {index: event for _, index, event in self.resolves}
        fd = record.fileno()
        size = _EVENT.size * CHUNK_ROWS
        offset = 0
        while block := os.pread(fd, size, offset):
            offset += len(block)
            for kind, ts, index, bid, bid_size, ask, ask_size, under, has in _EVENT.iter_unpack(block):
                if kind == 1:
                    yield BookTick(
                        ts, names[index], bid, bid_size, ask, ask_size, None, under if has else None
                    )
                else:
                    yield (opens if kind == 0 else resolves)[index]

    def replays(self, done: Callable[[LoadReport], None] | None = None) -> Replays:
        """The events, read again each time they are iterated (a backtest's baselines)."""
        return Replays(self, done)


@dataclass(slots=True)
class Replays:
    streamed: StreamedCsv
    done: Callable[[LoadReport], None] | None

    def __iter__(self) -> Iterator[MarketEvent]:
        return self.streamed.events(self.done)


_Held = tuple[int, int, int, int, MarketEvent]  # (time, market order, 0/1/2, seq, event)
_KEY = itemgetter(0, 1, 2, 3)


class _Merge:
    """The second pass's rows, paired per market, merged with the opens and resolutions."""

    def __init__(self, streamed: StreamedCsv) -> None:
        self.streamed = streamed
        self.order = streamed.order
        self.token_of = streamed.token_of
        self.pairing: dict[int, _Pairing] | None = None
        if self.token_of is not None:
            self.pairing = {index: _Pairing(market_id, index) for market_id, index in self.order.items()}
        self.held: list[_Held] = []  # ticks not yet handed over
        self.seq = 0
        self.opens = iter(streamed.opens)
        self.resolves = iter(streamed.resolves)
        self.next_open = next(self.opens, None)
        self.next_resolve = next(self.resolves, None)
        self.disagree = 0

    def take(self, accepted: list[tuple[str, BookTick]]) -> int | None:
        """Hold the rows accepted (per token: pair them); the time of the last, if any."""
        held = self.held
        pairing = self.pairing
        for key, tick in accepted:
            self.seq += 1
            if pairing is None:
                held.append((tick.ts_ms, self.order[key], 1, self.seq, tick))
                continue
            assert self.token_of is not None
            index, is_up = self.token_of[key]
            pair = pairing[index]
            if pair.group_ts is not None and pair.group_ts != tick.ts_ms:
                self.disagree += _flush(pair, held)
            pair.group_ts = tick.ts_ms
            pair.group.append((tick, is_up))
        return accepted[-1][1].ts_ms if accepted else None

    def release(self, now: int | None) -> Iterator[_Held]:
        """Every event before `now` (None: every event left), in order."""
        held = self.held
        if self.pairing is not None:
            for pair in self.pairing.values():
                if pair.group_ts is not None and (now is None or pair.group_ts < now):
                    self.disagree += _flush(pair, held)
        buffered = len(held) + (sum(len(p.group) for p in self.pairing.values()) if self.pairing else 0)
        self.streamed.peak_buffered = max(self.streamed.peak_buffered, buffered)
        held.sort(key=_KEY)
        cut = len(held)
        if now is not None:
            cut = next((i for i, item in enumerate(held) if item[0] >= now), len(held))
        ready = held[:cut]
        del held[:cut]
        out: list[_Held] = []
        while self.next_open is not None and (now is None or self.next_open[0] < now):
            ts, index, event = self.next_open
            out.append((ts, index, 0, 0, event))
            self.next_open = next(self.opens, None)
        while self.next_resolve is not None and (now is None or self.next_resolve[0] < now):
            ts, index, event = self.next_resolve
            out.append((ts, index, 2, 0, event))
            self.next_resolve = next(self.resolves, None)
        if not out:
            yield from ready
            return
        out.sort(key=_KEY)
        yield from heapq.merge(out, ready, key=_KEY)


def _flush(pair: _Pairing, held: list[_Held]) -> int:
    """The market's tick after its rows at one time (UP rows first, as ``heapq.merge`` of the
    UP then DOWN rows gives); 1 if the two books disagreed."""
    group = pair.group
    ordered = [row for row in group if row[1]] + [row for row in group if not row[1]]
    last = pair.last
    for tick, is_up in ordered:
        last[is_up] = tick
    tick, is_up = ordered[-1]
    own = _up_view(tick, is_up)
    disagree = 0
    if len(last) < 2:
        book = own
    else:
        book = _best(last[True], _up_view(last[False], False))
        if book[0] >= book[2]:
            disagree = 1
            book = own
    bid, bid_size, ask, ask_size = book
    out = BookTick(tick.ts_ms, pair.market_id, bid, bid_size, ask, ask_size, None, tick.underlying)
    held.append((tick.ts_ms, pair.index, 1, 0, out))
    group.clear()
    pair.group_ts = None
    return disagree


def stream_csv(path: Path | str, **options: Any) -> StreamedCsv | None:
    """The first pass over a CSV (see the module doc); None if it must be loaded whole.
    DataError as ``load`` raises it."""
    path = Path(path)
    unknown = sorted(set(options) - _OPTIONS["csv"])
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS["csv"]))
        raise DataError(f"{path}: unknown option(s) {', '.join(unknown)} for csv; expected {allowed}")
    strict = options.get("strict", False)
    if not isinstance(strict, bool):
        raise DataError(f"{path}: option strict={strict!r}: expected True or False")
    spill = tempfile.TemporaryFile()  # noqa: SIM115 - kept open by the StreamedCsv, closed with it
    try:
        return _first_pass(path, options, spill)
    except BaseException as exc:
        spill.close()  # not streamed: its rows on disk are let go now
        if isinstance(exc, _Fallback):
            return None
        raise


def _first_pass(path: Path, options: Mapping[str, Any], spill: BinaryIO) -> StreamedCsv:
    strict = options.get("strict", False)
    col = _Collector(path, "csv", bool(strict))
    report = col.report
    setup = settings(path, col, options)
    order = _Order(spill)
    markets = _TailMarkets(order)
    rows = read_rows(path, col, setup, markets)
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
            raise _Fallback  # rows after the resolution would be cut
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
