"""bot.model: exact micro-unit arithmetic, the taker fee, the mirrored DOWN book and iso()."""

from __future__ import annotations

import gc
import pickle
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model import (
    ONE,
    Action,
    BookTick,
    OrderType,
    Outcome,
    Signal,
    book_for,
    iso,
    notional,
    taker_fee,
    to_micros,
)

# ---------------------------------------------------------------------------
# to_micros


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.53", 530_000),
        ("1", ONE),
        (5, 5 * ONE),
        (12.5, 12_500_000),
        (0.1, 100_000),  # str(0.1) == "0.1": no binary noise leaks in
        ("0.000001", 1),
        ("123.456789", 123_456_789),
        ("-2.5", -2_500_000),
        (Decimal("0.9999"), 999_900),
        ("1E+2", 100 * ONE),
        ("0", 0),
        (0, 0),
    ],
)
def test_to_micros_parses_exact_amounts(value: object, expected: int) -> None:
    result = to_micros(value)  # type: ignore[arg-type]
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("value", ["0.0000001", "1.1234567", 1e-7, "5e-7", Decimal("0.12345678")])
def test_to_micros_refuses_more_than_six_decimals(value: object) -> None:
    with pytest.raises(ValueError, match="more than 6 decimals"):
        to_micros(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["nan", "NaN", "sNaN", "inf", "-Infinity", float("nan"), float("inf")])
def test_to_micros_refuses_non_finite(value: object) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_micros(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "abc", "0.5.3", "1,5", "0x10", "$1", None, "1 2"])
def test_to_micros_refuses_garbage(value: object) -> None:
    with pytest.raises(ValueError, match="not a number"):
        to_micros(value)  # type: ignore[arg-type]


@settings(database=None)  # no example database outside tests/
@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_to_micros_round_trips_every_micro_amount(micros: int) -> None:
    text = str(Decimal(micros).scaleb(-6))
    assert to_micros(text) == micros


def test_to_micros_refuses_a_far_decimal_beyond_decimal_precision() -> None:
    with pytest.raises(ValueError, match="more than 6 decimals"):
        to_micros("1.0000000000000000000000000001")


# ---------------------------------------------------------------------------
# notional

prices_4dp = st.integers(min_value=1, max_value=9_999).map(lambda n: n * 100)  # 0.0001 .. 0.9999
sizes_2dp = st.integers(min_value=1, max_value=10_000_000).map(lambda n: n * 10_000)  # 0.01 .. 100k


@settings(database=None)  # no example database outside tests/
@given(prices_4dp, sizes_2dp)
def test_notional_is_exact_for_4_decimal_prices_and_2_decimal_sizes(price: int, shares: int) -> None:
    assert (price * shares) % ONE == 0  # nothing is floored away
    exact = Decimal(price).scaleb(-6) * Decimal(shares).scaleb(-6)  # USDC
    assert Decimal(notional(price, shares)) == exact.scaleb(6)


@pytest.mark.parametrize(
    ("price", "size", "usdc"),
    [("0.5317", "12.34", "6.561178"), ("0.01", "5", "0.05"), ("0.9999", "0.01", "0.009999")],
)
def test_notional_examples(price: str, size: str, usdc: str) -> None:
    assert notional(to_micros(price), to_micros(size)) == to_micros(usdc)


def test_notional_of_zero_and_one() -> None:
    assert notional(530_000, 0) == 0
    assert notional(ONE, 7 * ONE) == 7 * ONE


# ---------------------------------------------------------------------------
# taker_fee


