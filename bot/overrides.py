"""Persisted runtime limits (ADJUST_RISK) and the configured values they override.

`controls/ADJUST_RISK` values are kept in the journal's `runtime_controls` table and applied
again at every start, over bot.toml. This module reads them with the standard library's
sqlite3, read-only, so `bot status` stays fast and works while the bot is down; `bot run`
names them at start-up (bot/supervisor.py) and `bot config` shows them beside every other
setting (bot/settings_view.py).
"""

from __future__ import annotations

import json
import sqlite3
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import queries
from bot.layout import Paths

# ADJUST_RISK key -> the bot.toml setting it overrides ("" when bot.toml has none)
SETTING = {
    "max_position_usd": "risk.max_position_usd",
    "max_session_loss": "risk.daily_loss_limit_usd",
    "allowed_instruments": "",
    "allowed_strategies": "",
    "trading_mode": "",
}


@dataclass(frozen=True)
class Override:
    key: str  # the ADJUST_RISK key
    value: Any
    set_ms: int  # the bot's clock when it was applied
    source: str  # the control file that set it

    @property
    def set_at(self) -> str:
        return datetime.fromtimestamp(self.set_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def persisted(home: Path) -> list[Override]:
    """The ADJUST_RISK values in HOME's journal, in key order; [] when there is no journal.

    An unreadable journal raises sqlite3.Error for the caller to report."""
    path = Paths(home).journal
    if not path.is_file():
        return []
    conn = queries.open_readonly(path)
    try:
        rows = queries.runtime_controls(conn)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()
    return [
        Override(k, json.loads(v), int(ms or 0), str(src or "")) for k, v, ms, src in rows if k in SETTING
    ]


def configured(home: Path, setting: str) -> tuple[Any, str]:
    """The value of a dotted bot.toml setting in HOME/bot.toml and where it came from."""
    section, _, leaf = setting.partition(".")
    try:
        data = tomllib.loads((home / "bot.toml").read_text(encoding="utf-8"))
        table = data.get(section)
        if isinstance(table, dict) and leaf in table:
            return table[leaf], "bot.toml"
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        pass
    from bot.config import Config  # standard library only; the defaults live there

    return getattr(getattr(Config(), section), leaf), "default"


def shown(value: Any) -> str:
    if value is None:
        return "all"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def describe(home: Path, item: Override) -> str:
    """`max_position_usd=3 over bot.toml 5 (set 2026-12-02T10:00:00Z)`."""
    text = f"{item.key}={shown(item.value)}"
    setting = SETTING[item.key]
    if setting:
        value, where = configured(home, setting)
        text += f" over {where} {shown(value)}"
    return f"{text} (set {item.set_at})"


def status_lines(home: Path) -> list[str]:
    """The lines `bot status` prints; a journal it cannot read is said, not raised."""
    try:
        items = persisted(home)
    except (sqlite3.Error, ValueError) as exc:
        return [f"  ! state/bot.db: runtime limits cannot be read: {exc}"]
    if not items:
        return []
    lines = ["  overrides: ADJUST_RISK limits persisted in the journal (`bot config` shows all settings)"]
    lines.extend(f"    {describe(home, item)}" for item in items)
    return lines


def as_json(home: Path) -> list[dict[str, Any]] | str:
    try:
        items = persisted(home)
    except (sqlite3.Error, ValueError) as exc:
        return f"runtime limits cannot be read: {exc}"
    out = []
    for item in items:
        row: dict[str, Any] = {
            "key": item.key,
            "value": item.value,
            "set": item.set_at,
            "source": item.source,
        }
        if SETTING[item.key]:
            value, where = configured(home, SETTING[item.key])
            row.update(setting=SETTING[item.key], configured=value, configured_in=where)
        out.append(row)
    return out
