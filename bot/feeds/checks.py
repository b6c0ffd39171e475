"""What makes a recorded market event usable: the one rule the tape reader and the loaders share.

`book_ok` is the fast yes/no for a book line (the tape reader inlines the same test in its
parse loop); `event_problem` says, in a few words, why an event cannot be used ("crossed
book: bid 600000 >= ask 500000"), for the malformed-line report.
"""

from __future__ import annotations

from bot.model import MAX_SIZE, MAX_TS, ONE, BookTick, MarketEvent, WindowOpened

MAX_FEE_PPM = 10**6  # a fee rate of at most 100 %
MAX_FEE_EXPONENT = 100


def book_ok(tick: BookTick) -> bool:
    """The fast check of a tape's book line; event_problem says what is wrong."""
    bid, ask, fair, under = tick.bid, tick.ask, tick.fair_forecast, tick.underlying
    return (
        type(tick.ts_ms) is int
        and 0 <= tick.ts_ms <= MAX_TS
        and type(bid) is int
        and type(ask) is int
        and 0 <= bid < ask <= ONE
        and type(tick.bid_size) is int
        and 0 <= tick.bid_size <= MAX_SIZE
        and type(tick.ask_size) is int
        and 0 <= tick.ask_size <= MAX_SIZE
        and type(tick.market_id) is str
        and tick.market_id != ""
        and (fair is None or (type(fair) is int and 0 <= fair <= ONE))
        and (under is None or type(under) is float or type(under) is int)
    )


def event_problem(event: MarketEvent) -> str:
    """Why a tape event cannot be used, or ''."""
    if type(event.ts_ms) is not int or not 0 <= event.ts_ms <= MAX_TS:
        return f"ts {event.ts_ms!r} is not an integer in [0, 2^53]"
    if type(event) is BookTick:
        if type(event.market_id) is not str or not event.market_id:
            return f"market id {event.market_id!r} is not a non-empty string"
        for name, price in (("bid", event.bid), ("ask", event.ask)):
            if type(price) is not int or not 0 <= price <= ONE:
                return f"{name} {price!r} is not an integer in [0, {ONE}]"
        for name, size in (("bid size", event.bid_size), ("ask size", event.ask_size)):
            if type(size) is not int or not 0 <= size <= MAX_SIZE:
                return f"{name} {size!r} is not an integer in [0, {MAX_SIZE}]"
        if event.bid >= event.ask:
            return f"crossed book: bid {event.bid} >= ask {event.ask}"
        fair = event.fair_forecast
        if fair is not None and (type(fair) is not int or not 0 <= fair <= ONE):
            return f"forecast {fair!r} is not an integer in [0, {ONE}]"
        under = event.underlying
        if under is not None and type(under) not in (int, float):
            return f"underlying {under!r} is not a number"
    elif isinstance(event, WindowOpened):
        market = event.market
        numbers = (
            market.window_start_ms,
            market.window_end_ms,
            market.tick,
            market.min_size,
            market.fee_rate_ppm,
            market.fee_exponent,
        )
        if any(type(value) is not int for value in numbers) or market.tick <= 0:
            return f"open for {market.market_id!r} has non-integer times, tick, size or fees"
        if not (
            0 <= market.window_start_ms <= MAX_TS
            and 0 <= market.window_end_ms <= MAX_TS
            and market.tick <= ONE
            and 0 <= market.min_size <= MAX_SIZE
            and 0 <= market.fee_rate_ppm <= MAX_FEE_PPM
            and 0 <= market.fee_exponent <= MAX_FEE_EXPONENT
        ):
            return f"open for {market.market_id!r} has a time, tick, size or fee out of range"
        if market.window_end_ms <= market.window_start_ms:
            return f"open for {market.market_id!r} ends before it starts"
    return ""
