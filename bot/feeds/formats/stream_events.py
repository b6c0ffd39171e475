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

from bot.feeds.formats.core import LoadReport
from bot.model import ONE, BookTick, MarketEvent

_Unpack = Callable[[bytes], Iterator[MarketEvent]]
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


@dataclass(slots=True)
class _Pairing:
    """A market's two tokens' rows merged as they come (as ``tokens._combine``)."""

    market_id: str
    index: int
    last: dict[bool, tuple[Any, ...]] = field(default_factory=dict)  # each token's last row
    group_ts: int | None = None
    group: list[tuple[tuple[Any, ...], bool]] = field(default_factory=list)  # rows at one time


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
        spill = self.spill.fileno()
        offset = 0
        size = ROW.size * CHUNK_ROWS
        pack = _EVENT.pack
        done = False
        while not done:
            # pread: a forked baseline shares the file's offset with its parent and siblings
            block = os.pread(spill, size, offset)
            offset += len(block)
            now = merge.take(ROW.iter_unpack(block))
            done = len(block) < size
            if now is None and not done:
                continue
            out = [
                pack(kind, ts, index, *payload)
                if kind == 1
                else pack(kind, ts, index, 0, 0, 0, 0, 0.0, False)
                for ts, index, kind, _, payload in merge.release(None if done else now)
            ]
            self.disagree = merge.disagree
            if out:
                yield b"".join(out)

    def _unpacker(self) -> _Unpack:
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
        """The events from the record another process is writing, as far as it is written;
        if that reading stops before the end, the rest paired here."""
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
                yield from self._pair_after(offset, unpack)  # no record kept: read again, paired
                return
            time.sleep(FOLLOW_WAIT_S)
        self.disagree = disagree
        self.followed += 1
        self.recorded = self.record

    def _pair_after(
        self, skip: int, unpack: Callable[[bytes], Iterator[MarketEvent]]
    ) -> Iterator[MarketEvent]:
        """The events after the first `skip` bytes of the record, paired here."""
        for block in self._paired():
            if skip >= len(block):
                skip -= len(block)
                continue
            yield from unpack(block[skip:])
            skip = 0

    def abandon(self) -> None:
        """The reading that writes the record will not go on (its backtest stopped before the
        end of the data, or failed): the processes following it pair the rest themselves."""
        written, state, disagree = self._state()
        if os.getpid() == self.owner and state == _WRITING:
            self._publish(written, _ABANDONED, disagree)

    def replays(self, done: Callable[[LoadReport], None] | None = None) -> Replays:
        """The events, read again each time they are iterated (a backtest's baselines)."""
        return Replays(self, done)


@dataclass(slots=True)
class Replays:
    streamed: StreamedCsv
    done: Callable[[LoadReport], None] | None

    def __iter__(self) -> Iterator[MarketEvent]:
        return self.streamed.events(self.done)

    def abandon(self) -> None:
        self.streamed.abandon()


# (time, market order, 0/1/2, seq, what): a tick's (bid, bid size, ask, ask size,
# underlying, has-underlying), or an open or resolution
_Held = tuple[int, int, int, int, Any]
_KEY = itemgetter(0, 1, 2, 3)
# a spilled row: time, key, bid, bid size, ask, ask size, underlying, has-underlying
_Row = tuple[int, int, int, int, int, int, float, bool]


class _Merge:
    """The second pass's rows, paired per market, merged with the opens and resolutions."""

    def __init__(self, streamed: StreamedCsv) -> None:
        self.streamed = streamed
        order = streamed.order
        token_of = streamed.token_of
        self.pairing: list[_Pairing] | None = None
        # a spilled row's key -> its market's order (per token: and whether it is the UP token)
        self.index_of: list[Any]
        if token_of is None:
            self.index_of = [order.get(key) for key in streamed.keys]
        else:
            self.pairing = [_Pairing(market_id, index) for market_id, index in order.items()]
            self.index_of = [token_of.get(key) for key in streamed.keys]
        self.held: list[_Held] = []  # ticks not yet handed over
        self.seq = 0
        self.opens = iter(streamed.opens)
        self.resolves = iter(streamed.resolves)
        self.next_open = next(self.opens, None)
        self.next_resolve = next(self.resolves, None)
        self.disagree = 0

    def take(self, rows: Iterator[_Row]) -> int | None:
        """Hold the rows (per token: pair them); the time of the last, if any."""
        held = self.held
        pairing = self.pairing
        index_of = self.index_of
        last: int | None = None
        if pairing is None:
            seq = self.seq
            for ts, key, bid, bid_size, ask, ask_size, under, has in rows:
                seq += 1
                held.append((ts, index_of[key], 1, seq, (bid, bid_size, ask, ask_size, under, has)))
                last = ts
            self.seq = seq
            return last
        for row in rows:
            ts = row[0]
            index, is_up = index_of[row[1]]
            pair = pairing[index]
            if pair.group_ts is not None and pair.group_ts != ts:
                self.disagree += _flush(pair, held)
            pair.group_ts = ts
            pair.group.append((row, is_up))
            last = ts
        return last

    def release(self, now: int | None) -> Iterator[_Held]:
        """Every event before `now` (None: every event left), in order."""
        held = self.held
        if self.pairing is not None:
            for pair in self.pairing:
                if pair.group_ts is not None and (now is None or pair.group_ts < now):
                    self.disagree += _flush(pair, held)
        buffered = len(held) + (sum(len(p.group) for p in self.pairing) if self.pairing else 0)
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
    UP then DOWN rows gives; the books combined as ``tokens._combine`` does); 1 if the two
    books disagreed."""
    group = pair.group
    last = pair.last
    if len(group) == 1:
        row, is_up = group[0]
        last[is_up] = row
    else:
        ordered = [g for g in group if g[1]] + [g for g in group if not g[1]]
        for row, is_up in ordered:
            last[is_up] = row
        row, is_up = ordered[-1]
    ts, _, bid, bid_size, ask, ask_size, under, has = row
    if not is_up:  # the DOWN token's book seen from UP
        bid, bid_size, ask, ask_size = ONE - ask, ask_size, ONE - bid, bid_size
    disagree = 0
    if len(last) == 2:
        up, down = last[True], last[False]
        # the UP book's and the DOWN book's (seen from UP) best prices, sizes added when equal
        u_bid, u_bid_size, u_ask, u_ask_size = up[2], up[3], up[4], up[5]
        d_bid, d_bid_size, d_ask, d_ask_size = ONE - down[4], down[5], ONE - down[2], down[3]
        if u_bid > d_bid:
            b, bs = u_bid, u_bid_size
        elif u_bid < d_bid:
            b, bs = d_bid, d_bid_size
        else:
            b, bs = u_bid, u_bid_size + d_bid_size
        if u_ask < d_ask:
            a, as_ = u_ask, u_ask_size
        elif u_ask > d_ask:
            a, as_ = d_ask, d_ask_size
        else:
            a, as_ = u_ask, u_ask_size + d_ask_size
        if b >= a:
            disagree = 1  # crossed complements: the row's own book
        else:
            bid, bid_size, ask, ask_size = b, bs, a, as_
    held.append((ts, pair.index, 1, 0, (bid, bid_size, ask, ask_size, under, has)))
    group.clear()
    pair.group_ts = None
    return disagree
