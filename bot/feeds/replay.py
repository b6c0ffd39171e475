"""Feeds around recorded data: replaying it into the engine, and recording what a live run saw.

`ReplayFeed` streams events (from a list or straight from a tape, so memory stays flat on
millions of events) in batches of equal time, the same interface the simulated feed has.
It drops what the engine must never see and counts it with the event's position: time
going backwards, a book with an empty side (bid 0 or ask 1, which a live session's tape
records). A crossed or out-of-range book never gets this far: the loaders, the tape reader
included, count it as a malformed row with its line number.

`RecordingFeed` wraps any feed and writes every event it hands out to a tape; with a live
feed's fair-value model (bot/feeds/fair_feed.py), also the model's inputs of each batch
before the batch, and each change of a market's fair-value state before the book it
applies to (bot/feeds/tape_inputs.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import islice
from operator import length_hint
from typing import TypeVar

from bot.fairvalue import FairState
from bot.feeds import Feed
from bot.feeds.tape import TapeWriter
from bot.model import ONE, BookTick, Market, MarketEvent, WindowOpened

T = TypeVar("T")

MAX_LISTED = 100
LIST_SIZE = 4096  # events per list when a plain iterable is handed on in lists


def in_lists(events: Iterable[T], size: int = LIST_SIZE) -> Iterator[list[T]]:
    """The items of `events` in lists of `size` (the last one shorter), for `ReplayFeed(chunks=...)`."""
    it = iter(events)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass
class ReplayStats:
    events: int = 0  # events handed to the engine
    dropped: int = 0
    dropped_first: list[tuple[int, str]] = field(default_factory=list)  # (event number, reason)

    def drop(self, index: int, reason: str) -> None:
        self.dropped += 1
        if len(self.dropped_first) < MAX_LISTED:
            self.dropped_first.append((index, reason))


class ReplayFeed:
    """The events of `events`, or of the lists in `chunks` (a tape's decoded chunks: one list
    after another is much cheaper than one event after another through generators), in
    batches of one timestamp: `peek_ms()` its time, `next_batch()` the batch.

    Each list is sorted into batches as it comes: the events the engine must not see are
    dropped and counted with their position in the source (`stats`); the last batch of a
    list is handed out once the next list shows it complete (its time ends there)."""

    def __init__(
        self,
        events: Iterable[MarketEvent] = (),
        on_batch: Callable[[int], None] | None = None,
        *,
        chunks: Iterable[list[MarketEvent]] | None = None,
    ) -> None:
        self.on_batch = on_batch
        self.stats = ReplayStats()
        self._chunks = iter(chunks) if chunks is not None else in_lists(events)
        self._read = 0  # events taken from the source, dropped ones included
        self._last_ts = -1  # the time of the last event kept
        # the events kept, sorted: batch k is _kept[_starts[k]:_starts[k + 1]]; the batches
        # from _k on are not handed out yet, and the last one stays open (more events of its
        # time may come) until the source ends and _starts gets its end
        self._kept: list[MarketEvent] = []
        self._starts: list[int] = []
        self._k = 0
        self._ready = 0  # batches complete
        self._peek: int | None = None
        self._fill()

    def peek_ms(self) -> int | None:
        return self._peek

    def next_batch(self) -> list[MarketEvent]:
        """The next events that share one timestamp."""
        k = self._k
        if k >= self._ready:
            return []
        if self.on_batch is not None:
            self.on_batch(self._peek)  # type: ignore[arg-type]
        starts = self._starts
        self._k = k + 1
        end = starts[k + 1]
        batch = self._kept[starts[k] : end]
        self.stats.events += len(batch)
        if k + 1 < self._ready:
            self._peek = self._kept[end].ts_ms
        else:
            self._fill()
        return batch

    def _fill(self) -> None:
        """Sort the source's lists into batches until one is complete, or the source ends."""
        k, starts = self._k, self._starts
        # the open batch (if any) starts the new list of events kept
        kept = self._kept = self._kept[starts[k] :] if k < len(starts) else []
        starts = self._starts = [0] if kept else []
        self._k = 0
        while len(starts) < 2:
            chunk = next(self._chunks, None)
            if chunk is None:  # the end: the last batch is complete
                starts.append(len(kept))
                break
            self._sort(chunk, kept, starts)
        self._ready = len(starts) - 1
        self._peek = kept[0].ts_ms if self._ready > 0 else None

    def _sort(self, chunk: list[MarketEvent], kept: list[MarketEvent], starts: list[int]) -> None:
        """Append the events of `chunk` to `kept`, noting in `starts` where each new time
        starts. What the engine must not see is dropped (`_drop`)."""
        # the loop runs once per event of a backtest: the checks inline
        last_ts, book_tick, one, append = self._last_ts, BookTick, ONE, kept.append
        events = iter(chunk)
        for event in events:
            ts = event.ts_ms
            if ts < last_ts or (type(event) is book_tick and not 0 < event.bid < event.ask < one):
                self._drop(event, len(chunk) - length_hint(events), last_ts)
                continue
            if ts != last_ts:  # a new time: a new batch
                starts.append(len(kept))
                last_ts = ts
            append(event)
        if kept and (not starts or starts[0]):  # the first events kept are at time -1
            starts.insert(0, 0)
        self._read += len(chunk)
        self._last_ts = last_ts

    def _drop(self, event: MarketEvent, position: int, last_ts: int) -> None:
        """Count an event the engine must not see; `position`: its place in the list, from 1
        (a list iterator's length hint is what is left of the list)."""
        index = self._read + position
        ts = event.ts_ms
        if ts < last_ts:
            self.stats.drop(index, f"time goes backwards ({ts} after {last_ts})")
        else:
            bad = f"bad book for {event.market_id}: bid {event.bid / ONE} ask {event.ask / ONE}"  # type: ignore[union-attr]
            self.stats.drop(index, bad)


