"""A streamed file's second pass: its events rebuilt from the spilled rows, and replayed.

``StreamedCsv.events()`` reads the spill (the rows the first pass accepted, packed; see
``formats.streaming``) and yields the events as the rows come, paired per market as
``formats.tokens`` does (both tokens' rows at one time give one tick), merged with the opens
and resolutions by time, then market order, then open/tick/resolution: the order ``load``'s
stable sort gives. Only a chunk of rows and the rows of the current time are held.

The events of the first reading are recorded, packed, to a second temporary file as they
go. A later reading (a backtest's baselines run one after the other) replays the record
instead of pairing the rows again. Processes forked from the one that streamed the file
(the baselines run beside the strategy's run) follow that record as it is written: the rows
are paired once, by the first reading, whoever reads the events (issue 13). How far the
record is written, and whether it is complete, is in a small block of memory shared with
the forked processes, created before they are.
"""

from __future__ import annotations

import heapq
import mmap
import os
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from bot.errors import BotError
from bot.feeds.formats.core import LoadReport
from bot.feeds.formats.tokens import _best, _up_view
from bot.model import BookTick, MarketEvent

CHUNK_ROWS = 4096  # rows read between two hand-overs of events
# an accepted row on the spill: time, key (market or token), bid, bid size, ask, ask size,
# underlying, has-underlying
ROW = struct.Struct("<qiqqqqd?")
# an event as handed over: open/tick/resolution (0/1/2), time, market order, then a tick's
# bid, bid size, ask, ask size, underlying, has-underlying
_EVENT = struct.Struct("<bqiqqqqd?")
# the record's progress, shared with forked readers: bytes written, state, books that disagree
_SHARED = struct.Struct("<qqq")
_IDLE, _WRITING, _DONE, _ABANDONED = 0, 1, 2, 3
FOLLOW_WAIT_S = 0.002  # a reader that caught up with the writer looks again after this


class StreamAbandoned(BotError):
    """The process pairing a streamed file's rows stopped before its events were all read,
    so a forked reader following its record cannot go on."""


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
    """A streamed file's report (complete once `events()` has ended) and its events, read
    again (CSV or Parquet: the name is the first format streamed)."""

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
    # the record written by the first reading of the process that streamed the file, and
    # its progress (shared with the processes forked from it)
    record: BinaryIO = field(default_factory=tempfile.TemporaryFile)
    progress: mmap.mmap = field(default_factory=lambda: mmap.mmap(-1, _SHARED.size))
    owner: int = field(default_factory=os.getpid)
    followed: int = 0  # readings that followed another process's record (a test's check)

    def events(self, done: Callable[[LoadReport], None] | None = None) -> Iterator[MarketEvent]:
        """The events in ``load``'s order; `done(report)` once the report is complete."""
        if self.recorded is not None:
            yield from self._replay(self.recorded)
        elif os.getpid() != self.owner and self._state()[1] in (_WRITING, _DONE):
            yield from self._follow()
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

    def _state(self) -> tuple[int, int, int]:
        return _SHARED.unpack_from(self.progress, 0)

    def _publish(self, written: int, state: int, disagree: int = 0) -> None:
        _SHARED.pack_into(self.progress, 0, written, state, disagree)

    def _merged(self) -> Iterator[MarketEvent]:
        """The events from the spilled rows, paired and merged; recorded as they go."""
        shared = os.getpid() == self.owner and self._state()[1] == _IDLE
        # a reading in a forked process that found no record to follow writes its own
        record = self.record if shared else tempfile.TemporaryFile()  # noqa: SIM115 - kept once complete
        unpack = self._unpacker()
        written = 0
        finished = False
        if shared:
            self._publish(0, _WRITING)
        try:
            for block in self._paired():
                record.write(block)
                written += len(block)
                if shared:
                    record.flush()
                    self._publish(written, _WRITING)
                yield from unpack(block)
            record.flush()
            finished = True
        finally:
            if shared and os.getpid() == self.owner:  # never from a forked copy of this reading
                self._publish(written, _DONE if finished else _ABANDONED, self.disagree)
        self.recorded = record

    def _paired(self) -> Iterator[bytes]:
        """The events, packed, a block at a time: the spill's rows paired and merged."""
        merge = _Merge(self)
        keys = self.keys
        spill = self.spill.fileno()
        offset = 0
        size = ROW.size * CHUNK_ROWS
        pack = _EVENT.pack
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
                for ts, key, bid, bid_size, ask, ask_size, under, has in ROW.iter_unpack(block)
            ]
            now = merge.take(accepted)
            done = len(block) < size
            if now is None and not done:
                continue
            out = []
            for ts, index, kind, _, event in merge.release(None if done else now):
                if kind == 1:
                    tick: BookTick = event  # type: ignore[assignment]
                    under = tick.underlying
                    has = under is not None
                    book = (tick.bid, tick.bid_size, tick.ask, tick.ask_size)
                    out.append(pack(1, ts, index, *book, under if has else 0.0, has))
                else:
                    out.append(pack(kind, ts, index, 0, 0, 0, 0, 0.0, False))
            self.disagree = merge.disagree
            if out:
                yield b"".join(out)

    def _unpacker(self) -> Callable[[bytes], Iterator[MarketEvent]]:
        """Packed events -> events (the markets' names, opens and resolutions looked up)."""
        names = list(self.order)
        opens = {index: event for _, index, event in self.opens}
        resolves = {index: event for _, index, event in self.resolves}

        def unpack(block: bytes) -> Iterator[MarketEvent]:
            for kind, ts, index, bid, bid_size, ask, ask_size, under, has in _EVENT.iter_unpack(block):
                if kind == 1:
                    under = under if has else None
                    yield BookTick(ts, names[index], bid, bid_size, ask, ask_size, None, under)
                else:
                    yield (opens if kind == 0 else resolves)[index]

        return unpack

    def _replay(self, record: BinaryIO) -> Iterator[MarketEvent]:
        """The events again, from the record of a first complete reading."""
        fd = record.fileno()
        size = _EVENT.size * CHUNK_ROWS
        unpack = self._unpacker()
        offset = 0
        while block := os.pread(fd, size, offset):
            offset += len(block)
            yield from unpack(block)

    def _follow(self) -> Iterator[MarketEvent]:
        """The events from the record another process is writing, as far as it is written."""
        fd = self.record.fileno()
        size = _EVENT.size * CHUNK_ROWS
        parent = os.getppid()
        unpack = self._unpacker()
        offset = 0
        while True:
            written, state, disagree = self._state()
            if offset < written:
                block = os.pread(fd, min(size, written - offset), offset)
                offset += len(block)
                yield from unpack(block)
                continue
            if state == _DONE:
                break
            if state != _WRITING or os.getppid() != parent:
                why = "the reading that pairs its rows stopped before their end"
                raise StreamAbandoned(f"{self.path}: {why}")
            time.sleep(FOLLOW_WAIT_S)
        self.disagree = disagree
        self.followed += 1
        self.recorded = self.record

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
