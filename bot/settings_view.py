"""`bot config`: every effective setting of a home and where each came from.

Sources, the later winning: the default (bot/config.py), bot.toml (its path), the command
line (`--mode`, `--speed`, as `bot run` takes them) and the ADJUST_RISK limits persisted in
the journal (bot/overrides.py), with when they were set. A persisted limit above today's cap
is dropped at start-up, and is shown as dropped here. Reads files only, never the engine.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot import overrides
from bot.config import Config, load_config
from bot.layout import ADJUST_RISK


@dataclass(frozen=True)
class Setting:
    key: str
    value: Any
    source: str  # default, bot.toml, command line, ADJUST_RISK
    detail: str = ""  # the file, the flag or when; what a persisted limit replaced


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def effective(home: Path, path: Path | None, cli: dict[str, Any], mode_given: bool) -> list[Setting]:
    """The settings `bot run` would use in HOME with this file and these flags.

    Raises ConfigError (bot/config.py) for a bad bot.toml, as `bot run` would."""
    from bot.config import _read_toml

    config = load_config(path, cli)
    in_file = _flat(_read_toml(path)) if path is not None else {}
    rows: dict[str, Setting] = {}
    for key, value in _flat(config.to_dict()).items():
        if key in cli:
            flag = f"--{key.replace('_', '-')}"
            detail = flag if key != "mode" or mode_given else f"bot run's default for {flag}"
            rows[key] = Setting(key, value, "command line", detail)
        elif key in in_file:
            rows[key] = Setting(key, value, "bot.toml", str(path.resolve()) if path else "")
        else:
            rows[key] = Setting(key, value, "default")
    for item in overrides.persisted(home):
        _apply(rows, config, item)
    return list(rows.values())


def _apply(rows: dict[str, Setting], config: Config, item: overrides.Override) -> None:
    setting = overrides.SETTING[item.key]
    when = f"set {item.set_at} by {item.source or ADJUST_RISK}"
    if not setting:
        rows[f"runtime.{item.key}"] = Setting(f"runtime.{item.key}", item.value, ADJUST_RISK, when)
        return
    before = rows[setting]
    cap = config.cap_position_usd if item.key == "max_position_usd" else config.cap_session_loss
    replaced = f"{before.source} {overrides.shown(before.value)}"
    if float(item.value) > cap:
        note = f"persisted {item.key}={overrides.shown(item.value)} ({when}) is above the cap"
        rows[setting] = Setting(
            setting, before.value, before.source, f"{before.detail}; {note}: dropped".lstrip("; ")
        )
        return
    rows[setting] = Setting(setting, float(item.value), ADJUST_RISK, f"{when}; replaces {replaced}")


def render(rows: list[Setting]) -> str:
    width = max(len(r.key) for r in rows)
    lines = []
    for r in rows:
        value = _text(r.value)
        where = f"{r.source} ({r.detail})" if r.detail else r.source
        lines.append(f"{r.key:<{width}}  {value:<20}  {where}")
    return "\n".join(lines)


def _text(value: Any) -> str:
    if isinstance(value, str | bool) or value is None:
        return json.dumps(value) if value is not None else "unset"
    return overrides.shown(value)


def as_json(rows: list[Setting]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


UNREADABLE = (sqlite3.Error, ValueError)