class RecordingFeed:
    """Every event handed to the engine also goes to the tape. A write the disk refuses
    stops the recording for the rest of the session (what was flushed stays readable) and
    is handed to `on_error`; the events still go to the engine."""

    def __init__(
        self,
        feed: Feed,
        tape: TapeWriter,
        open_markets: Iterable[Market] = (),
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.feed = feed
        self.tape = tape
        self._pending_opens = list(open_markets)  # markets the engine restored: the tape needs them
        self.failed = ""
        self.on_error = on_error
        # a live fair-value feed's inputs (prices, strikes), taken after each batch
        self._drain_inputs: Callable[[], list] | None = getattr(feed, "drain_inputs", None)
        self._fair_state: dict[str, str | None] = {}  # market -> the last "fair" line written

    def peek_ms(self) -> int | None:
        return self.feed.peek_ms()

    def next_batch(self) -> list[MarketEvent]:
        batch = self.feed.next_batch()
        if self.failed:
            return batch
        try:
            if self._pending_opens and batch:
                for market in self._pending_opens:
                    self.tape.write(WindowOpened(batch[0].ts_ms, market))
                self._pending_opens = []
            if self._drain_inputs is not None:
                self._write_inputs(batch)
            else:
                for event in batch:
                    self.tape.write(event)
        except OSError as exc:
            self._fail(exc)
        return batch

    def _write_inputs(self, batch: list[MarketEvent]) -> None:
        assert self._drain_inputs is not None
        tape, states = self.tape, self._fair_state
        for line in self._drain_inputs():
            tape.write(line)
        for event in batch:
            if type(event) is BookTick and event.fair_info is not None:
                info = event.fair_info
                why = info if isinstance(info, str) else None
                if event.market_id not in states or states[event.market_id] != why:
                    states[event.market_id] = why
                    tape.write(FairState(event.ts_ms, event.market_id, why))
            tape.write(event)

    def maybe_flush(self) -> None:
        if not self.failed:
            try:
                self.tape.maybe_flush()
            except OSError as exc:
                self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.failed = f"cannot write {self.tape.path}: {exc}"
        with suppress(Exception):
            self.tape.close()
        if self.on_error is None:
            raise exc
        self.on_error(exc)

    def __getattr__(self, name: str) -> object:
        return getattr(self.feed, name)
