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
- a market resolved 50/50 (payout numerators [1, 1]; `WindowResolved.outcome` None,
  SPLIT in the files) pays 0.5 a share of EITHER token, also only on redemption: every
  position in it waits as a won one does, marked at 0.5, for 0.5 × its shares. Once
  redeemed it CLOSES with exit_reason SPLIT and realises 0.5 × shares − cost − fees.

Cash therefore always equals the venue's collateral; nothing is booked that the wallet
does not hold. The winning token's id is kept in the journal (`meta`), and once the venue
says the wallet no longer holds it (redeemed by hand: the tokens are burnt, the collateral
paid), `collect_redeemed` settles the position at its payout: cash rises by exactly what
the collateral did, the position CLOSES as WON (or SPLIT) and its profit counts from then on. It runs
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
    BookTick,
    Market,
    Micros,
    Mode,
    Outcome,
    Position,
    Settlement,
    WindowResolved,
    notional,
    parse_resolution,
    payout_per_share,
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
        per_share = payout_per_share(event.outcome, outcome)
        if per_share == 0:
            apply([Settlement(event.ts_ms, market_id, outcome, position.shares, 0, event.outcome)])
            continue
        position.state = Lifecycle.AWAITING_REDEMPTION
        if not position.exit_trigger:
            position.exit_trigger = Lifecycle.EXPIRY
            position.exit_threshold = "market resolved"
        payout = notional(per_share, position.shares)
        price = payout_per_share(event.outcome, Outcome.UP)  # the UP token's bid and ask: 1, 0 or 0.5
        portfolio.marks[market_id] = BookTick(event.ts_ms, market_id, price, 0, price, 0)
        journal.save_position(position, mode, "OPEN", None)
        if market.token_ids is not None:
            journal.set_meta(_token_key(position), market.token_ids[0 if outcome is Outcome.UP else 1])
        activity.emit(event.ts_ms, PositionAwaitingRedemption(position, payout, event.outcome is None))


def redemption_payout(journal: Journal, position: Position) -> tuple[Outcome | None, Micros] | None:
    """(winner, payout) of an AWAITING_REDEMPTION position: its shares at the market's
    journaled payout (1 a share, 0.5 if it resolved 50/50). A journal from before the split
    was known has no SPLIT: its positions awaiting redemption are won ones. None when the
    journal's word is unreadable (then nothing is booked: never a guess)."""
    said = journal.winning_outcome(position.market_id)
    try:
        winner = parse_resolution(said) if said else position.outcome
    except ValueError as exc:
        log.error("market %s: the journal's resolution is unreadable: %s", position.market_id, exc)
        return None
    return winner, notional(payout_per_share(winner, position.outcome), position.shares)


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
        paid = redemption_payout(journal, position)
        if held or paid is None:
            continue
        winner, payout = paid
        market, outcome = position.market_id, position.outcome
        apply([Settlement(now, market, outcome, position.shares, payout, winner)])
        settled += 1
    return settled
