"""What a backtest reads: the source of its events, and those events in lists for the replay
feed (bot/feeds/replay.py), with what the backtest notes on the way: the markets' names, a
streamed tape's fee schedules, whether any book tick had a forecast, and a live session's
recorded fair-value inputs replayed beside its books (bot/feeds/fair_replay.py).

The events go on a list at a time (a tape's as the reader decodes them, thousands of lines
at once): one generator step per event, on a million events, cost more than the checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.fairvalue import ModelLine
from bot.feeds.fair_replay import FairReplay
from bot.feeds.replay import in_lists
from bot.feeds.underlying import DEFAULT_SIGMA, PricingStats, Series, priced
from bot.model import BookTick, Market, MarketEvent, WindowOpened, WindowResolved


@dataclass
class Source:
    """Where the events come from, and what loading them found."""

    path: Path
    format: str
    events: Iterable[MarketEvent]
    total: int | None  # known for loaded files; None while streaming a tape
    report: dict[str, Any] = field(default_factory=dict)
    tape_reader: Any = None
    fees: dict[str, int] = field(default_factory=dict)  # a streamed tape's, as recorded
    series: Series | None = None  # the underlying's prices, when given or found beside
    loading: dict[str, Any] = field(default_factory=dict)  # streamed or read whole, and why


@dataclass
class Inputs:
    """What the book ticks carried, for the strategies that need it."""

    forecast_seen: bool = False  # a book tick had a forecast (P(UP))
    pricing: PricingStats = field(default_factory=PricingStats)
    names: dict[str, str] = field(default_factory=dict)  # market id -> its full name


def event_lists(source: Source, inputs: Inputs, sigma: float | None) -> Iterator[list[MarketEvent]]:
    """The source's events in lists, priced by its underlying if it has one. A live session's
    tape carries its fair-value model's inputs: they are replayed beside the books, so the
    signals carry the session's P(UP) and inputs."""
    reader = source.tape_reader
    chunks: Iterable[list[Any]]
    if reader is not None and source.series is None:
        chunks = reader.chunks()  # the inputs in the lists, in their places
    else:
        events: Iterable[Any] = source.events
        if source.series is not None:
            events = priced(events, source.series, inputs.pricing, sigma=sigma or DEFAULT_SIGMA)
        if reader is not None:  # read event by event: the inputs before each event put back
            events = _with_recorded(events, reader.inputs)
        chunks = in_lists(events)
    names = inputs.names
    # a streamed tape's fee schedules are counted as its markets open (files count theirs
    # when loaded)
    fees = source.fees if reader is not None else None
    book_tick, window_opened = BookTick, WindowOpened
    replay = _Replay(names, fees)
    for chunk in chunks:
        if reader is not None and (reader.input_lines or replay.replay is not None):
            chunk = replay.events(chunk)  # a live session's tape: event by event
        else:  # no input line yet: the opens only, then whether a tick had a forecast
            for event in [e for e in chunk if type(e) is not book_tick]:
                if type(event) is window_opened:
                    _opened(event.market, names, fees)
        if not inputs.forecast_seen:
            inputs.forecast_seen = any(type(e) is book_tick and e.fair_forecast is not None for e in chunk)
        yield chunk


class _Replay:
    """A list of a tape with input lines: the inputs recorded before each event replayed
    (FairReplay) as it comes, and left out of the list."""

    def __init__(self, names: dict[str, str], fees: dict[str, int] | None) -> None:
        self.names, self.fees = names, fees
        self.replay: FairReplay | None = None  # since the first event after an input line
        self.recorded: list[ModelLine] = []  # the inputs before the next event

    def events(self, chunk: list[Any]) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        recorded, replay = self.recorded, self.replay
        for event in chunk:
            kind = type(event)
            if kind is not BookTick and kind is not WindowOpened and kind is not WindowResolved:
                recorded.append(event)  # an input line
                continue
            if recorded:
                replay = self.replay = replay or FairReplay()
                replay.take(recorded)
                recorded.clear()
            if kind is BookTick:
                if replay is not None:
                    replay.price(event)
            elif kind is WindowOpened:
                _opened(event.market, self.names, self.fees)
            elif replay is not None:
                replay.forget(event.market_id)
            out.append(event)
        return out


def _with_recorded(events: Iterable[MarketEvent], recorded: list[ModelLine]) -> Iterator[Any]:
    """A tape read event by event: each event after the inputs the reader read before it."""
    for event in events:
        if recorded:
            yield from recorded
            recorded.clear()
        yield event


# what a strategy reads from the book ticks, and what gives it (for `needs`)
INPUT_HELP = {
    "fair_forecast": "a fair value (P(UP)): give --underlying FILE, the underlying's price series,"
    " or put underlying.csv beside the data",
}


def idle_strategies(strategies: list[Any], inputs: Inputs) -> list[dict[str, str]]:
    """The strategies that could never fire on this data: an input they need was never there."""
    out = []
    for strategy in strategies:
        for need in getattr(strategy, "needs", ()):
            if need == "fair_forecast" and not inputs.forecast_seen:
                why = f"no book tick had {INPUT_HELP[need]}"
                out.append({"strategy": strategy.name, "missing": need, "reason": why})
    return out


def _opened(market: Market, names: dict[str, str], fees: dict[str, int] | None) -> None:
    """A market opens: its name noted; a streamed tape's fee schedule counted."""
    names[market.market_id] = market.name or market.market_id
    if fees is not None:
        from bot.feeds.formats.core import fee_text

        key = fee_text(market.fee_rate_ppm, market.fee_exponent, "as recorded")
        fees[key] = fees.get(key, 0) + 1
