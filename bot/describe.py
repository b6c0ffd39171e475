"""What status.json says about the bot itself: version, start, uptime, markets, limits.

An agent reading status.json alone should know which build runs, since when, on which
markets, and every limit that can stop an entry, with the owner's cap and where the value
came from. The session row in the journal (`sessions`: version, config, started_ms) is the
source for what was configured; the state snapshot (bot/state.py) for what is in force
now. A limit's `source` is `ADJUST_RISK` when a runtime value differs from the
configuration, `bot.toml` when the configuration differs from the built-in default,
`default` otherwise (a bot.toml that repeats a default reads as `default`: the effect is
the same). Epoch-seconds fields sit
beside the timestamps an agent computes with (jq 1.6's `fromdate` cannot read the
milliseconds of the ISO times).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from bot.config import RiskConfig
from bot.layout import ADJUST_RISK
from bot.model import Micros, iso, to_float, to_micros

if TYPE_CHECKING:
    from bot.journal import Journal
    from bot.model import Market
    from bot.risk import RiskGate
    from bot.runtime import Limits

_DEFAULT_RISK = RiskConfig()


@dataclass(frozen=True)
class SessionInfo:
    session_id: int
    version: str | None
    started_ms: int | None
    config: dict[str, Any] = field(default_factory=dict)


def epoch_s(ts_ms: int) -> float:
    """Unix epoch seconds with the milliseconds: 1795000000.123."""
    return round(ts_ms / 1000, 3)


def session_info(journal: Journal, cached: SessionInfo | None) -> SessionInfo:
    """The journal's row for the running session, read once per session: `cached` is the
    last answer, kept by the caller."""
    sid = journal.session_id
    if cached is not None and cached.session_id == sid:
        return cached
    info = SessionInfo(sid, None, None)
    if sid:
        row = journal.session_row(sid)
        if row is not None:
            try:
                config = orjson.loads(row[1] or "{}")
            except orjson.JSONDecodeError:
                config = {}
            info = SessionInfo(sid, row[0], row[2], config if isinstance(config, dict) else {})
    return info


def about(info: SessionInfo, wall_ms: int) -> dict[str, Any]:
    """The fields status.json adds about the run: version, start time, uptime."""
    started = info.started_ms
    return {
        "version": info.version,
        "started_at": iso(started) if started is not None else None,
        "started_epoch_s": epoch_s(started) if started is not None else None,
        "uptime_s": round(max(0, wall_ms - started) / 1000, 3) if started is not None else None,
    }


def markets(watched: dict[str, Market]) -> list[dict[str, Any]]:
    """The market windows the bot watches now, the soonest to end first."""
    rows = sorted(watched.values(), key=lambda m: (m.window_end_ms, m.market_id))
    return [
        {
            "market_id": m.market_id,
            "name": m.name,
            "market_name": m.name,  # the name every file uses; `name` is the first one
            "instrument": m.instrument,
            "window_start": iso(m.window_start_ms),
            "window_end": iso(m.window_end_ms),
            "window_end_epoch_s": epoch_s(m.window_end_ms),
            "strike": m.strike,
        }
        for m in rows
    ]


def _configured(config: dict[str, Any], section: str, key: str, default: Any) -> tuple[Any, str]:
    table = config.get(section)
    value = table.get(key, default) if isinstance(table, dict) else default
    if value is None or value == default:
        return default, "default"
    return value, "bot.toml"


def _row(value: Any, source: str, cap: Any, cap_source: str, adjustable: bool) -> dict[str, Any]:
    return {
        "value": value,
        "source": source,
        "cap": cap,
        "cap_source": cap_source,
        "adjustable": adjustable,
    }


def _adjustable(
    config: dict[str, Any], key: str, cap_key: str, now: Micros, cap: Micros, default: float
) -> dict[str, Any]:
    configured, source = _configured(config, "risk", key, default)
    if now != to_micros(round(float(configured), 6)):
        source = ADJUST_RISK
    caps = config.get("caps")
    cap_set = isinstance(caps, dict) and caps.get(cap_key) is not None
    cap_source = "bot.toml [caps]" if cap_set else _configured(config, "risk", key, default)[1]
    return _row(to_float(now), source, to_float(cap), cap_source, True)


def _fixed(config: dict[str, Any], key: str, now: Any) -> dict[str, Any]:
    _, source = _configured(config, "risk", key, getattr(_DEFAULT_RISK, key))
    return _row(now, source, now, source, False)


def limits(info: SessionInfo, lim: Limits, risk: RiskGate, max_consecutive: int) -> dict[str, Any]:
    """Every limit that can stop an entry, in force now, with the owner's cap and its source.

    Only max_position_usd and daily_loss_limit_usd can be changed at runtime (ADJUST_RISK,
    up to the cap); for the others the owner's setting is both the value and the cap."""
    config = info.config
    return {
        "max_position_usd": _adjustable(
            config,
            "max_position_usd",
            "max_position_usd",
            lim.max_position,
            lim.cap_position,
            _DEFAULT_RISK.max_position_usd,
        ),
        "daily_loss_limit_usd": _adjustable(
            config,
            "daily_loss_limit_usd",
            "max_session_loss",
            lim.max_session_loss,
            lim.cap_session_loss,
            _DEFAULT_RISK.daily_loss_limit_usd,
        ),
        "max_total_exposure_usd": _fixed(config, "max_total_exposure_usd", to_float(risk.max_exposure)),
        "max_market_exposure_usd": _fixed(
            config, "max_market_exposure_usd", to_float(risk.max_market_exposure)
        ),
        "max_open_orders": _fixed(config, "max_open_orders", risk.max_open_orders),
        "max_orders_per_window": _fixed(config, "max_orders_per_window", risk.max_orders_per_window),
        "max_consecutive_losses": _fixed(config, "max_consecutive_losses", max_consecutive),
    }
