"""The redemption job: one row per resolved market with won tokens, moved along
REDEEMABLE → REDEEMING → REDEEMED (or FAILED, tried again later), never two transactions at once.

`Redeemer.step(candidates, now_ms)` is called again and again (by the bot on its own thread,
or by `bot redeem`): it sends a transaction for each market that has none pending, looks at
the pending ones, and returns the rows that changed, which the caller journals (the engine's
thread owns the journal). A row that was REDEEMING when the bot stopped is looked up again,
not sent again, so a restart never redeems twice; a market whose tokens are gone from the
wallet is REDEEMED whoever redeemed it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from bot.errors import VenueError
from bot.redemption.contracts import redeem_call
from bot.redemption.senders import CONFIRMED, FAILED, RedemptionRefused, Sender

log = logging.getLogger("bot")
RETRY_MS = (60_000, 300_000, 1_800_000)  # after the 1st, 2nd, 3rd+ failure
STUCK_MS = 600_000  # a transaction with no receipt this long is taken as lost
MAX_ATTEMPTS = 5  # then FAILED for good: the operator redeems by hand (docs/runbook.md)


class State(enum.StrEnum):
    REDEEMABLE = "REDEEMABLE"
    REDEEMING = "REDEEMING"
    REDEEMED = "REDEEMED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Candidate:
    """A resolved market whose won tokens the wallet still holds."""

    condition_id: str
    neg_risk: bool
    payout_micros: int  # what redeeming pays, for the record


@dataclass(frozen=True)
class Redemption:
    condition_id: str
    state: State
    sender: str  # EOA or RELAYER
    tx_id: str = ""
    reason: str = ""
    attempts: int = 0
    payout_micros: int = 0
    next_try_ms: int = 0
    updated_ms: int = 0

    @property
    def final(self) -> bool:
        return self.state is State.REDEEMED or (self.state is State.FAILED and not self.next_try_ms)


class Redeemer:
    def __init__(self, sender: Sender, known: Iterable[Redemption] = ()) -> None:
        self.sender = sender
        self.rows: dict[str, Redemption] = {r.condition_id: r for r in known}

    def step(self, candidates: Iterable[Candidate], now_ms: int) -> list[Redemption]:
        """Advance every market one step; return the rows that changed."""
        changed: list[Redemption] = []
        waiting = {c.condition_id: c for c in candidates}
        for condition_id, row in list(self.rows.items()):
            if condition_id not in waiting and row.state in (State.REDEEMABLE, State.FAILED):
                # the tokens left the wallet (redeemed by hand or by an earlier transaction)
                changed.append(self._set(row, State.REDEEMED, now_ms, reason="tokens no longer held"))
        for condition_id, candidate in waiting.items():
            row = self.rows.get(condition_id) or Redemption(
                condition_id, State.REDEEMABLE, self.sender.kind, payout_micros=candidate.payout_micros
            )
            if condition_id not in self.rows:
                self.rows[condition_id] = row
                changed.append(row)
            new = self._advance(row, candidate, now_ms)
            if new is not row:
                changed.append(new)
        return changed

    def _advance(self, row: Redemption, candidate: Candidate, now_ms: int) -> Redemption:
        if row.state is State.REDEEMING:
            return self._check(row, now_ms)
        if row.final or row.state is State.REDEEMED or now_ms < row.next_try_ms:
            return row
        try:
            tx_id = self.sender.send(redeem_call(row.condition_id, candidate.neg_risk))
        except RedemptionRefused as exc:  # the chain or the relayer said no
            return self._fail(row, str(exc), now_ms)
        except VenueError as exc:  # no answer before sending: nothing went out, try again later
            log.warning("redemption of %s: %s", row.condition_id, exc)
            return self._set(row, row.state, now_ms, reason=str(exc), next_try_ms=now_ms + RETRY_MS[0])
        attempts = row.attempts + 1
        return self._set(row, State.REDEEMING, now_ms, tx_id=tx_id, reason="", attempts=attempts)

    def _check(self, row: Redemption, now_ms: int) -> Redemption:
        try:
            state, reason = self.sender.status(row.tx_id)
        except VenueError as exc:
            log.warning("redemption %s of %s: %s", row.tx_id, row.condition_id, exc)
            return row
        if state == CONFIRMED:
            return self._set(row, State.REDEEMED, now_ms, reason="")
        if state == FAILED:
            return self._fail(row, reason or "the transaction failed", now_ms)
        if now_ms - row.updated_ms > STUCK_MS:
            lost = f"transaction {row.tx_id} not mined after {STUCK_MS // 60_000} min"
            return self._fail(row, lost, now_ms)
        return row

    def _fail(self, row: Redemption, reason: str, now_ms: int) -> Redemption:
        # a transaction sent counted as an attempt when it went out; a refusal counts now
        attempts = row.attempts + (0 if row.state is State.REDEEMING else 1)
        if attempts >= MAX_ATTEMPTS:
            return self._set(row, State.FAILED, now_ms, reason=reason, attempts=attempts, next_try_ms=0)
        delay = RETRY_MS[min(max(attempts, 1), len(RETRY_MS)) - 1]
        return self._set(
            row, State.FAILED, now_ms, reason=reason, attempts=attempts, next_try_ms=now_ms + delay
        )

    def _set(self, row: Redemption, state: State, now_ms: int, **changes: object) -> Redemption:
        new = replace(row, state=state, updated_ms=now_ms, **changes)  # type: ignore[arg-type]
        self.rows[row.condition_id] = new
        return new


def to_row(r: Redemption) -> dict[str, object]:
    return {
        "condition_id": r.condition_id,
        "state": r.state.value,
        "sender": r.sender,
        "tx_id": r.tx_id,
        "reason": r.reason,
        "attempts": r.attempts,
        "payout_micros": r.payout_micros,
        "next_try_ms": r.next_try_ms,
        "updated_ms": r.updated_ms,
    }


def from_row(row: dict[str, object]) -> Redemption:
    return Redemption(
        condition_id=str(row["condition_id"]),
        state=State(str(row["state"])),
        sender=str(row["sender"] or ""),
        tx_id=str(row["tx_id"] or ""),
        reason=str(row["reason"] or ""),
        attempts=int(row["attempts"] or 0),  # type: ignore[call-overload]
        payout_micros=int(row["payout_micros"] or 0),  # type: ignore[call-overload]
        next_try_ms=int(row["next_try_ms"] or 0),  # type: ignore[call-overload]
        updated_ms=int(row["updated_ms"] or 0),  # type: ignore[call-overload]
    )
