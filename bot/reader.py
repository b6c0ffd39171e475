"""The reading side: what `bot status` shows, from files alone (the journal queries: bot/queries.py).

Imports nothing of the engine, the journal library or any venue, so it starts fast and
works while the bot is down. Liveness: DEAD when status.json says is_alive false or its
pid is gone; STALE when next_update is more than one heartbeat in the past.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import overrides
from bot.figures import num_of, pct, usd_of
from bot.home import pid_exists
from bot.layout import (
    SCHEMA_VERSION,
    SNAPSHOT_FILES,
    STATUS,
    TRADES_TODAY,
    TRADING_STATE,
    Paths,
    newer_schema,
)
from bot.safefile import FileRefused, read_small

STATE_FILES = SNAPSHOT_FILES


@dataclass
class Snapshot:
    home: Path
    files: dict[str, Any]  # file name -> parsed JSON, or None when missing/unreadable
    problems: list[str]
    liveness: str  # ALIVE, STALE, DEAD or UNKNOWN
    liveness_reason: str


MAX_STATE_FILE = 1 << 28


def read(home: Path) -> Snapshot:
    files: dict[str, Any] = {}
    problems: list[str] = []
    newer: dict[str, int] = {}
    for name in STATE_FILES:
        path = Paths(home).state / name
        try:  # never opens a FIFO or a device put there: `bot status` cannot hang
            files[name] = json.loads(read_small(path, MAX_STATE_FILE).decode("utf-8"))
        except FileRefused as exc:
            files[name] = None
            if exc.reason == "no such file":
                problems.append(f"state/{name} does not exist (has the bot run in {home}?)")
            else:
                problems.append(f"state/{name} cannot be read: {exc}")
        except (OSError, ValueError) as exc:
            files[name] = None
            problems.append(f"state/{name} cannot be read: {exc}")
        version = newer_schema(files[name])
        if version is not None:  # its fields may mean something else now: show none of them
            newer[name] = version
            files[name] = None
    if newer:
        problems.append(newer_line(newer))
    liveness, why = judge(files.get(STATUS))
    if STATUS in newer:
        liveness, why = "UNKNOWN", f"{STATUS} is from a newer touchtrader (schema_version {newer[STATUS]})"
    return Snapshot(home, files, problems, liveness, why)


def newer_line(newer: dict[str, int]) -> str:
    """One line for the state files this reader is too old for: which, what version, what to do."""
    names = ", ".join(f"state/{name}" for name in newer)
    versions = "/".join(str(v) for v in sorted(set(newer.values())))
    return (
        f"{names}: schema_version {versions} is newer than this touchtrader reads ({SCHEMA_VERSION});"
        " not shown: upgrade touchtrader to read it"
    )


def state_file(home: Path, name: str) -> Any:
    """One state file's data; None when missing, unreadable or of a newer schema than this reader."""
    try:
        data = json.loads(read_small(Paths(home).state / name, MAX_STATE_FILE).decode("utf-8"))
    except (FileRefused, OSError, ValueError):
        return None
    return None if newer_schema(data) is not None else data


