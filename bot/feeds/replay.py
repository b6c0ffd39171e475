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

from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field

from bot.fairvalue import FairState
from bot.feeds import Feed
from bot.feeds.tape import TapeWriter
from bot.model import ONE, BookTick, Market, MarketEvent, WindowOpened

MAX_LISTED = 100


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
    def __init__(
        self,
        events: Iterable[MarketEvent],
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.on_batch = on_batch
        self.stats = ReplayStats()
        self._events = iter(events)
        self._read = 0  # events taken from the source, dropped ones included
        self._last_ts = -1  # the time of the last event kept
        self._next: MarketEvent | None = None
        for event in self._events:
            self._read += 1
            if self._usable(event):
                self._next = event
                self._last_ts = event.ts_ms
                break

    def _usable(self, event: MarketEvent) -> bool:
        """The engine may see it; if not, it is counted with its position."""
        ts, last_ts = event.ts_ms, self._last_ts
        if ts < last_ts:
            self.stats.drop(self._read, f"time goes backwards ({ts} after {last_ts})")
            return False
        if type(event) is BookTick and not 0 < event.bid < event.ask < ONE:
            bad = f"bad book for {event.market_id}: bid {event.bid / ONE} ask {event.ask / ONE}"
            self.stats.drop(self._read, bad)
            return False
        return True

    def peek_ms(self) -> int | None:
        return None if self._next is None else self._next.ts_ms

    def next_batch(self) -> list[MarketEvent]:
        """The next events that share one timestamp."""
        first = self._next
        if first is None:
            return []
        if self.on_batch is not None:
            self.on_batch(first.ts_ms)
        batch = [first]
        ts = first.ts_ms
        self._next = None
        # `_usable`, inline for the events that pass it: this loop runs once per event
        read, last_ts, book_tick = self._read, self._last_ts, BookTick
        for event in self._events:
            read += 1
            event_ts = event.ts_ms
            if event_ts < last_ts or (type(event) is book_tick and not 0 < event.bid < event.ask < ONE):
                self._read, self._last_ts = read, last_ts
                self._usable(event)  # counts it
                continue
            last_ts = event_ts
            if event_ts != ts:
                self._next = event
                break
            batch.append(event)
        self._read, self._last_ts = read, last_ts
        self.stats.events += len(batch)
        return batch


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
