"""Positions a resolved market leaves behind when the venue does not settle them (LIVE).

The paper venue pays resolved tokens at once (a `Settlement` from `on_market`). A real
venue pays only when the tokens are redeemed on chain, which the bot does not do yet. At
resolution the books then recognise what is already final, exactly:

- a LOSING token is worth 0 now and forever: it is settled for a payout of 0, the
  position CLOSES with its whole cost and fees as the realised loss, and that loss counts
  at once toward `daily_loss_limit_usd` and `max_consecutive_losses`. Cash does not move,
  as the wallet's collateral does not (redeeming a losing token pays nothing).
- a WINNING token is worth $1 a share, but that money is not in the wallet until it is
  redeemed. The position stays OPEN in the state AWAITING_REDEMPTION, marked at its payout
  (so its value and unrealised P&L show what redemption will bring), and no order may
  sell it. Its profit is not counted by the session limits until it is redeemed: they
  err on the side of stopping.

Cash therefore always equals the venue's collateral; nothing is booked that the wallet
does not hold. The winning token's id is kept in the journal (`meta`), and once the venue
says the wallet no longer holds it (redeemed by hand: the tokens are burnt, the collateral
paid), `collect_redeemed` settles the position at its payout: cash rises by exactly what
the collateral did, the position CLOSES as WON and its profit counts from then on. It runs
at start-up, before the venue's balance is compared with the ledger, and at each heartbeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.activity import Activity
from bot.errors import VenueError
from bot.exits import Lifecycle
from bot.journal import Journal
from bot.model import (
    ONE,
    BookTick,
    Market,
    Micros,
    Mode,
    Outcome,
    Position,
    Settlement,
    WindowResolved,
    notional,
)
from bot.portfolio import Portfolio
from bot.sentences import PositionAwaitingRedemption

log = logging.getLogger("bot")


def _token_key(position: Position) -> str:
    return f"awaiting_redemption:{position.position_id}"


def settle_left_behind(
    event: WindowResolved,
    market: Market,
    portfolio: Portfolio,
    apply: Callable[[list[Settlement]], None],
    journal: Journal,
    activity: Activity,
    mode: Mode,
) -> None:
    """Book a resolved market's positions the venue did not settle (see the docstring)."""
    market_id = event.market_id
    for outcome in (Outcome.UP, Outcome.DOWN):
        position = portfolio.positions.get((market_id, outcome))
        if position is None or position.state == Lifecycle.AWAITING_REDEMPTION:
            continue
        if outcome is not event.outcome:
            apply([Settlement(event.ts_ms, market_id, outcome, position.shares, 0, event.outcome)])
            continue
        position.state = Lifecycle.AWAITING_REDEMPTION
        if not position.exit_trigger:
            position.exit_trigger = Lifecycle.EXPIRY
            position.exit_threshold = "market resolved"
        payout = notional(ONE, position.shares)
        up_won = event.outcome is Outcome.UP
        price = ONE if up_won else 0  # the UP token's bid and ask: 1 if UP won, else 0
        portfolio.marks[market_id] = BookTick(event.ts_ms, market_id, price, 0, price, 0)
        journal.save_position(position, mode, "OPEN", None)
        if market.token_ids is not None:
            journal.set_meta(_token_key(position), market.token_ids[0 if up_won else 1])
        activity.emit(event.ts_ms, PositionAwaitingRedemption(position, payout))


def collect_redeemed(
    portfolio: Portfolio,
    journal: Journal,
    token_balance: Callable[[str], Micros],
    apply: Callable[[list[Settlement]], None],
    now: int,
) -> int:
    """Settle every AWAITING_REDEMPTION position whose tokens the wallet no longer holds;
    return how many. A balance that cannot be read is tried again next time."""
    settled = 0
    for position in list(portfolio.positions.values()):
        if position.state != Lifecycle.AWAITING_REDEMPTION:
            continue
        token = journal.get_meta(_token_key(position))
        if not token:
            continue
        try:
            held = token_balance(token)
        except VenueError as exc:
            log.warning("redemption check of %s: %s", position.market_id, exc)
            continue
        if held:
            continue
        payout = notional(ONE, position.shares)
        market, outcome = position.market_id, position.outcome
        apply([Settlement(now, market, outcome, position.shares, payout, outcome)])
        settled += 1
    return settled
