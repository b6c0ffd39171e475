"""A feed read on its own thread, so that a slow venue never stalls the engine.

`BackgroundFeed(inner, wake, clock)` runs `inner.next_batch()` on a daemon thread whenever
`inner.peek_ms()` is due and hands each finished batch to the engine through a queue; every
batch wakes the engine's inbox (`wake()`), so the engine waits for nothing but its inbox.
While a book read takes seconds, the engine goes on applying controls and writing its
heartbeats; it only ever sees complete batches.

The engine stays the single owner of trading state: the thread touches nothing but the
inner feed (its HTTP reads and its own bookkeeping) and the queue. A batch is stamped with
the engine's clock when the engine takes it (`next_batch`), because that is when the bot
learns of it: activity timestamps then follow the order in which things happened to the
bot, whatever the venue's latency. Used for the polled live feeds (DRY_RUN and LIVE);
PAPER and BACKTEST keep their synchronous feeds.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable

from bot.feeds import Feed
from bot.model import BookTick, MarketEvent, now_ms

log = logging.getLogger(__name__)

IDLE_MS = 1_000  # how far ahead `peek_ms` looks while no batch is waiting


class BackgroundFeed:
    def __init__(self, inner: Feed, wake: Callable[[], None], clock: Callable[[], int]) -> None:
        self.inner = inner
        self._wake = wake
        self._clock = clock
        self._ready: queue.SimpleQueue[list[MarketEvent]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._finished = threading.Event()  # the inner feed has no more data
        self._thread = threading.Thread(target=self._run, name="feed", daemon=True)
        self.batches = 0  # batches read (the thread's count; for tests and status)

    def start(self) -> BackgroundFeed:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 1.0) -> None:
        """Ask the thread to stop; a read in flight is left to finish on its own (daemon)."""
        self._stop.set()
        self._thread.join(timeout_s)

    # -- the feed interface (engine thread) -------------------------------------------

    def peek_ms(self) -> int | None:
        now = self._clock()
        if not self._ready.empty():
            return now
        if self._finished.is_set() and self._ready.empty():
            return None
        return now + IDLE_MS  # the thread wakes the engine when a batch lands

    def next_batch(self) -> list[MarketEvent]:
        try:
            batch = self._ready.get_nowait()
        except queue.Empty:
            return []
        now = self._clock()
        return [_stamped(event, now) for event in batch]

    def __getattr__(self, name: str) -> object:  # last_update_ms, markets: the inner feed's
        return getattr(self.inner, name)

    # -- the reading thread -------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            due = self.inner.peek_ms()
            if due is None:
                self._finished.set()
                self._wake()
                return
            wait_s = (due - now_ms()) / 1000  # the polled feeds schedule on the wall clock
            if wait_s > 0 and self._stop.wait(wait_s):
                return
            try:
                batch = self.inner.next_batch()
            except Exception:  # the inner feed survives failed reads; this is a last resort
                log.exception("feed thread: reading the next batch failed")
                self._stop.wait(1.0)
                continue
            self.batches += 1
            if batch:
                self._ready.put(batch)
                self._wake()


def _stamped(event: MarketEvent, now: int) -> MarketEvent:
    if type(event) is BookTick:
        event.ts_ms = now
        return event
    return dataclasses.replace(event, ts_ms=now)
