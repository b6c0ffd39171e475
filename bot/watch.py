"""`bot watch`: a live terminal view of a bot, from its state files alone.

Shows whether it is alive and can trade, the account and today's P&L, positions with their
stops and targets, open orders, the controls in effect (and control files the bot has not
picked up yet), and the recent activity. It redraws when a state file or `controls/`
changes (checked every 0.1 s) and at least once a second, so a dead or hung bot shows as
such. It never writes anything and never imports the engine: it works for a stopped bot
and beside a running one. Needs `rich` (the `[watch]` extra). Ctrl-C leaves it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from bot import reader
from bot.figures import num_of, pct, usd_of
from bot.layout import STATUS, TRADES_TODAY, TRADING_STATE, Paths

TABLE: dict[str, Any] = {
    "title_justify": "left",
    "expand": False,
    "box": None,
    "header_style": "bold underline",
}
POLL_S = 0.1
REDRAW_S = 1.0
ACTIVITY_ROWS = 10
ROWS = 15


def signature(home: Path) -> tuple[Any, ...]:
    """Changes whenever a state file is replaced or a control file comes or goes."""
    sig: list[Any] = []
    for name in reader.STATE_FILES:
        try:
            st = os.stat(Paths(home).state / name)
            sig.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append(None)
    sig.append(tuple(_control_files(home)))
    return tuple(sig)


def _control_files(home: Path) -> list[str]:
    try:
        names = os.listdir(Paths(home).controls)
    except OSError:
        return []
    return sorted(n for n in names if not n.startswith(".") and n != "README.md")


def frame(home: Path) -> Any:
    """The whole view as one rich renderable."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    snap = reader.read(home)
    status = snap.files.get(STATUS) or {}
    trading = snap.files.get(TRADING_STATE) or {}
    today = (snap.files.get(TRADES_TODAY) or {}).get("summary") or {}
    colour = {"ALIVE": "green", "STALE": "yellow", "DEAD": "red"}.get(snap.liveness, "magenta")
    parts: list[Any] = []

    head = Text()
    head.append(f"touchtrader at {home.resolve()}  ", style="bold")
    head.append(f" {snap.liveness} ", style=f"bold reverse {colour}")
    head.append(f"  {snap.liveness_reason}")
    parts.append(head)
    risk = status.get("risk") or {}
    state = status.get("trading_state", "?")
    why = risk.get("reason") or status.get("reason") or "stopped"
    can = "yes" if risk.get("can_trade") else f"no ({why})"
    parts.append(
        Text(
            f"mode {status.get('mode', '?')}   state {state}   can trade: {can}\n"
            f"updated {status.get('timestamp', '-')}   market time {status.get('market_time', '-')}"
        )
    )
    acct = status.get("account") or {}
    stats = trading.get("stats") or {}
    parts.append(
        Text(
            f"balance {usd_of(acct.get('balance'))}   available {usd_of(stats.get('available_balance'))}"
            f"   locked in orders {usd_of(stats.get('total_locked_in_orders'))}\n"
            f"P&L today {usd_of(acct.get('daily_pnl'), sign=True)} (closed"
            f" {usd_of(today.get('total_pnl'), sign=True)}, open marked at the bid)"
            f"   trades today {today.get('total_trades', 0)} ({today.get('open_trades', 0)} open),"
            f" won {pct(today.get('wins') or 0, today.get('closed_trades') or 0)}"
        )
    )

    parts.append(_controls(home, trading))

    positions = trading.get("active_positions") or []
    table = Table(title=f"positions ({len(positions)})", **TABLE)
    for name in ("market", "side", "shares", "entry", "bid", "stop", "target", "P&L", "state", "strategy"):
        wide = name in ("market", "state", "strategy")
        align: Any = "left" if wide or name == "side" else "right"
        table.add_column(name, justify=align, no_wrap=not wide, min_width=5 if wide else None)
    for p in positions[:ROWS]:
        pnl = p.get("pnl")
        table.add_row(
            str(p.get("market_name", "")),
            str(p.get("side", "")),
            num_of(p.get("shares")),
            num_of(p.get("entry_price")),
            num_of(p.get("current_price")),
            num_of(p.get("stop_price")),
            num_of(p.get("target_price")),
            Text(
                usd_of(pnl, sign=True), style="green" if (pnl or 0) > 0 else "red" if (pnl or 0) < 0 else ""
            ),
            str(p.get("lifecycle") or p.get("status", "")),
            str(p.get("strategy", "")),
        )
    parts.append(table if positions else Text("positions: none"))

    orders = trading.get("open_orders") or []
    table = Table(title=f"open orders ({len(orders)})", **TABLE)
    for name in ("market", "action", "side", "price", "shares", "filled", "type", "status", "expires"):
        align = "right" if name in ("price", "shares", "filled") else "left"
        table.add_column(
            name, justify=align, no_wrap=name != "market", min_width=5 if name == "market" else None
        )
    for o in orders[:ROWS]:
        table.add_row(
            str(o.get("market", "")),
            str(o.get("action", "")),
            str(o.get("side", "")),
            num_of(o.get("price")),
            num_of(o.get("shares")),
            num_of(o.get("filled_shares")),
            str(o.get("order_type", "")),
            str(o.get("status", "")),
            str(o.get("ttl_expiry") or "GTC"),
        )
    parts.append(table if orders else Text("open orders: none"))

    activity = trading.get("recent_activity") or []
    parts.append(Text("recent activity" + ("" if activity else ": none"), style="bold"))
    for a in activity[:ACTIVITY_ROWS]:
        line = f"{a.get('timestamp', '')}  {a.get('type', ''):<16} {a.get('details', '')}"
        parts.append(Text(line, no_wrap=True, overflow="ellipsis"))
    for problem in snap.problems:
        parts.append(Text(f"! {problem}", style="yellow"))
    parts.append(Text("Ctrl-C to leave; bot watch only reads files", style="dim"))
    return Group(*parts)


