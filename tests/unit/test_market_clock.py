"""TOUCHTRADER_MARKET_CLOCK (bot/clock.py): the test servers' market clock shared with `bot run`."""

from __future__ import annotations

import pytest

from bot.clock import MARKET_CLOCK_ENV, market_clock_from_env
from bot.errors import StartupRefused
from bot.model import now_ms


def test_unset_is_the_wall_clock() -> None:
    assert market_clock_from_env({}) is None


def test_market_time_runs_at_the_speed_from_the_shared_origin() -> None:
    wall = now_ms() - 1_000  # the origin was a second ago on the wall
    clock = market_clock_from_env({MARKET_CLOCK_ENV: f"{wall}:5000000:40"})
    assert clock is not None
    assert clock.speed == 40
    assert 5_000_000 + 40_000 <= clock.now_ms() < 5_000_000 + 40 * 60_000


@pytest.mark.parametrize("raw", ["nonsense", "1:2", "1:2:x", "1:2:0", "1:2:-3"])
def test_a_malformed_value_refuses_the_start(raw: str) -> None:
    with pytest.raises(StartupRefused, match=MARKET_CLOCK_ENV):
        market_clock_from_env({MARKET_CLOCK_ENV: raw})
