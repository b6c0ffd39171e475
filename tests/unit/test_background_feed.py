"""BackgroundFeed: batches read on a thread, handed over whole, stamped when taken."""

from __future__ import annotations

import threading

from bot.feeds.background import BackgroundFeed
from bot.model import BookTick, Market, MarketEvent, Outcome, WindowOpened, WindowResolved, now_ms
from tests.support import eventually

MARKET = Market("m1", "BTC", "m1", 0, 10**13)


class SlowFeed:
    """Two batches, the second only once `release` is set (a book read that hangs)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batches: list[list[MarketEvent]] = [
            [WindowOpened(1, MARKET), BookTick(1, "m1", 450_000, 5, 470_000, 5)],
            [WindowResolved(2, "m1", Outcome.UP)],
        ]

    def peek_ms(self) -> int | None:
        return now_ms() if self.batches else None

    def next_batch(self) -> list[MarketEvent]:
        if len(self.batches) == 1:
            self.release.wait(10)
        return self.batches.pop(0)


def test_batches_arrive_whole_wake_the_engine_and_carry_the_time_they_were_taken() -> None:
    inner = SlowFeed()
    wakes: list[int] = []
    clock = iter(range(1000, 10**6, 1000))
    feed = BackgroundFeed(inner, lambda: wakes.append(1), lambda: next(clock))
    feed.start()
    try:
        eventually(lambda: wakes)
        first = feed.next_batch()
        assert [type(e) for e in first] == [WindowOpened, BookTick]
        taken = first[0].ts_ms
        assert all(e.ts_ms == taken for e in first)
        assert taken >= 1000
        # the second read hangs: the engine is not held, it is told to look again later
        assert feed.next_batch() == []
        assert feed.peek_ms() is not None
        inner.release.set()
        eventually(lambda: len(wakes) >= 2)
        [resolved] = eventually(lambda: feed.next_batch())
        assert isinstance(resolved, WindowResolved)
        assert resolved.ts_ms > taken
        eventually(lambda: feed.peek_ms() is None)  # the inner feed has ended
    finally:
        inner.release.set()
        feed.stop()
