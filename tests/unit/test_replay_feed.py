"""ReplayFeed: batches of one timestamp, what the engine must not see dropped and counted with
its position, the same whether the events come one by one or in lists cut anywhere (a
tape's chunks: a list may end inside a batch)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds.replay import ReplayFeed, in_lists
from bot.model import ONE, BookTick, Market, MarketEvent, Outcome, WindowOpened, WindowResolved

MARKET = Market("m", "BTC", "m", 0, 10_000, 1.0, 10_000, 1, 0, 1)


@st.composite
def events(draw: Any) -> MarketEvent:
    ts = draw(st.integers(-2, 8))
    kind = draw(st.sampled_from(["book", "book", "book", "open", "resolve"]))
    if kind == "open":
        return WindowOpened(ts, MARKET)
    if kind == "resolve":
        return WindowResolved(ts, "m", Outcome.UP, None)
    bid = draw(st.sampled_from([0, 1, 400_000, ONE - 1]))
    ask = draw(st.sampled_from([1, 410_000, ONE - 1, ONE]))
    return BookTick(ts, "m", bid, 1, ask, 1)


def expected(source: list[MarketEvent]) -> tuple[list[list[MarketEvent]], list[tuple[int, str]]]:
    """The batches and the drops, as the feed's documentation says."""
    batches: list[list[MarketEvent]] = []
    drops: list[tuple[int, str]] = []
    last = -1
    for n, event in enumerate(source, start=1):
        if event.ts_ms < last:
            drops.append((n, f"time goes backwards ({event.ts_ms} after {last})"))
        elif type(event) is BookTick and not 0 < event.bid < event.ask < ONE:
            drops.append((n, f"bad book for m: bid {event.bid / ONE} ask {event.ask / ONE}"))
        else:
            if batches and batches[-1][0].ts_ms == event.ts_ms:
                batches[-1].append(event)
            else:
                batches.append([event])
            last = event.ts_ms
    return batches, drops


def drain(feed: ReplayFeed) -> list[list[MarketEvent]]:
    batches = []
    while (due := feed.peek_ms()) is not None:
        batch = feed.next_batch()
        assert batch
        assert all(e.ts_ms == due for e in batch)
        batches.append(batch)
    assert feed.next_batch() == []
    return batches


def _cut(source: list[MarketEvent], cuts: list[int]) -> list[list[MarketEvent]]:
    at = sorted({min(c, len(source)) for c in cuts})
    return [source[a:b] for a, b in zip([0, *at], [*at, len(source)], strict=True)]


@settings(max_examples=200, deadline=None)
@given(st.lists(events(), max_size=40), st.lists(st.integers(0, 40), max_size=6))
def test_lists_cut_anywhere_give_the_batches_and_drops_of_the_events_one_by_one(
    source: list[MarketEvent], cuts: list[int]
) -> None:
    batches, drops = expected(source)
    told: list[int] = []
    for feed in (
        ReplayFeed(source, told.append),
        ReplayFeed(chunks=_cut(source, cuts), on_batch=told.append),  # empty lists too
        ReplayFeed(iter(source), told.append),
    ):
        told.clear()
        got = drain(feed)
        assert got == batches
        assert told == [b[0].ts_ms for b in batches]  # on_batch: each batch's time, before it
        assert feed.stats.events == sum(map(len, batches))
        assert feed.stats.dropped == len(drops)
        assert feed.stats.dropped_first == drops


def test_a_list_ending_inside_a_batch() -> None:
    ticks = [BookTick(t, "m", 400_000, 1, 410_000, i) for i, t in enumerate([5, 5, 5, 6, 6, 7])]
    feed = ReplayFeed(chunks=[ticks[:1], ticks[1:2], [], ticks[2:4], ticks[4:]])
    assert feed.peek_ms() == 5
    assert feed.next_batch() == ticks[:3]
    assert feed.peek_ms() == 6
    assert feed.next_batch() == ticks[3:5]
    assert feed.next_batch() == ticks[5:]
    assert feed.peek_ms() is None
    assert feed.next_batch() == []


def test_in_lists_keeps_every_item_in_order() -> None:
    assert list(in_lists(range(10), 4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(in_lists([], 4)) == []


def test_a_drop_counts_its_position_across_lists() -> None:
    good = [BookTick(5, "m", 400_000, 1, 410_000, 1) for _ in range(3)]
    late = BookTick(4, "m", 400_000, 1, 410_000, 1)
    empty_side = BookTick(6, "m", 0, 1, 410_000, 1)
    feed = ReplayFeed(chunks=[good[:2], [good[2], late], [empty_side]])
    assert drain(feed) == [good]
    assert feed.stats.dropped_first == [
        (4, "time goes backwards (4 after 5)"),
        (5, "bad book for m: bid 0.0 ask 0.41"),
    ]
