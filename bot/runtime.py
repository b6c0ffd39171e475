"""Runtime risk controls: what `controls/ADJUST_RISK` may change, within the owner's caps.

The file holds either a number (the maximum position size in USD, the operator's habit:
`echo 10 > controls/ADJUST_RISK`) or a JSON object with any of:

    max_position_usd      number > 0, at most [caps] max_position_usd
    max_session_loss      number > 0, at most [caps] max_session_loss (the daily loss limit)
    allowed_instruments   list of configured instrument names, or null for all
    allowed_strategies    list of enabled strategy names, or null for all
    trading_mode          a mode no riskier than the running one; never LIVE

Anything else is rejected with the reason and nothing is applied. Accepted values are
persisted in the journal's `runtime_controls` table and survive a restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from bot.errors import BotError
from bot.model import Micros, Mode, to_micros, usd

KEYS = ("max_position_usd", "max_session_loss", "allowed_instruments", "allowed_strategies", "trading_mode")
_RISK_ORDER = {Mode.BACKTEST: 0, Mode.PAPER: 0, Mode.DRY_RUN: 1, Mode.LIVE: 2}


class AdjustError(BotError, ValueError):
    """The ADJUST_RISK file cannot be applied; the message says why, in one line.

    `incomplete` is true when the text may still be being written (empty, cut inside a
    UTF-8 character or inside the JSON): only then does the bot give the file a moment
    more. A complete file that breaks a rule (over a cap, an unknown key, a wrong type) is
    refused at once."""

    def __init__(self, message: str, *, incomplete: bool = False) -> None:
        super().__init__(message)
        self.incomplete = incomplete


@dataclass(frozen=True)
class Limits:
    """The effective runtime limits: the configuration, tightened by ADJUST_RISK."""

    max_position: Micros
    max_session_loss: Micros
    cap_position: Micros
    cap_session_loss: Micros
    instruments: tuple[str, ...]
    strategies: tuple[str, ...]
    mode: Mode
    allowed_instruments: frozenset[str] | None = None
    allowed_strategies: frozenset[str] | None = None
    trading_mode: Mode | None = None

    def with_values(self, values: dict[str, Any]) -> Limits:
        changes: dict[str, Any] = {}
        if "max_position_usd" in values:
            changes["max_position"] = to_micros(str(values["max_position_usd"]))
        if "max_session_loss" in values:
            changes["max_session_loss"] = to_micros(str(values["max_session_loss"]))
        if "allowed_instruments" in values:
            v = values["allowed_instruments"]
            changes["allowed_instruments"] = None if v is None else frozenset(v)
        if "allowed_strategies" in values:
            v = values["allowed_strategies"]
            changes["allowed_strategies"] = None if v is None else frozenset(v)
        if "trading_mode" in values:
            changes["trading_mode"] = Mode(values["trading_mode"])
        return replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        return {
            "max_position_usd": self.max_position / 1e6,
            "max_session_loss": self.max_session_loss / 1e6,
            "allowed_instruments": sorted(self.allowed_instruments)
            if self.allowed_instruments is not None
            else None,
            "allowed_strategies": sorted(self.allowed_strategies)
            if self.allowed_strategies is not None
            else None,
            "trading_mode": (self.trading_mode or self.mode).value,
            "caps": {
                "max_position_usd": self.cap_position / 1e6,
                "max_session_loss": self.cap_session_loss / 1e6,
            },
        }


class CurrentLimits:
    """The one holder of the limits in force: the risk gate, the supervisor (which replaces
    them on ADJUST_RISK and at a restore) and the state files all read `value`."""

    __slots__ = ("value",)

    def __init__(self, value: Limits) -> None:
        self.value = value


def parse(data: bytes, limits: Limits) -> dict[str, Any]:
    """Validate an ADJUST_RISK file; return the values to apply (normalised)."""
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise AdjustError("not UTF-8 text: write a number or a JSON object", incomplete=True) from None
    if not text:
        raise AdjustError("empty: write a number (max position in USD) or a JSON object", incomplete=True)
    if text[0] != "{":
        return {"max_position_usd": _money("max_position_usd", text, limits.cap_position)}
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise AdjustError(f"not valid JSON: {exc}", incomplete=True) from None
    if not isinstance(raw, dict) or not raw:
        raise AdjustError("expected a JSON object with at least one key")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise AdjustError(f"unknown key {unknown[0]!r}; known keys: {', '.join(KEYS)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "max_position_usd":
            values[key] = _money(key, value, limits.cap_position)
        elif key == "max_session_loss":
            values[key] = _money(key, value, limits.cap_session_loss)
        elif key == "allowed_instruments":
            values[key] = _names(key, value, limits.instruments, "configured instruments")
        elif key == "allowed_strategies":
            values[key] = _names(key, value, limits.strategies, "enabled strategies")
        else:
            values[key] = _mode(value, limits.mode)
    return values


def _money(key: str, value: Any, cap: Micros) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise AdjustError(f"{key}: expected a number of USD, got {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise AdjustError(f"{key}: {str(value)[:40]!r} is not a number") from None
    if not amount.is_finite() or (isinstance(value, float) and not math.isfinite(value)):
        raise AdjustError(f"{key}: not a finite number")
    if amount <= 0:
        raise AdjustError(f"{key}: must be greater than 0, got {amount}")
    if amount * 1_000_000 > cap:
        raise AdjustError(f"{key}: {amount} is above the owner's cap of {usd(cap)} in bot.toml [caps]")
    if amount != amount.quantize(Decimal("0.000001")):
        raise AdjustError(f"{key}: more than 6 decimals")
    return f"{amount.normalize():f}"


def _names(key: str, value: Any, known: tuple[str, ...], what: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AdjustError(f"{key}: expected a list of names, got {value!r}"[:200])
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise AdjustError(f"{key}: {unknown[0]!r} is not one of the {what} ({', '.join(known)})")
    return sorted(set(value))


def _mode(value: Any, running: Mode) -> str:
    if not isinstance(value, str):
        raise AdjustError(f"trading_mode: expected a mode name, got {value!r}")
    try:
        mode = Mode(value.upper().replace("-", "_"))
    except ValueError:
        raise AdjustError(f"trading_mode: {value!r} is not a mode (paper, dry_run)") from None
    if mode is Mode.LIVE:
        raise AdjustError("trading_mode: a control file can never switch the bot to LIVE")
    if mode is Mode.BACKTEST or _RISK_ORDER[mode] > _RISK_ORDER[running]:
        raise AdjustError(f"trading_mode: cannot go from {running.value} to {mode.value}")
    if mode is not running:
        raise AdjustError(f"trading_mode: {running.value} has no {mode.value} venue to switch to")
    return mode.value
