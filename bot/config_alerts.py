"""The `[alerts]` settings of bot.toml: the events, the destinations and their checks.

Each check returns the one-line problem (or None); `bot.config` raises it as a
`ConfigError`, so this module needs nothing from there. A webhook URL or token is a
secret: bot.toml only names the environment variable that holds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.figures import quoted
from bot.layout import EMERGENCY_STOP

_ERRORS = ("HALTED", EMERGENCY_STOP, "ORDER_UNKNOWN", "TRADE_FAILED", "DAILY_LOSS_LIMIT")
ALERT_EVENTS = (*_ERRORS, "FEED_STALE", "DRAWDOWN", "DAILY_SUMMARY")
OPT_IN_ALERTS = ("CONTROL",)


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


# a key someone may write for the secret itself -> the key that names its variable
_SECRET_KEYS = {"url": "url_env", "webhook": "url_env", "token": "token_env", "bot_token": "token_env"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SUMMARY_AT = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def secret_in_toml(prefix: str, key: str) -> str | None:
    """The refusal of an unknown `key` in an [alerts] table that would hold a URL or token."""
    if not prefix.startswith("alerts.") or key not in _SECRET_KEYS:
        return None
    return (
        f"{prefix}{key}: a webhook URL or token is a secret and is never read from bot.toml;"
        f" put it in an environment variable and name the variable in {prefix}{_SECRET_KEYS[key]}"
    )


def alerts_problem(alerts: AlertsConfig) -> str | None:
    """The first thing wrong with [alerts], or None."""
    known = ALERT_EVENTS + OPT_IN_ALERTS
    for i, event in enumerate(alerts.events):
        if event not in known:
            return f"alerts.events[{i}]: {quoted(event)} is not an event ({', '.join(known)})"
    for name in ("discord", "slack", "json", "telegram"):
        section = getattr(alerts, name)
        key, env = ("token_env", section.token_env) if name == "telegram" else ("url_env", section.url_env)
        if env and not _ENV_NAME.fullmatch(env):  # never echoed: it may be the secret itself
            return (
                f"alerts.{name}.{key}: must name an environment variable (letters, digits, _),"
                " not hold the URL or token itself"
            )
    return _telegram_problem(alerts.telegram) or _numbers_problem(alerts)


def _telegram_problem(telegram: TelegramConfig) -> str | None:
    if telegram.token_env and not telegram.chat_id:
        return "alerts.telegram.chat_id: needed with alerts.telegram.token_env"
    if not telegram.api_url.startswith(("http://", "https://")) or "/bot" in telegram.api_url:
        return "alerts.telegram.api_url: an http(s) address without the token (/bot...)"
    return None


def _numbers_problem(alerts: AlertsConfig) -> str | None:
    if alerts.summary_at not in ("", "day_end") and not _SUMMARY_AT.fullmatch(alerts.summary_at):
        return f'alerts.summary_at: {quoted(alerts.summary_at)} is not HH:MM (UTC), "day_end" or ""'
    if not 0 <= alerts.drawdown_pct < 100:
        return f"alerts.drawdown_pct: must be from 0 to below 100, got {alerts.drawdown_pct!r}"
    for key in ("rate_per_minute", "attempts", "queue_size"):
        if not 1 <= getattr(alerts, key) <= 10_000:
            return f"alerts.{key}: must be from 1 to 10000, got {getattr(alerts, key)!r}"
    for key in ("backoff_s", "timeout_s", "repeat_s"):
        if getattr(alerts, key) < 0 or (key == "timeout_s" and alerts.timeout_s <= 0):
            what = "greater than 0" if key == "timeout_s" else "0 or more"
            return f"alerts.{key}: must be {what}, got {getattr(alerts, key)!r}"
    return None
