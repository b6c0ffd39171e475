"""`bot redeem`: redeem a stopped bot's won positions now, and say how each went.

A running bot redeems by itself when `[polymarket] auto_redeem = true`; it owns the journal,
so the command refuses to run beside it (exit 3) and says so. Exit 0 when every market is
REDEEMED (or there was nothing to redeem), 1 when one is still pending or FAILED, 2 for a
setting that cannot work, 3 when a bot runs here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from bot.config import ConfigError, load_config
from bot.errors import EXIT_CONFIG, EXIT_REFUSED, StartupRefused
from bot.journal import Journal
from bot.layout import Paths
from bot.model import HALF, ONE, SPLIT, notional, usd
from bot.redemption.job import Candidate, Redeemer, Redemption, State, from_row, to_row

POLL_S = 2.0


def redeem_command(home: Path, wait_s: float, echo: Callable[[str], None], err: Callable[[str], None]) -> int:
    from bot.redemption.senders import sender_for
    from bot.startup import HomeLock, open_journal
    from bot.venues.polymarket import credentials_from_env

    try:
        config = load_config(home / "bot.toml" if (home / "bot.toml").exists() else None)
        sender = sender_for(config.polymarket, credentials_from_env(os.environ).private_key, os.environ)
    except ConfigError as exc:
        err(f"bot redeem: {exc}")
        return EXIT_CONFIG
    lock = HomeLock(Paths(home))
    try:
        lock.acquire()
    except StartupRefused as exc:
        err(
            f"bot redeem: {exc}: it redeems by itself with [polymarket] auto_redeem = true;"
            " stop it to redeem by hand"
        )
        return EXIT_REFUSED
    try:
        journal = open_journal(Paths(home))
        try:
            return _redeem(
                journal, Redeemer(sender, [from_row(r) for r in journal.redemption_rows()]), wait_s, echo
            )
        finally:
            journal.close()
    except StartupRefused as exc:
        err(f"bot redeem: {exc}")
        return EXIT_REFUSED
    finally:
        lock.release()


def _redeem(journal: Journal, redeemer: Redeemer, wait_s: float, echo: Callable[[str], None]) -> int:
    waiting = [
        Candidate(market, False, notional(HALF if journal.winning_outcome(market) == SPLIT else ONE, shares))
        for market, shares in journal.awaiting_redemption()
    ]
    if not waiting:
        echo("nothing to redeem: no open position is awaiting redemption")
        return 0
    deadline = time.monotonic() + wait_s
    while True:
        for row in redeemer.step(waiting, int(time.time() * 1000)):
            journal.save_redemption(to_row(row))
        journal.commit()
        rows = [redeemer.rows[c.condition_id] for c in waiting]
        if (
            all(r.state is State.REDEEMED or r.state is State.FAILED for r in rows)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(POLL_S)
    for row in rows:
        echo(_line(row))
    return 0 if all(r.state is State.REDEEMED for r in rows) else 1


def _line(r: Redemption) -> str:
    tx = f" tx {r.tx_id}" if r.tx_id else ""
    why = f": {r.reason}" if r.reason and r.state is not State.REDEEMED else ""
    return f"{r.condition_id[:10]}…{r.condition_id[-4:]}  {r.state.value:<10} {usd(r.payout_micros)}{tx}{why}"