def _reference_fee(shares: int, price: int, rate_ppm: int, exponent: int) -> int:
    with localcontext() as ctx:
        ctx.prec = 200  # exact for every input below
        p = Decimal(price) / ONE
        fee = Decimal(shares) * Decimal(rate_ppm) / ONE * (p * (1 - p)) ** exponent
        return int(fee.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(
    shares=st.integers(min_value=0, max_value=10**12),
    price=st.integers(min_value=1, max_value=ONE - 1),
    rate_ppm=st.integers(min_value=0, max_value=ONE),
    exponent=st.sampled_from([1, 2]),
)
@settings(max_examples=300, database=None)
def test_taker_fee_matches_an_exact_decimal_computation(
    shares: int, price: int, rate_ppm: int, exponent: int
) -> None:
    assert taker_fee(shares, price, rate_ppm, exponent) == _reference_fee(shares, price, rate_ppm, exponent)


def test_taker_fee_formula_example() -> None:
    # 100 shares at 0.40 with a 2% rate: 100 × 0.02 × 0.4 × 0.6 = 0.48 USDC
    assert taker_fee(100 * ONE, 400_000, 20_000) == 480_000
    # exponent 2: 100 × 0.02 × (0.24)^2 = 0.1152
    assert taker_fee(100 * ONE, 400_000, 20_000, exponent=2) == 115_200


def test_taker_fee_rounds_half_up_not_half_even() -> None:
    # 0.01 share × 0.1% × 0.25 = 2.5 micros: half up gives 3 (banker's rounding would give 2)
    assert taker_fee(10_000, 500_000, 1_000) == 3
    assert taker_fee(30_000, 500_000, 1_000) == 8  # 7.5 -> 8
    assert taker_fee(10_000, 500_000, 920) == 2  # 2.3 -> 2
    assert taker_fee(10_000, 500_000, 1_080) == 3  # 2.7 -> 3


def test_taker_fee_is_zero_without_rate_or_shares() -> None:
    assert taker_fee(0, 500_000, 20_000) == 0
    assert taker_fee(10 * ONE, 500_000, 0) == 0


def test_taker_fee_is_symmetric_in_p_and_one_minus_p() -> None:
    for price in (10_000, 230_000, 499_900):
        assert taker_fee(17 * ONE, price, 35_000) == taker_fee(17 * ONE, ONE - price, 35_000)


# ---------------------------------------------------------------------------
# book_for


def test_book_for_up_is_the_tick_itself() -> None:
    tick = BookTick(1, "m", bid=420_000, bid_size=11 * ONE, ask=450_000, ask_size=22 * ONE)
    assert book_for(tick, Outcome.UP) == (420_000, 11 * ONE, 450_000, 22 * ONE)


def test_book_for_down_mirrors_the_up_book() -> None:
    tick = BookTick(1, "m", bid=420_000, bid_size=11 * ONE, ask=450_000, ask_size=22 * ONE)
    bid, bid_size, ask, ask_size = book_for(tick, Outcome.DOWN)
    assert (bid, ask) == (550_000, 580_000)  # down bid = 1 - up ask, down ask = 1 - up bid
    assert (bid_size, ask_size) == (22 * ONE, 11 * ONE)  # sizes swap sides with the prices


@settings(database=None)  # no example database outside tests/
@given(
    bid=st.integers(min_value=0, max_value=ONE - 1),
    width=st.integers(min_value=1, max_value=ONE),
    bid_size=st.integers(min_value=0, max_value=10**12),
    ask_size=st.integers(min_value=0, max_value=10**12),
)
def test_book_for_down_is_an_involution_and_keeps_bid_below_ask(
    bid: int, width: int, bid_size: int, ask_size: int
) -> None:
    ask = min(bid + width, ONE)
    tick = BookTick(5, "m", bid, bid_size, ask, ask_size)
    d_bid, d_bid_size, d_ask, d_ask_size = book_for(tick, Outcome.DOWN)
    assert d_bid < d_ask
    assert d_ask - d_bid == ask - bid  # same spread
    mirrored = BookTick(5, "m", d_bid, d_bid_size, d_ask, d_ask_size)
    assert book_for(mirrored, Outcome.DOWN) == book_for(tick, Outcome.UP)


# ---------------------------------------------------------------------------
# iso


@pytest.mark.parametrize(
    ("ts_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (999, "1970-01-01T00:00:00.999Z"),
        (1_000, "1970-01-01T00:00:01.000Z"),
        (1_795_316_016_123, "2026-11-22T02:53:36.123Z"),
        (1_704_067_199_999, "2023-12-31T23:59:59.999Z"),
        (1_704_067_200_000, "2024-01-01T00:00:00.000Z"),
    ],
)
def test_iso_examples(ts_ms: int, text: str) -> None:
    assert iso(ts_ms) == text


@settings(database=None)  # no example database outside tests/
@given(st.integers(min_value=0, max_value=253_402_300_799_999))  # up to 9999-12-31T23:59:59.999Z
def test_iso_matches_exact_datetime_arithmetic(ts_ms: int) -> None:
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)
    expected = dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    text = iso(ts_ms)
    assert text == expected
    assert len(text) == 24
    assert text.endswith("Z")


def test_book_tick_builds_compares_copies_and_pickles_like_the_dataclass_it_was() -> None:
    """BookTick is a msgspec Struct (the tape reader decodes into it): positional and keyword
    construction, == ignoring fair_info, unhashable, copies and pickles with every field."""
    tick = BookTick(1, "m", 420_000, 11 * ONE, 450_000, 22 * ONE, 430_000, 97_000.5, fair_info="why")
    same = BookTick(ts_ms=1, market_id="m", bid=420_000, bid_size=11 * ONE, ask=450_000, ask_size=22 * ONE)
    same.fair_forecast, same.underlying = 430_000, 97_000.5
    assert tick == same  # fair_info is not compared
    assert tick != msgspec.structs.replace(tick, bid=410_000)
    assert tick != (1, "m")
    with pytest.raises(TypeError):
        hash(tick)
    moved = msgspec.structs.replace(tick, ts_ms=2)
    assert (moved.ts_ms, moved.fair_info, tick.ts_ms) == (2, "why", 1)
    back = pickle.loads(pickle.dumps(tick))
    assert back == tick
    assert (back.fair_info, type(back)) == ("why", BookTick)
    assert BookTick(1, "m", 1, 2, 3, 4).fair_forecast is None
    assert repr(BookTick(1, "m", 1, 2, 3, 4)).startswith("BookTick(ts_ms=1, market_id='m', bid=1,")


def test_signal_builds_compares_and_pickles_like_the_dataclass_it_was() -> None:
    """Signal is a msgspec Struct (built in C, not tracked by the garbage collector): a
    strategy builds it with keywords or positionally, with the same defaults, and it compares,
    copies and pickles field by field."""
    by_keyword = Signal(
        ts_ms=1, strategy="mine", market_id="m", outcome=Outcome.UP, action=Action.BUY, price=420_000
    )
    by_position = Signal(1, "mine", "m", Outcome.UP, Action.BUY, 420_000)
    assert by_keyword == by_position
    assert (by_keyword.edge, by_keyword.score, by_keyword.reason, by_keyword.size) == (0, 0.0, "", None)
    assert (by_keyword.order_type, by_keyword.ttl_s) == (OrderType.GTC, None)
    assert by_keyword != msgspec.structs.replace(by_keyword, reason="other")
    assert by_keyword != (1, "mine")
    with pytest.raises(TypeError):
        hash(by_keyword)
    assert pickle.loads(pickle.dumps(by_keyword)) == by_keyword
    assert not gc.is_tracked(by_keyword)
    assert repr(by_position).startswith("Signal(ts_ms=1, strategy='mine', market_id='m', outcome=")
    with pytest.raises(TypeError):
        Signal(ts_ms=1, strategy="mine")  # type: ignore[call-arg]
