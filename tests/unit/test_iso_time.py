"""`iso` formats the second from arithmetic and only the date through `datetime` (a backtest
formats a new second for every record): the same text as `datetime` for every timestamp."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bot.model import iso
from bot.scorecard import reason_key

# 1970 back to the year 1 and on to 9999: what datetime can format
FIRST_MS, LAST_MS = -62_135_596_800_000, 253_402_300_799_999


@given(st.integers(FIRST_MS, LAST_MS))
def test_iso_is_what_datetime_says(ts_ms: int) -> None:
    seconds, millis = divmod(ts_ms, 1000)
    expected = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"
    assert iso(ts_ms) == expected


def test_iso_on_the_edges_of_a_day_and_of_1970() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(-1) == "1969-12-31T23:59:59.999Z"
    assert iso(86_399_999) == "1970-01-01T23:59:59.999Z"
    assert iso(1_800_000_000_000) == "2027-01-15T08:00:00.000Z"


def test_reason_key_remembered_gives_the_same_key() -> None:
    reason = "3 consecutive losses (limit 3); resume with controls/RESET [trading_state]"
    assert reason_key(reason) == reason_key(reason) == "N consecutive losses (limit N)"
