"""The fair-value model shared by the simulated market, live runs and backtests."""

import math

import pytest

from bot.fairvalue import FairValue, RealizedVol, Window, p_up


def test_p_up_at_the_strike_is_one_half_and_moves_with_the_price():
    assert p_up(100.0, 100.0, 60, 0.001) == pytest.approx(0.5)
    assert p_up(100.1, 100.0, 60, 0.001) > 0.5 > p_up(99.9, 100.0, 60, 0.001)


def test_p_up_at_the_end_is_the_outcome_with_a_tie_going_up():
    assert p_up(100.0, 100.0, 0, 0.001) == 1.0
    assert p_up(99.99, 100.0, 0, 0.001) == 0.0


def test_p_up_refuses_a_price_that_is_not_positive():
    with pytest.raises(ValueError, match="prices must be positive"):
        p_up(0.0, 100.0, 60, 0.001)


def test_realized_vol_answers_the_default_until_it_has_samples_then_the_walks_sigma():
    vol = RealizedVol(default=0.5, min_samples=30)
    assert vol.sigma == 0.5
    sigma, price = 0.0004, 100.0
    rng = __import__("random").Random(7)
    for i in range(20_000):
        vol.update(i * 1000, price)
        price *= math.exp(sigma * rng.gauss(0.0, 1.0))
    assert vol.sigma == pytest.approx(sigma, rel=0.15)


def test_fair_value_takes_the_first_price_in_the_window_as_its_strike():
    fv = FairValue(default_sigma=0.001)
    fv.watch(Window("m1", "BTC", start_ms=60_000, end_ms=360_000))
    fv.on_price("BTC", 59_000, 90.0)  # before the window: not the strike
    assert fv.p_up("m1", 59_000) is None
    fv.on_price("BTC", 60_500, 100.0)
    assert fv.strike("m1") == 100.0
    fv.on_price("BTC", 120_000, 101.0)
    assert fv.p_up("m1", 120_000) == pytest.approx(p_up(101.0, 100.0, 240, fv.sigma("BTC")))
    fv.forget("m1")
    assert fv.p_up("m1", 120_000) is None
