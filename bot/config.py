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

from bot.errors import BotError
from bot.layout import EMERGENCY_STOP
from bot.model import Mode


class ConfigError(BotError, ValueError):
    """The configuration cannot be used; the message names the key."""


_ERRORS = ("HALTED", EMERGENCY_STOP, "ORDER_UNKNOWN", "TRADE_FAILED", "DAILY_LOSS_LIMIT")
ALERT_EVENTS = (*_ERRORS, "FEED_STALE", "DRAWDOWN", "DAILY_SUMMARY")
OPT_IN_ALERTS = ("CONTROL",)


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
class PolymarketConfig:
    """LIVE and DRY_RUN: the venue and the markets to trade. Secrets come from the
    environment only (POLYMARKET_PRIVATE_KEY, POLYMARKET_API_KEY/SECRET/PASSPHRASE)."""

    host: str = "https://clob.polymarket.com"
    chain_id: int = 137
    signature_type: int = 0
    funder: str = ""
    markets: tuple[str, ...] = ()  # explicit: token ids, condition ids or Gamma slugs
    series: tuple[str, ...] = ()  # recurring windows rolled through forever: btc-updown-5m, ...
    gamma_host: str = "https://gamma-api.polymarket.com"
    discovery_lead_s: float = 60.0  # each window validated and subscribed this long before it opens
    discovery_refresh_s: float = 60.0  # a known window re-read from Gamma at most this often
    discovery_poll_s: float = 5.0  # how often the roller looks at Gamma (its own thread)
    resolve_poll_s: float = 15.0  # an ended window re-read this often until it resolves
    poll_interval_s: float = 1.0
    confirm_timeout_s: float = 5.0
    stale_feed_s: float = 10.0
    venue_heartbeat: bool = False
    market_feed: str = "rest"  # or "websocket": the CLOB market websocket, REST as its fallback
    market_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    ws_silence_s: float = 30.0  # a socket silent this long is reconnected (a gap)
    user_channel: bool = True  # LIVE: fills from the CLOB user websocket as they happen
    user_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    prices: bool = True  # the underlying's price stream and the fair value on every book tick
    price_ws_url: str = "wss://ws-live-v2.polymarket.com/ws"  # PolyBolt: the Chainlink 60 s TWAP
    binance_ws_url: str = "wss://stream.binance.com:9443/ws"  # the hourly windows' candle
    price_silence_s: float = 10.0  # no price this long: no fair value, the socket reconnected
    fair_vol_per_s: float = 0.0001  # volatility per sqrt(second) until enough prices are seen
    auto_redeem: bool = False  # LIVE: redeem won positions on chain after each resolution
    rpc_url: str = ""  # a Polygon JSON-RPC URL: an EOA wallet (signature_type 0) redeems through it
    redeem_interval_s: float = 15.0  # how often pending redemptions are looked at
    relayer_url: str = "https://relayer-v2.polymarket.com"  # proxy and Safe wallets redeem through it


@dataclass(frozen=True)
class LogsConfig:
    """Size-based rotation of logs/*.jsonl and bot.log (bot/logfiles.py). 0: never rotate."""

    max_bytes: int = 50_000_000
    keep: int = 5  # NAME.1 ... NAME.keep; older ones are deleted


@dataclass(frozen=True)
class WebhookConfig:
    """A Discord, Slack or plain-JSON webhook: its URL comes from the environment variable
    named here (a webhook URL is a secret: bot.toml never holds it)."""

    url_env: str = ""


@dataclass(frozen=True)
class TelegramConfig:
    """Telegram's sendMessage: the bot token from the variable named in `token_env`."""

    token_env: str = ""
    chat_id: str = ""
    api_url: str = "https://api.telegram.org"


@dataclass(frozen=True)
class AlertsConfig:
    """Webhooks posted from inside the bot (bot/notify.py, bot/webhooks.py), off the engine's
    thread. Events: HALTED, EMERGENCY_STOP, ORDER_UNKNOWN, TRADE_FAILED, DAILY_LOSS_LIMIT,
    FEED_STALE, DRAWDOWN, DAILY_SUMMARY, and CONTROL (any other control applied; opt-in)."""

    events: tuple[str, ...] = ALERT_EVENTS
    drawdown_pct: float = 0.0  # equity this far below its peak in the session; 0: off
    summary_at: str = ""  # "HH:MM" (UTC, wall clock), "day_end" (the trading day's end), "": none
    repeat_s: float = 600.0  # the same alert (event and market) at most once in this time
    rate_per_minute: int = 20  # per destination; the excess is folded into a count
    attempts: int = 4
    backoff_s: float = 0.5  # doubled after each failed attempt
    timeout_s: float = 5.0
    queue_size: int = 100  # alerts waiting for the sender; beyond, dropped and counted
    discord: WebhookConfig = field(default_factory=WebhookConfig)
    slack: WebhookConfig = field(default_factory=WebhookConfig)
    json: WebhookConfig = field(default_factory=WebhookConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)

    def variables(self) -> list[tuple[str, str]]:
        """(the setting, the environment variable it names) for each destination configured."""
        named = [(f"alerts.{s}.url_env", getattr(self, s).url_env) for s in ("discord", "slack", "json")]
        named.append(("alerts.telegram.token_env", self.telegram.token_env))
        return [(key, env) for key, env in named if env]


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
MARKET_FEEDS = ("rest", "websocket")
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
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not usable TOML: nested too deep") from None


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
        if key not in names and prefix.startswith("alerts.") and key in _SECRET_KEYS:
            raise ConfigError(
                f"{prefix}{key}: a webhook URL or token is a secret and is never read from bot.toml;"
                f" put it in an environment variable and name the variable in {prefix}{_SECRET_KEYS[key]}"
            )
        if key not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"{prefix}{key}: unknown key (known here: {known})")
    values = {key: _coerce(hints[key], value, f"{prefix}{key}") for key, value in data.items()}
    return cls(**values)


