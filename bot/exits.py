"""The position lifecycle and the one exit decision.

Every position follows one state machine:

    ENTRY ──▶ MONITORING ──▶ STOP_TRIGGERED ──┐
      │            │    ├──▶ TP_TRIGGERED ────┤
      │            │    ├──▶ TRAILING_TRIGGERED ┼──▶ EXIT_PENDING ──▶ CLOSED
      │            │    └──▶ EXPIRY ──────────┘
      └────────────┴──────── (market resolves) ─────────────────────▶ CLOSED

Two states hold a position that no order can sell; it waits for its market to resolve:

    DUST                 what is left is below the venue's smallest sell (LIVE: a market
                         order's ~$1 notional at the bid; elsewhere the share minimum)
    AWAITING_REDEMPTION  LIVE, the market resolved and the token won: worth its payout,
                         which reaches the wallet only when it is redeemed on chain

ENTRY: the entry order still works; MONITORING: it is done. `decide()` is the only place
that fires an exit, with this priority when several rules hold at once:

    1 EXPIRY     the window ends within `exit_before_end_s` (0: hold to resolution)
    2 STOP       best bid <= entry price × (1 − stop_loss_pct / 100)
    3 TRAILING   the bid rose above entry and fell trailing_pct below its peak
    4 TP         best bid >= entry price × (1 + take_profit_pct / 100)

Prices are the token's best bid: what selling now would fetch. Once a trigger fires the
position is EXIT_PENDING and nothing else may change it; only its exit orders work it down.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from bot.config import ConfigError, ExitsConfig, build_section
from bot.model import ONE, Micros, Position


class Lifecycle(enum.StrEnum):
    ENTRY = "ENTRY"
    MONITORING = "MONITORING"
    STOP_TRIGGERED = "STOP_TRIGGERED"
    TP_TRIGGERED = "TP_TRIGGERED"
    TRAILING_TRIGGERED = "TRAILING_TRIGGERED"
    EXPIRY = "EXPIRY"
    EXIT_PENDING = "EXIT_PENDING"
    DUST = "DUST"
    AWAITING_REDEMPTION = "AWAITING_REDEMPTION"
    CLOSED = "CLOSED"


OPEN_STATES = (Lifecycle.ENTRY, Lifecycle.MONITORING)
HELD_STATES = (Lifecycle.DUST, Lifecycle.AWAITING_REDEMPTION)  # no order can sell these


@dataclass(frozen=True, slots=True)
class ExitPolicy:
    stop_loss: int = 0  # parts per million of the entry price; 0 is off
    take_profit: int = 0
    trailing: int = 0
    exit_before_end_ms: int = 0

    @classmethod
    def from_config(cls, cfg: ExitsConfig) -> ExitPolicy:
        return cls(
            stop_loss=round(cfg.stop_loss_pct * 10_000),
            take_profit=round(cfg.take_profit_pct * 10_000),
            trailing=round(cfg.trailing_pct * 10_000),
            exit_before_end_ms=round(cfg.exit_before_end_s * 1000),
        )

    def stop_price(self, entry: Micros) -> Micros:
        return entry - entry * self.stop_loss // ONE if self.stop_loss else 0

    def target_price(self, entry: Micros) -> Micros:
        return entry + entry * self.take_profit // ONE if self.take_profit else 0

    def describe(self) -> dict[str, float]:
        return {
            "stop_loss_pct": self.stop_loss / 10_000,
            "take_profit_pct": self.take_profit / 10_000,
            "trailing_pct": self.trailing / 10_000,
            "exit_before_end_s": self.exit_before_end_ms / 1000,
        }


def policies(
    default: ExitsConfig, builtin: dict[str, dict[str, Any]], configured: dict[str, dict[str, Any]]
) -> dict[str, ExitPolicy]:
    """Per-strategy policies: [exits], then the strategy's own defaults, then
    [strategies.exits.NAME] from bot.toml."""
    base = {f: getattr(default, f) for f in ExitsConfig.__dataclass_fields__}
    out: dict[str, ExitPolicy] = {}
    for name in set(builtin) | set(configured):
        merged = {**base, **builtin.get(name, {}), **configured.get(name, {})}
        cfg = build_section(ExitsConfig, merged, f"strategies.exits.{name}.")
        for key in ("stop_loss_pct", "trailing_pct", "exit_before_end_s", "take_profit_pct"):
            if getattr(cfg, key) < 0:
                raise ConfigError(f"strategies.exits.{name}.{key}: must not be negative")
        out[name] = ExitPolicy.from_config(cfg)
    out[""] = ExitPolicy.from_config(default)
    return out


@dataclass(frozen=True, slots=True)
class ExitDecision:
    trigger: Lifecycle
    threshold: str  # the rule and its setting, e.g. "stop_loss_pct=10 (stop 0.495)"
    trigger_price: Micros  # the bid that fired it
    intended_price: Micros  # the price the exit order asks


def set_levels(position: Position, policy: ExitPolicy) -> None:
    """Stop and target follow the average entry price while the position builds."""
    entry = position.entry_price
    position.stop_price = policy.stop_price(entry)
    position.target_price = policy.target_price(entry)


def decide(
    position: Position, bid: Micros, now_ms: int, window_end_ms: int, policy: ExitPolicy
) -> ExitDecision | None:
    """The single exit decision; see the module docstring for the priority."""
    if position.state not in OPEN_STATES or position.shares <= 0:
        return None
    if policy.exit_before_end_ms and now_ms >= window_end_ms - policy.exit_before_end_ms:
        rule = f"exit_before_end_s={policy.exit_before_end_ms / 1000:g}"
        return ExitDecision(Lifecycle.EXPIRY, rule, bid, bid)
    stop = position.stop_price
    if stop and bid <= stop:
        rule = f"stop_loss_pct={policy.stop_loss / 10_000:g} (stop {stop / ONE:g})"
        return ExitDecision(Lifecycle.STOP_TRIGGERED, rule, bid, bid)
    entry = position.entry_price
    if policy.trailing and position.peak > entry:
        floor = position.peak - position.peak * policy.trailing // ONE
        if bid <= floor:
            rule = (
                f"trailing_pct={policy.trailing / 10_000:g} (peak {position.peak / ONE:g},"
                f" floor {floor / ONE:g})"
            )
            return ExitDecision(Lifecycle.TRAILING_TRIGGERED, rule, bid, bid)
    target = position.target_price
    if target and bid >= target:
        rule = f"take_profit_pct={policy.take_profit / 10_000:g} (target {target / ONE:g})"
        return ExitDecision(Lifecycle.TP_TRIGGERED, rule, bid, bid)
    return None
