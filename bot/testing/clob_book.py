"""The local CLOB V2 stand-in's order book: price levels and price-time matching.

Pure functions over the exchange's resting liquidity (anonymous levels set by tests) and its
live orders; bot/testing/clob_exchange.py calls them with its lock held and books the result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from bot.testing.clob_wire import EPS, Order, Plan


def book_levels(
    liquidity: dict[float, int], live: Iterable[Order], token: str, side: str
) -> dict[float, int]:
    """Shares at each price on one side of a token's book: liquidity plus resting orders."""
    levels = dict(liquidity)
    for o in live:
        if o.token == token and o.side == side:
            levels[o.price] = levels.get(o.price, 0) + o.remaining
    return levels


def plan_fills(order: Order, opposite_liquidity: dict[float, int], live: Iterable[Order]) -> Plan:
    """The maker fills an incoming order would get, best price first (price-time)."""
    buy = order.side == "BUY"
    candidates: list[tuple[float, int, int, Order | None]] = [
        (p, 0, s, None) for p, s in opposite_liquidity.items()
    ]
    candidates += [
        (o.price, o.seq, o.remaining, o)
        for o in live
        if o.token == order.token and o.side != order.side and o.owner != order.owner
    ]
    crossing = [c for c in candidates if (c[0] <= order.price + EPS if buy else c[0] >= order.price - EPS)]
    crossing.sort(key=lambda c: (c[0] if buy else -c[0], c[1]))
    plan: Plan = []
    left, budget = order.remaining, order.budget
    for price, _, available, maker in crossing:
        qty = min(available, left if budget is None else math.floor(budget / price))
        if qty <= 0:
            break
        plan.append((price, qty, maker))
        if budget is None:
            left -= qty
        else:
            budget -= round(qty * price)
    return plan


def fills_completely(order: Order, plan: Plan) -> bool:
    """Whether ``plan`` fills all of ``order`` (a market BUY: spends its budget to < 0.0001)."""
    if order.budget is not None:
        return order.budget - sum(round(q * p) for p, q, _ in plan) < 100
    return sum(q for _, q, _ in plan) >= order.remaining
