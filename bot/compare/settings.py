"""The session's settings, rebuilt from the config it stored in the journal, for its replay."""

from __future__ import annotations

from typing import Any

import orjson

from bot.compare.model import CompareError, one_line
from bot.config import Config, ConfigError, load_config
from bot.model import to_float
from bot.strategies import build_strategies


def stored_config(text: str | None, session_id: int) -> dict[str, Any]:
    try:
        stored = orjson.loads(text or "")
    except orjson.JSONDecodeError:
        stored = None
    if not isinstance(stored, dict):
        raise CompareError(f"session {session_id}: its stored config is not a JSON object")
    return stored


def rebuild_config(stored: dict[str, Any], balance: int, session_id: int) -> Config:
    """The session's settings, with the cash it started with as the replay's balance."""
    data = _without_nulls(stored)
    paper = data.get("paper")
    data["paper"] = {**(paper if isinstance(paper, dict) else {}), "starting_balance": to_float(balance)}
    try:
        config = load_config(None, data)
        build_strategies(config.strategies.enabled, config.strategies.params)  # unknown names, params
        return config
    except ConfigError as exc:
        raise CompareError(
            f"session {session_id}: its stored config does not load in this version: {one_line(exc)}"
        ) from None


def _without_nulls(value: Any) -> Any:
    # Config.to_dict writes an unset optional as null; TOML (and load_config) has none: absent
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def config_notes(stored: dict[str, Any], config: Config) -> list[str]:
    new = sorted(set(_flat(config.to_dict())) - set(_flat(stored)))
    if not new:
        return []
    shown = ", ".join(new[:8]) + (f" and {len(new) - 8} more" if len(new) > 8 else "")
    return [f"settings added since the session ran take their defaults in the replay: {shown}"]


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and f"{prefix}{key}" not in ("strategies.params", "strategies.exits"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
