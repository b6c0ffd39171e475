"""Fills for orders nobody knows: a venue fill whose order is not in the journal.

It happens when an order landed although its post failed and was never matched to the
UNKNOWN order, or when someone else trades with the bot's wallet. Such a fill is never
dropped: a BUY is booked as an orphan position (the exits manage it like any other), and a
SELL of shares the books hold is booked against them; a SELL of shares the books do not hold
cannot be booked. In LIVE the bot then goes HALTED and the fill is listed in
state/reconciliation.json (bot/live.py).
"""

from __future__ import annotations

from bot.model import ONE, Action, Fill, Intent, Order, OrderStatus, OrderType, Position


def orphan_order(fill: Fill, held: Position | None) -> tuple[Order | None, str]:
    """The order to book `fill` under (None: it cannot be booked), and a one-line note. The
    order's size is 0: the order manager grows it by each fill the venue reports for it."""
    bookable = fill.action is Action.BUY or (held is not None and held.shares > 0)
    what = "booked as an orphan position" if bookable else "not booked: the books hold no such shares"
    note = (
        f"fill {fill.fill_id} for order {fill.order_id} the journal does not know ({fill.action.value}"
        f" {fill.shares / ONE:g} {fill.outcome.value} @ {fill.price / ONE:g}): {what}"
    )
    if not bookable:
        return None, note
    order = Order(
        order_id=fill.order_id,
        market_id=fill.market_id,
        outcome=fill.outcome,
        action=fill.action,
        price=fill.price,
        size=0,
        order_type=OrderType.GTC,
        intent=Intent.ENTRY if fill.action is Action.BUY else Intent.EXIT,
        created_ms=fill.ts_ms,
        status=OrderStatus.FILLED,
        strategy=held.strategy if held is not None else "orphan",
        reason="fill for an order the journal did not know",
    )
    return order, note