_SECRET_KEYS = {"url": "url_env", "webhook": "url_env", "token": "token_env", "bot_token": "token_env"}


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
            raise ConfigError(f"{key}: expected a list, got {_short(value)}")
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
    raise ConfigError(f"{key}: expected true or false, got {_short(value)}")


def _int(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return int(_bounded(key, value))
    raise ConfigError(f"{key}: expected a whole number, got {_short(value)}")


def _float(value: Any, key: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(_bounded(key, value))
    raise ConfigError(f"{key}: expected a number, got {_short(value)}")


def _str(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    raise ConfigError(f"{key}: expected a string, got {_short(value)}")


def _tables(value: Any, key: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table, got {_short(value)}")
    for name, sub in value.items():
        if not isinstance(sub, dict):
            raise ConfigError(f"{key}.{name}: expected a table, got {_short(sub)}")
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


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_ranges(config: Config) -> None:
    flat = _flatten(config.to_dict())
    _check_sizes(flat)
    if config.speed > 10**6:
        raise ConfigError(f"speed: {config.speed:g} is too fast (at most 1e6)")
    if not 1 <= config.logs.keep <= 1000:
        raise ConfigError(f"logs.keep: must be from 1 to 1000, got {config.logs.keep!r}")
    if config.polymarket.market_feed not in MARKET_FEEDS:
        choices = " or ".join(f'"{f}"' for f in MARKET_FEEDS)
        raise ConfigError(f"polymarket.market_feed: {config.polymarket.market_feed!r} is not {choices}")
    _check_market(config.market)
    _check_risk(config)
    _check_discovery(config.polymarket)
    _check_alerts(config.alerts)


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


_SERIES_NAME = re.compile(r"^[a-z0-9]+-(updown|up-or-down)-[0-9a-z]+$")
_MARKET_REF = re.compile(r"^(0x[0-9a-fA-F]{64}|[0-9]+|[a-z0-9][a-z0-9-]*|https?://\S*polymarket\.com/\S+)$")


def _check_discovery(pm: PolymarketConfig) -> None:
    """The names' shape; which coins and timeframes exist: at start (bot/markets/, a higher layer)."""
    for i, name in enumerate(pm.series):
        if not _SERIES_NAME.match(name.strip().lower()):
            raise ConfigError(
                f"polymarket.series[{i}]: {name!r} is not a series name: expected"
                " <coin>-updown-<timeframe>, e.g. btc-updown-5m"
            )
    for i, ref in enumerate(pm.markets):
        text = ref.strip()
        if not _MARKET_REF.match(text) or (text.startswith("0x") and len(text) != 66):
            raise ConfigError(
                f"polymarket.markets[{i}]: {ref!r} is not a token id, a 0x condition id"
                " (64 hex digits) or a market slug"
            )
    if not pm.gamma_host.startswith(("http://", "https://")):
        raise ConfigError(f"polymarket.gamma_host: {pm.gamma_host!r} is not an http(s) URL")


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


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SUMMARY_AT = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _check_alerts(alerts: AlertsConfig) -> None:
    known = ALERT_EVENTS + OPT_IN_ALERTS
    for i, event in enumerate(alerts.events):
        if event not in known:
            raise ConfigError(f"alerts.events[{i}]: {_short(event)} is not an event ({', '.join(known)})")
    for name in ("discord", "slack", "json", "telegram"):
        section = getattr(alerts, name)
        key, env = ("token_env", section.token_env) if name == "telegram" else ("url_env", section.url_env)
        if env and not _ENV_NAME.fullmatch(env):  # never echoed: it may be the secret itself
            raise ConfigError(
                f"alerts.{name}.{key}: must name an environment variable (letters, digits, _),"
                " not hold the URL or token itself"
            )
    telegram = alerts.telegram
    if telegram.token_env and not telegram.chat_id:
        raise ConfigError("alerts.telegram.chat_id: needed with alerts.telegram.token_env")
    if not telegram.api_url.startswith(("http://", "https://")) or "/bot" in telegram.api_url:
        raise ConfigError("alerts.telegram.api_url: an http(s) address without the token (/bot...)")
    if alerts.summary_at not in ("", "day_end") and not _SUMMARY_AT.fullmatch(alerts.summary_at):
        raise ConfigError(
            f'alerts.summary_at: {_short(alerts.summary_at)} is not HH:MM (UTC), "day_end" or ""'
        )
    if not 0 <= alerts.drawdown_pct < 100:
        raise ConfigError(f"alerts.drawdown_pct: must be from 0 to below 100, got {alerts.drawdown_pct!r}")
    for key in ("rate_per_minute", "attempts", "queue_size"):
        if not 1 <= getattr(alerts, key) <= 10_000:
            raise ConfigError(f"alerts.{key}: must be from 1 to 10000, got {getattr(alerts, key)!r}")
    for key in ("backoff_s", "timeout_s", "repeat_s"):
        if getattr(alerts, key) < 0 or (key == "timeout_s" and alerts.timeout_s <= 0):
            what = "greater than 0" if key == "timeout_s" else "0 or more"
            raise ConfigError(f"alerts.{key}: must be {what}, got {getattr(alerts, key)!r}")


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
