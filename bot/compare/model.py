"""What a comparison is: the positions on each side (Side), their pairing (Row, Match) and
the whole result (Comparison, with its compare.json form); CompareError and the few words
its messages and notes share.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.model import iso, to_float

SCHEMA_VERSION = 1


class CompareError(BotError):
    """The comparison cannot be made; the one-line message says why."""


class Match(enum.StrEnum):
    SAME = "SAME"
    DIFFERENT = "DIFFERENT"
    ONLY_IN_SESSION = "ONLY_IN_SESSION"
    ONLY_IN_REPLAY = "ONLY_IN_REPLAY"


# the compared fields, in the order they are listed, with the words render uses
FIELDS: dict[str, str] = {
    "entry_time": "entry time",
    "entry_price": "entry price",
    "shares": "shares",
    "exit_price": "exit price",
    "exit_reason": "exit reason",
    "net_pnl": "net P&L",
    "fees": "fees",
}
ENTRY_FIELDS = ("entry_time", "entry_price", "shares")


@dataclass(frozen=True)
class Side:
    """One position as one side saw it. Money, prices and shares in micros."""

    position_id: int
    status: str  # OPEN or CLOSED
    entry_ms: int
    entry_price: int  # average price paid
    shares: int  # all shares bought
    exit_ms: int | None
    exit_price: int  # average price received (sells and settlement); 0 before any exit
    exit_reason: str  # WON, LOST, STOP_TRIGGERED, FLATTEN, ...; "" while open
    exit_trigger: str
    net_pnl: int  # realized P&L, net of fees
    fees: int
    closed_by_session: int | None = None  # the session whose fill or settlement closed it

    def value(self, name: str) -> int | str:
        values: dict[str, int | str] = {
            "entry_time": self.entry_ms,
            "entry_price": self.entry_price,
            "shares": self.shares,
            "exit_price": self.exit_price,
            "exit_reason": self.exit_reason,
            "net_pnl": self.net_pnl,
            "fees": self.fees,
        }
        return values[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "position_id": self.position_id,
            "status": self.status,
            "entry_time": iso(self.entry_ms),
            "entry_price": to_float(self.entry_price),
            "shares": to_float(self.shares),
            "exit_time": None if self.exit_ms is None else iso(self.exit_ms),
            "exit_price": to_float(self.exit_price) if self.exit_reason else None,
            "exit_reason": self.exit_reason or None,
            "exit_trigger": self.exit_trigger or None,
            "net_pnl": to_float(self.net_pnl),
            "fees": to_float(self.fees),
        }


@dataclass(frozen=True)
class Row:
    market_id: str
    outcome: str  # UP or DOWN
    strategy: str
    status: Match
    session: Side | None
    replay: Side | None
    differences: tuple[str, ...] = ()  # keys of FIELDS, when DIFFERENT
    note: str = ""

    @property
    def entry_ms(self) -> int:
        return min(s.entry_ms for s in (self.session, self.replay) if s is not None)


@dataclass
class Comparison:
    session_id: int
    mode: str
    home: Path
    tape: Path
    replay: Path  # the replay's folder (its own state/, logs/, summary.json, ...)
    started_ms: int  # market time the session started
    stopped_ms: int | None  # market time it stopped; None if it has no stop (running or killed)
    starting_balance: int  # cash the replay started with: the session's cash at its start
    events: int  # market events replayed
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {m.value: 0 for m in Match}
        for row in self.rows:
            counts[row.status.value] += 1
        return counts

    @property
    def session_pnl(self) -> int:
        """Σ realized net P&L of the session's positions."""
        return sum(r.session.net_pnl for r in self.rows if r.session is not None)

    @property
    def replay_pnl(self) -> int:
        return sum(r.replay.net_pnl for r in self.rows if r.replay is not None)

    @property
    def identical(self) -> bool:
        return all(r.status is Match.SAME for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "session_id": self.session_id,
            "mode": self.mode,
            "home": str(self.home),
            "tape": str(self.tape),
            "replay": str(self.replay),
            "session_started": iso(self.started_ms),
            "session_stopped": None if self.stopped_ms is None else iso(self.stopped_ms),
            "starting_balance": to_float(self.starting_balance),
            "events_replayed": self.events,
            "counts": self.counts,
            "totals": {
                "session_net_pnl": to_float(self.session_pnl),
                "replay_net_pnl": to_float(self.replay_pnl),
                "difference": to_float(self.replay_pnl - self.session_pnl),
            },
            "identical": self.identical,
            "notes": self.notes,
            "rows": [
                {
                    "market_id": r.market_id,
                    "side": r.outcome,
                    "strategy": r.strategy,
                    "status": r.status.value,
                    "differences": list(r.differences),
                    "note": r.note or None,
                    "session": None if r.session is None else r.session.to_dict(),
                    "replay": None if r.replay is None else r.replay.to_dict(),
                }
                for r in self.rows
            ],
        }


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, for a CompareError or a note."""
    return " ".join(str(exc).split()) or type(exc).__name__


def plural(n: int, word: str) -> str:
    """'1 position', '3 positions'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
