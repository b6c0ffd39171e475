"""Typed, frozen configuration from `bot.toml`, with a safe default for every setting.

Every error names the key and what was wrong in one line (`ConfigError`), so that
`bot run` can stop with exit code 2 before anything trades.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.config_alerts import AlertsConfig, alerts_problem, secret_in_toml
from bot.config_polymarket import PolymarketConfig, discovery_problem, feed_problem
from bot.errors import BotError
from bot.figures import quoted
from bot.model import Mode


class ConfigError(BotError, ValueError):
    """The configuration cannot be used; the message names the key."""


@dataclass(frozen=True)
class MarketConfig:
    """The simulated market (PAPER mode's embedded default)."""

    seed: int = 7
    instruments: tuple[str, ...] = ("BTC", "ETH", "SOL")
    start_prices: tuple[float, ...] = (97_000.0, 3_100.0, 140.0)
    window_s: int = 300
    tick_s: float = 1.0
    volatility_per_s: float = 0.0004
    spread: float = 0.02
    mispricing: float = 0.04
    forecast_noise: float = 0.01
    tick: float = 0.01
    min_size: float = 5.0
    fee_rate: float = 0.0


@dataclass(frozen=True)
class PaperConfig:
    starting_balance: float = 100.0


@dataclass(frozen=True)
class RiskConfig:
    """Hard limits the order manager enforces on every entry, whatever the strategy."""

    max_position_usd: float = 5.0
    max_market_exposure_usd: float = 10.0
    max_total_exposure_usd: float = 50.0
    max_open_orders: int = 20
    max_orders_per_window: int = 2
    daily_loss_limit_usd: float = 20.0  # the daily loss limit: Limits.max_session_loss in the code
    max_consecutive_losses: int = 5
    trading_day_start_hour_utc: int = 0
    venue_error_limit: int = 3
    venue_error_window_s: float = 300.0
    disable_losing_strategies: bool = False
    disable_after_trades: int = 20
    disable_below_win_rate: float = 0.40


@dataclass(frozen=True)
class CapsConfig:
    """The most an ADJUST_RISK file may set. Unset: the [risk] value is the cap."""

    max_position_usd: float | None = None
    max_session_loss: float | None = None


@dataclass(frozen=True)
class ExitsConfig:
    """When a position is sold before its market resolves. 0 turns a rule off."""

    stop_loss_pct: float = 10.0
    take_profit_pct: float = 30.0
    trailing_pct: float = 0.0
    exit_before_end_s: float = 0.0


@dataclass(frozen=True)
class LogsConfig:
    """Size-based rotation of logs/*.jsonl and bot.log (bot/logfiles.py). 0: never rotate."""

    max_bytes: int = 50_000_000
    keep: int = 5  # NAME.1 ... NAME.keep; older ones are deleted


@dataclass(frozen=True)
class StrategiesConfig:
    enabled: tuple[str, ...] = ("canary", "edge")
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    exits: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    mode: Mode = Mode.PAPER
    speed: float = 1.0
    heartbeat_s: float = 5.0
    state_refresh_s: float = 2.0
    console_summary_s: float = 30.0  # bot run's one-line terminal summary; 0: none
    wallet: str = ""
    market: MarketConfig = field(default_factory=MarketConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    caps: CapsConfig = field(default_factory=CapsConfig)
    exits: ExitsConfig = field(default_factory=ExitsConfig)
    polymarket: PolymarketConfig = field(default_factory=PolymarketConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    strategies: StrategiesConfig = field(default_factory=StrategiesConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    @property
    def cap_position_usd(self) -> float:
        return self.caps.max_position_usd or self.risk.max_position_usd

    @property
    def cap_session_loss(self) -> float:
        return self.caps.max_session_loss or self.risk.daily_loss_limit_usd


_POSITIVE = {
    "speed",
    "heartbeat_s",
    "state_refresh_s",
    "market.window_s",
    "market.tick_s",
    "market.tick",
    "market.min_size",
    "market.volatility_per_s",
    "risk.max_position_usd",
    "risk.max_open_orders",
    "risk.max_total_exposure_usd",
    "risk.max_market_exposure_usd",
    "risk.max_orders_per_window",
    "risk.daily_loss_limit_usd",
    "risk.max_consecutive_losses",
    "risk.venue_error_limit",
    "risk.venue_error_window_s",
    "risk.disable_after_trades",
    "polymarket.poll_interval_s",
    "polymarket.confirm_timeout_s",
    "polymarket.stale_feed_s",
    "polymarket.ws_silence_s",
    "polymarket.price_silence_s",
    "polymarket.fair_vol_per_s",
    "polymarket.redeem_interval_s",
    "polymarket.discovery_lead_s",
    "polymarket.discovery_refresh_s",
    "polymarket.discovery_poll_s",
    "polymarket.resolve_poll_s",
}
_NON_NEGATIVE = {
    "logs.max_bytes",
    "console_summary_s",
    "market.spread",
    "market.mispricing",
    "market.forecast_noise",
    "market.fee_rate",
    "paper.starting_balance",
    "risk.disable_below_win_rate",
    "exits.stop_loss_pct",
    "exits.take_profit_pct",
    "exits.trailing_pct",
    "exits.exit_before_end_s",
}


MAX_CONFIG_BYTES = 1024 * 1024
MAX_DEPTH = 16  # tables and lists nested deeper than this are no setting of ours
MAX_NUMBER = 10**12  # no setting is anywhere near; beyond, sums and SQLite integers overflow
MAX_USD = 10**9  # money settings, in USD: a billion, 10^15 micros, far inside 64 bits
_MONEY = {
    "paper.starting_balance",
    "risk.max_position_usd",
    "risk.max_market_exposure_usd",
    "risk.max_total_exposure_usd",
    "risk.daily_loss_limit_usd",
    "caps.max_position_usd",
    "caps.max_session_loss",
}
MIN_PERIOD_S = 0.05  # the shortest heartbeat, state refresh or venue poll
MAX_SECONDS = 10**7  # durations (about 115 days): thread waits refuse far larger timeouts


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read `path` (None: defaults only) and apply dotted `overrides` from the command line.

    The file is checked on its own first, so an override (`--speed`) never hides a bad
    value in the file."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_toml(path)
        _check_depth(data, "")
        _check_ranges(_build(Config, data, ""))
    if not overrides:
        return _build_checked(data)
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{dotted}: {part} is not a table")
        node[leaf] = value
    return _build_checked(data)


def _build_checked(data: dict[str, Any]) -> Config:
    config = _build(Config, data, "")
    _check_ranges(config)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    from bot.safefile import FileRefused, read_small

    try:
        raw = read_small(path, MAX_CONFIG_BYTES)
    except FileRefused as exc:
        what = "config file not found" if exc.reason == "no such file" else exc.reason
        raise ConfigError(f"{path}: {what}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line, col = _place(raw, exc.start)
        reason = f"not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        raise ConfigError(f"{path}:{line}:{col}: not valid TOML: {reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error(path, raw, str(exc))) from None
    except RecursionError:
        raise ConfigError(f"{path}: not usable TOML: nested too deep") from None


_TOML_PLACE = re.compile(r"^(.*) \((?:at line (\d+), column (\d+)|at end of document)\)$", re.DOTALL)


def _toml_error(path: Path, raw: bytes, text: str) -> str:
    """tomllib's "Invalid value (at line 1, column 6)" as the house `FILE:1:6: reason`."""
    found = _TOML_PLACE.match(text)
    if found is None:
        return f"{path}: not valid TOML: {text}"
    reason, line, col = found.groups()
    if line is None:  # at end of document: the place after the last character
        at_end = _place(raw, len(raw))
        line, col = str(at_end[0]), str(at_end[1])
    return f"{path}:{line}:{col}: not valid TOML: {reason}"


def _place(raw: bytes, offset: int) -> tuple[int, int]:
    """(line, character column), from 1, of the byte at `offset` of UTF-8 text."""
    before = raw[:offset]
    start = before.rfind(b"\n") + 1
    return before.count(b"\n") + 1, len(before[start:].decode("utf-8", "replace")) + 1


def _check_depth(data: Any, key: str) -> None:
    """Refuse nesting no setting has, before anything recurses into it."""
    stack: list[tuple[Any, str, int]] = [(data, key, 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where or 'config'}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(node))


def build_section(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass `cls` from a TOML table, naming keys as `prefix` + key in errors."""
    return _build(cls, data, prefix)


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names and (secret := secret_in_toml(prefix, key)):
            raise ConfigError(secret)
        if key not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"{prefix}{key}: unknown key (known here: {known})")
    values = {key: _coerce(hints[key], value, f"{prefix}{key}") for key, value in data.items()}
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type, hint), value, key + ".")
    scalar = _SCALARS.get(hint)
    if scalar is not None:
        return scalar(value, key)
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {quoted(value)}")
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        return _tables(value, key)
    if isinstance(hint, types.UnionType):  # X | None: TOML has no null, so absent means None
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(inner, value, key)
    raise ConfigError(f"{key}: unsupported setting")  # pragma: no cover


def _mode(value: Any, key: str) -> Mode:
    try:
        return Mode(str(value).upper().replace("-", "_"))
    except ValueError:
        choices = ", ".join(m.value.lower() for m in Mode)
        raise ConfigError(f"{key}: {value!r} is not a mode ({choices})") from None


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{key}: expected true or false, got {quoted(value)}")


def _int(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return int(_bounded(key, value))
    raise ConfigError(f"{key}: expected a whole number, got {quoted(value)}")


def _float(value: Any, key: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(_bounded(key, value))
    raise ConfigError(f"{key}: expected a number, got {quoted(value)}")


def _str(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    raise ConfigError(f"{key}: expected a string, got {quoted(value)}")


def _tables(value: Any, key: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table, got {quoted(value)}")
    for name, sub in value.items():
        if not isinstance(sub, dict):
            raise ConfigError(f"{key}.{name}: expected a table, got {quoted(sub)}")
    return {str(k): dict(v) for k, v in value.items()}


_SCALARS: dict[Any, Callable[[Any, str], Any]] = {
    Mode: _mode,
    bool: _bool,
    int: _int,
    float: _float,
    str: _str,
}


def _bounded(key: str, value: int | float) -> int | float:
    if abs(value) > MAX_NUMBER:
        shown = str(value) if isinstance(value, int) else f"{value:g}"
        raise ConfigError(f"{key}: {shown} is too large (at most {MAX_NUMBER:.0e} in absolute value)")
    return value


def _check_ranges(config: Config) -> None:
    flat = _flatten(config.to_dict())
    _check_sizes(flat)
    if config.speed > 10**6:
        raise ConfigError(f"speed: {config.speed:g} is too fast (at most 1e6)")
    if not 1 <= config.logs.keep <= 1000:
        raise ConfigError(f"logs.keep: must be from 1 to 1000, got {config.logs.keep!r}")
    if problem := feed_problem(config.polymarket):
        raise ConfigError(problem)
    _check_market(config.market)
    _check_risk(config)
    if problem := discovery_problem(config.polymarket) or alerts_problem(config.alerts):
        raise ConfigError(problem)


def _check_sizes(flat: dict[str, Any]) -> None:
    """Numbers within what the bot can use: money and durations bounded, periods not spinning,
    the keys that must be positive or non-negative."""
    for key, value in flat.items():
        if key in _MONEY and value is not None and value > MAX_USD:
            raise ConfigError(f"{key}: {value:g} USD is too large (at most {MAX_USD:.0e})")
        if key.endswith("_s") and isinstance(value, int | float) and value > MAX_SECONDS:
            raise ConfigError(f"{key}: {value:g} s is too long (at most {MAX_SECONDS:.0e} s)")
    for key in ("heartbeat_s", "state_refresh_s", "polymarket.poll_interval_s"):
        if 0 < flat[key] < MIN_PERIOD_S:  # a period this short would only spin the loop
            raise ConfigError(f"{key}: {flat[key]:g} s is too short (at least {MIN_PERIOD_S:g} s)")
    for key in _POSITIVE:
        if flat[key] <= 0:
            raise ConfigError(f"{key}: must be greater than 0, got {flat[key]!r}")
    for key in _NON_NEGATIVE:
        if flat[key] is not None and flat[key] < 0:
            raise ConfigError(f"{key}: must not be negative, got {flat[key]!r}")


def _check_market(market: MarketConfig) -> None:
    if len(market.start_prices) != len(market.instruments):
        raise ConfigError("market.start_prices: needs one price per entry of market.instruments")
    if any(p <= 0 for p in market.start_prices):
        raise ConfigError("market.start_prices: prices must be greater than 0")
    if not 0 < market.tick < 0.5:
        raise ConfigError(f"market.tick: must be between 0 and 0.5, got {market.tick!r}")
    tick = Decimal(str(market.tick))
    if Decimal(1) % tick or tick.as_tuple().exponent < -4:  # type: ignore[operator]
        raise ConfigError(f"market.tick: {market.tick!r} must divide 1 with at most 4 decimals (0.01, 0.001)")
    if market.fee_rate > 1:
        raise ConfigError(f"market.fee_rate: must be at most 1, got {market.fee_rate!r}")
    if len(set(market.instruments)) != len(market.instruments) or not market.instruments:
        raise ConfigError("market.instruments: needs at least one name, each once")


def _check_risk(config: Config) -> None:
    risk = config.risk
    if not 0 <= risk.trading_day_start_hour_utc <= 23:
        raise ConfigError("risk.trading_day_start_hour_utc: must be an hour from 0 to 23")
    if risk.disable_below_win_rate > 1:
        raise ConfigError("risk.disable_below_win_rate: a fraction from 0 to 1, e.g. 0.4")
    for key, cap, value in (
        ("caps.max_position_usd", config.caps.max_position_usd, risk.max_position_usd),
        ("caps.max_session_loss", config.caps.max_session_loss, risk.daily_loss_limit_usd),
    ):
        if cap is not None and cap < value:
            raise ConfigError(f"{key}: {cap:g} is below the [risk] value {value:g} it caps")
        if cap is not None and cap <= 0:
            raise ConfigError(f"{key}: must be greater than 0, got {cap!r}")
    for pct in ("stop_loss_pct", "take_profit_pct", "trailing_pct"):
        if getattr(config.exits, pct) >= 100 and pct != "take_profit_pct":
            raise ConfigError(f"exits.{pct}: must be below 100")


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and not (prefix == "strategies." and key in ("params", "exits")):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mode):
        return value.value
    return value