def _controls(home: Path, trading: dict[str, Any]) -> Any:
    from rich.text import Text

    controls = trading.get("controls") or {}
    in_effect = controls.get("in_effect") or []
    text = Text("controls in effect: ")
    text.append(", ".join(in_effect) or "none", style="bold yellow" if in_effect else "")
    waiting = [n for n in _control_files(home) if not n.endswith(".rejected")]
    if waiting:
        text.append(f"   files in controls/: {', '.join(waiting)}")
    last = controls.get("last")
    if last:
        text.append(
            f"\nlast control: {last.get('control')} {last.get('result')} at {last.get('time')}:"
            f" {last.get('reason')}"
        )
    limits = controls.get("effective_limits") or {}
    if limits:
        text.append(
            f"\nlimits: max position {usd_of(limits.get('max_position_usd'))},"
            f" daily loss limit {usd_of(limits.get('max_session_loss'))}"
        )
    return text


def run(home: Path, once: bool = False) -> int:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    if once or not console.is_terminal:
        if not console.is_terminal:  # a file or a pipe: wide enough for every column
            console = Console(width=int(os.environ.get("COLUMNS") or 0) or 160)
        console.print(frame(home))
        return 0
    seen: tuple[Any, ...] | None = None
    drawn = 0.0
    # Ctrl-C and SIGTERM set a flag the loop checks: an exception raised at a random point
    # (inside rich's redraw, say) could leave the terminal half-drawn or the process running
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with Live(frame(home), console=console, auto_refresh=False) as live:
        while not done.is_set():
            now = time.monotonic()
            sig = signature(home)
            if sig != seen or now - drawn >= REDRAW_S:
                seen, drawn = sig, now
                live.update(frame(home), refresh=True)
            done.wait(POLL_S)
    return 0
