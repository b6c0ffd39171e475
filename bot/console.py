"""The `bot run` terminal stream: short lines, colour on a terminal, a summary, folded repeats.

What the bot echoes (every activity, bot/activity.py, and the few log lines around it) goes
through `ConsoleHandler`:

- one line per record, cut to fit 120 columns (or a narrower terminal) with an ellipsis;
  activity lines as `HH:MM:SS KIND market details` (market time, as in the logs);
- colour by kind when the stream is a terminal and NO_COLOR is not set;
- every `summary_s` seconds (wall clock) one summary line from state/status.json: its
  market time, mode, trading state, balance, today's P&L and trades, open positions;
- a rejection (`*_REJECTED`) whose reason was already shown in the current summary period
  is counted, not printed; the count is printed before the next summary (and at the end):
  `RISK_REJECTED    x38 more like: max position $#.# leaves # shares ...`.

Only the terminal is changed: logs/bot.log and the JSONL logs keep every line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import threading
from pathlib import Path
from typing import IO, Any

from bot.layout import STATUS

WIDTH = 120
ACTIVITY_FORMAT = "%s %-16s %s %s"  # how bot/activity.py logs an entry
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

RESET = "\x1b[0m"
COLOURS = {
    "ERROR": "\x1b[31m",  # red
    "ORDER_REJECTED": "\x1b[33m",  # yellow
    "RISK_REJECTED": "\x1b[33m",
    "CONTROL_REJECTED": "\x1b[33m",
    "ORDER_FILLED": "\x1b[32m",  # green
    "POSITION_EXIT": "\x1b[36m",  # cyan
    "MARKET_RESOLVED": "\x1b[2m",  # dim
    "CONTROL_APPLIED": "\x1b[35m",  # magenta
    "RUNTIME_LIMITS": "\x1b[35m",
    "BOT_STARTED": "\x1b[1m",  # bold
    "BOT_STOPPED": "\x1b[1m",
    "SUMMARY": "\x1b[1;34m",  # bold blue
    "FOLDED": "\x1b[2;33m",  # dim yellow
    "WARNING": "\x1b[33m",
}


def wants_colour(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def fit(text: str, width: int) -> str:
    """One line of at most `width` characters: newlines folded, the overflow cut with '…'."""
    line = " ".join(text.split("\n"))
    return line if len(line) <= width else line[: width - 1] + "…"


def summary_line(status: dict[str, Any] | None, now: str) -> str:
    if not status:
        return f"{now} SUMMARY          no state/status.json yet"
    acct = status.get("account") or {}
    pnl = float(acct.get("daily_pnl") or 0)
    return (
        f"{now} SUMMARY          {status.get('mode', '?')} {status.get('trading_state', '?')}"
        f" | balance ${float(acct.get('balance') or 0):,.2f}"
        f" | P&L today {'-' if pnl < 0 else '+'}${abs(pnl):,.2f}"
        f" | positions {acct.get('open_positions', 0)} | trades today {acct.get('daily_trades', 0)}"
    )


class ConsoleHandler(logging.Handler):
    """The echo to the terminal (see the module docstring); thread-safe through the handler lock."""

    def __init__(self, stream: IO[str], state_dir: Path | None = None, summary_s: float = 0.0) -> None:
        super().__init__(logging.INFO)
        self.stream = stream
        self.colour = wants_colour(stream)
        self.width = WIDTH
        if self.colour:
            self.width = min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns)
        self.state_dir = state_dir
        self.folded: dict[tuple[str, str], list[Any]] = {}  # key -> [repeats not shown, last reason]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if state_dir is not None and summary_s > 0:
            self._thread = threading.Thread(
                target=self._summaries, args=(summary_s,), name="console-summary", daemon=True
            )
            self._thread.start()

    # -- lines ------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            kind, text = self._line(record)
            if kind.endswith("_REJECTED") and self._fold(kind, text):
                return
            self._write(kind, text)
        except Exception:  # the terminal never stops the bot
            self.handleError(record)

    def _line(self, record: logging.LogRecord) -> tuple[str, str]:
        args = record.args
        if record.msg == ACTIVITY_FORMAT and isinstance(args, tuple) and len(args) == 4:
            timestamp, kind, market, details = (str(a) for a in args)
            clock = timestamp[11:19] if len(timestamp) >= 19 else timestamp
            return kind, f"{clock} {kind:<16} {market} {details}"
        kind = "WARNING" if record.levelno >= logging.WARNING else ""
        return kind, record.getMessage()

    def _fold(self, kind: str, text: str) -> bool:
        reason = text.split(": ", 1)[-1]
        key = (kind, _NUMBER.sub("#", reason))
        with self._fold_lock():
            seen = self.folded.get(key)
            if seen is None:
                self.folded[key] = [0, reason]
                return False
            seen[0] += 1
            seen[1] = reason
            return True

    def _fold_lock(self) -> threading.RLock:
        assert self.lock is not None
        return self.lock

    def _write(self, kind: str, text: str) -> None:
        line = fit(text, self.width)
        colour = COLOURS.get(kind, "") if self.colour else ""
        with self._fold_lock():
            self.stream.write(f"{colour}{line}{RESET}\n" if colour else line + "\n")
            self.stream.flush()

    def flush_folded(self) -> None:
        """Print how many repeats each folded rejection had, and start a new period."""
        with self._fold_lock():
            counts = [(kind, n, reason) for (kind, _), (n, reason) in self.folded.items() if n]
            self.folded.clear()
        for kind, n, reason in counts:
            self._write("FOLDED", f"{' ' * 8} {kind:<16} x{n} more like: {reason}")

    # -- summaries --------------------------------------------------------------------

    def _summaries(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.summary()

    def summary(self) -> None:
        from datetime import UTC, datetime

        status = None
        if self.state_dir is not None:
            try:
                status = json.loads((self.state_dir / STATUS).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                status = None
        market_time = str((status or {}).get("market_time") or "")  # the clock of the lines above
        now = market_time[11:19] if len(market_time) >= 19 else datetime.now(UTC).strftime("%H:%M:%S")
        self.flush_folded()
        self._write("SUMMARY", summary_line(status, now))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        with contextlib.suppress(OSError, ValueError):  # the terminal is gone
            self.flush_folded()
        super().close()
