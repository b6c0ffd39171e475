"""Market orders (FOK/FAK: every exit and FLATTEN) are signed with amounts the venue accepts at
every tick size: maker amount 2 decimals, taker amount 4, and never a worse price."""

from __future__ import annotations

import itertools

import pytest

from bot.model import ONE, Action, OrderType
from bot.venues.polymarket.signing import order_amounts, round_price, round_size

TICKS = [100_000, 10_000, 1_000, 100]  # 0.1, 0.01, 0.001, 0.0001
SIZES = [5_000_000, 5_010_000, 10_010_000, 7_330_000, 123_450_000, 1_990_000]


def prices(tick: int) -> list[int]:
    inside = [tick, ONE - tick, ONE // 2]
    odd = [round_price(p, tick, Action.BUY) for p in (123_456, 451_237, 987_654, 333_333)]
    return sorted({p for p in inside + odd if tick <= p <= ONE - tick})


@pytest.mark.parametrize("tick", TICKS)
@pytest.mark.parametrize("order_type", [OrderType.FOK, OrderType.FAK])
def test_market_amounts_fit_the_venue_precision_at_every_tick(tick: int, order_type: OrderType) -> None:
    for price, raw in itertools.product(prices(tick), SIZES):
        size = round_size(raw)
        for action in (Action.BUY, Action.SELL):
            maker, taker, shares = order_amounts(action, order_type, price, size, tick)
            where = f"{action.value} {size / ONE} @ {price / ONE} (tick {tick / ONE})"
            assert maker % 10_000 == 0, f"{where}: maker {maker} has more than 2 decimals"
            assert taker % 100 == 0, f"{where}: taker {taker} has more than 4 decimals"
            if maker == 0:  # under a cent to spend: `prepare` refuses it as too small
                assert action is Action.BUY, where
                assert price * size // ONE < 10_000, where
                continue
            if action is Action.SELL:
                assert (maker, shares) == (size, size), where
                implied = taker * ONE / maker
                # a hair below the limit: the same book levels match, none below `price`
                assert price - tick < implied <= price, where
                assert price * size / ONE - taker < 100, f"{where}: gave away more than 0.0001"
            else:
                assert taker == shares, where
                assert maker <= price * size / ONE, where
                implied = maker * ONE / taker
                assert price <= implied < price + tick, where


@pytest.mark.parametrize("tick", TICKS)
def test_limit_amounts_are_unchanged(tick: int) -> None:
    price = round_price(451_237, tick, Action.BUY)
    maker, taker, shares = order_amounts(Action.BUY, OrderType.GTC, price, 10_010_000, tick)
    assert (maker, taker, shares) == (price * 10_010_000 // ONE, 10_010_000, 10_010_000)
    maker, taker, _ = order_amounts(Action.SELL, OrderType.GTD, price, 10_010_000, tick)
    assert (maker, taker) == (10_010_000, price * 10_010_000 // ONE)
