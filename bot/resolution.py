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
does not hold.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.activity import Activity
from bot.exits import Lifecycle
from bot.journal import Journal
from bot.model import ONE, BookTick, Mode, Outcome, Settlement, WindowResolved, notional, usd
from bot.portfolio import Portfolio


def settle_left_behind(
    event: WindowResolved,
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
        activity.add(
            event.ts_ms,
            "POSITION_EXIT",
            market_id,
            f"{outcome.value} {position.shares / ONE:g} shares won: {usd(payout)} awaiting redemption"
            f" on chain (profit {usd(payout - position.cost - position.fees)} counted once redeemed)",
            position_id=position.position_id,
        )