def judge(status: dict[str, Any] | None, now: datetime | None = None) -> tuple[str, str]:
    if not status:
        return "UNKNOWN", f"no {STATUS}"
    if not status.get("is_alive"):
        return "DEAD", f"stopped: {status.get('reason') or 'no reason recorded'}"
    pid = status.get("pid")
    if isinstance(pid, int) and not pid_exists(pid):
        return "DEAD", f"process {pid} is gone (crashed or killed) without writing a final state"
    now = now or datetime.now(UTC)
    try:
        next_update = datetime.fromisoformat(str(status["next_update"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return "UNKNOWN", "status.json has no readable next_update"
    grace = float(status.get("heartbeat_s") or 5)
    late = (now - next_update).total_seconds()
    if late > grace:
        return "STALE", f"no heartbeat for {late + grace:.0f} s (expected every {grace:g} s)"
    return "ALIVE", f"pid {pid}"


def render(snap: Snapshot) -> str:
    status = snap.files.get(STATUS) or {}
    ts = snap.files.get(TRADING_STATE) or {}
    today = snap.files.get(TRADES_TODAY) or {}
    lines = [f"touchtrader at {snap.home}"]
    lines.append(
        f"  bot:       {snap.liveness} ({snap.liveness_reason}); mode {status.get('mode', '?')},"
        f" state {status.get('trading_state', '?')}"
    )
    if status:
        risk = status.get("risk", {})
        can = "yes" if risk.get("can_trade") else f"no ({risk.get('reason') or 'stopped'})"
        lines.append(
            f"  updated:   {status.get('timestamp') or '-'}  market time {status.get('market_time') or '-'}"
        )
        lines.append(f"  can trade: {can}")
        if status.get("version"):
            watched = len(status.get("markets") or [])
            lines.append(
                f"  run:       touchtrader {status['version']} since {status.get('started_at') or '-'}"
                f" (up {_duration(status.get('uptime_s'))}); {watched} markets watched"
            )
        limits = status.get("limits")
        if isinstance(limits, dict) and limits:
            lines.append("  limits:    " + _limits_line(limits))
        acct = status.get("account", {})
        lines.append(
            f"  balance:   {usd_of(acct.get('balance', 0))}; today's P&L {usd_of(acct.get('daily_pnl', 0))}"
            f" (open positions marked); {acct.get('daily_trades', 0)} trades today"
        )
    if ts:
        stats = ts.get("stats", {})
        lines.append(
            f"  orders:    {stats.get('total_open_orders', 0)} open,"
            f" {usd_of(stats.get('total_locked_in_orders', 0))} locked;"
            f" available {usd_of(stats.get('available_balance', 0))}"
        )
        positions = ts.get("active_positions", [])
        lines.append(f"  positions: {len(positions)}")
        for p in positions[:10]:
            lines.append(
                f"    {p['market_name']:<40} {p['side']:<4} {num_of(p['shares']):>8} @"
                f" {num_of(p['entry_price']):<5} now {num_of(p['current_price']):<5} P&L {usd_of(p['pnl'])}"
            )
        controls = ts.get("controls", {})
        last = controls.get("last")
        if controls.get("in_effect") or last:
            lines.append(f"  controls:  in effect {', '.join(controls.get('in_effect') or []) or 'none'}")
            if last:
                lines.append(
                    f"    last: {last['control']} {last['result']} at {last['time']}: {last['reason']}"
                )
    summary = today.get("summary") if today else None
    if summary:
        lines.append(
            f"  today:     {summary['total_trades']} trades ({summary['open_trades']} open),"
            f" closed P&L {usd_of(summary['total_pnl'])}, win rate"
            f" {pct(summary.get('wins') or 0, summary.get('closed_trades') or 0)}"
        )
    lines.extend(overrides.status_lines(snap.home))
    errors = status.get("errors") or []
    if errors:
        lines.append("  recent errors:")
        lines.extend(f"    {e['timestamp']} {e['details']}" for e in errors[:5])
    lines.extend(f"  ! {p}" for p in snap.problems)
    return "\n".join(lines)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


_LIMIT_LABELS = (
    ("max_position_usd", "position", True),
    ("max_market_exposure_usd", "market", True),
    ("max_total_exposure_usd", "total", True),
    ("daily_loss_limit_usd", "daily loss limit", True),
    ("max_open_orders", "open orders", False),
    ("max_consecutive_losses", "losses in a row", False),
)


def _limits_line(limits: dict[str, Any]) -> str:
    """`position $4 (cap $8, ADJUST_RISK); market $10; ...`: the cap where it is higher."""
    parts = []
    for key, label, money in _LIMIT_LABELS:
        row = limits.get(key)
        if not isinstance(row, dict):
            continue
        show = usd_of if money else num_of
        text = f"{label} {show(row.get('value', 0))}"
        notes = []
        if row.get("cap") != row.get("value"):
            notes.append(f"cap {show(row.get('cap', 0))}")
        if row.get("source") not in (None, "default"):
            notes.append(str(row["source"]))
        parts.append(f"{text} ({', '.join(notes)})" if notes else text)
    return "; ".join(parts)


def status_command(home: Path, as_json: bool) -> int:
    """`bot status`: print the summary (or the files' data as JSON); 1 unless ALIVE."""
    snap = read(home)
    if as_json:
        out: dict[str, Any] = {"liveness": snap.liveness, "liveness_reason": snap.liveness_reason}
        out.update({name.removesuffix(".json"): data for name, data in snap.files.items()})
        out["overrides"] = overrides.as_json(snap.home)
        out["problems"] = snap.problems
        print(json.dumps(out, indent=2))
    else:
        print(render(snap))
    return 0 if snap.liveness == "ALIVE" else 1
